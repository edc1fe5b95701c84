/**
 * `/end`: stop captioning, leave the voice channel and post the transcript.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';

export const end: Command = {
  data: new SlashCommandBuilder().setName('end').setDescription('Stop captioning and post the transcript').setDMPermission(false),

  async execute(interaction, context) {
    const meeting = context.meetings.get(interaction.guildId);
    if (meeting === undefined) throw new CommandError('Parley is not captioning anything in this server. Use /join to start.');
    const inChannel = interaction.member.voice.channelId === meeting.voiceChannelId;
    const manager = interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
    if (!inChannel && !manager) {
      throw new CommandError(`Only members in <#${meeting.voiceChannelId}> (or with Manage Server) can end these captions.`);
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const transcript = await meeting.end('command');
    await interaction.editReply({
      content: `Captioning ended. ${transcript.turns.length} captions; the transcript is posted in <#${meeting.captionChannelId}>.`,
      allowedMentions: { parse: [] },
    });
  },
};

export default end;
