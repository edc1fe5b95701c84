/**
 * `/captions`: an ephemeral, personal link to the live caption page of the meeting running in this server. Only a
 * member who can view the meeting's voice channel gets one (a member sees a meeting's text only if they could see
 * its channels). Links expire 2 hours after the meeting ends (src/web/links.ts).
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';

export const captions: Command = {
  data: new SlashCommandBuilder()
    .setName('captions')
    .setDescription('Your own link to the live caption page: your language, text size, contrast, or an OBS overlay')
    .setDMPermission(false),

  async execute(interaction, context) {
    const links = context.captionLinks;
    if (links === undefined) {
      throw new CommandError("The live caption page is not turned on for this Parley. The bot's owner can turn it on by setting WEB_PORT.");
    }
    const meeting = context.meetings.get(interaction.guildId);
    if (meeting === undefined) throw new CommandError('Parley is not captioning anything in this server. Use /join to start, then /captions.');
    const voiceChannel = interaction.guild.channels.cache.get(meeting.voiceChannelId);
    if (voiceChannel === undefined || !voiceChannel.permissionsFor(interaction.member).has(PermissionFlagsBits.ViewChannel)) {
      throw new CommandError("You can't view the voice channel Parley is captioning, so you can't open its captions.");
    }
    const url = links.linkFor(interaction.guildId, meeting.id, interaction.user.id);
    await interaction.reply({
      content: [
        `Your live caption page for <#${meeting.voiceChannelId}>: <${url}>`,
        'Pick a language, text size, theme and number of lines there. For an OBS browser source add `?overlay=1` (e.g. `?overlay=1&lang=es&size=48&lines=3`).',
        'The link is yours: anyone who has it can read this meeting. It stops working 2 hours after the meeting ends.',
      ].join('\n'),
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  },
};

export default captions;
