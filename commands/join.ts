/**
 * `/join [voice_channel] [caption_channel] [languages] [record]`: start captioning a voice channel, and with
 * `record:true` (in a guild that allowed it with `/recording enable`) record each member who has not opted out.
 */
import { ChannelType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type GuildBasedChannel } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { CALLER_CAPTION_PERMISSIONS, VOICE_PERMISSIONS, missingPermissions } from '../src/bot/permissions.ts';
import { botStartProblem } from '../src/bot/start-checks.ts';
import { parseLanguageList } from '../src/translation/languages.ts';
import { VoiceJoinError } from '../src/voice/voice-link.ts';
import { closeInterruptedMeeting } from '../src/bot/interrupted-meeting.ts';

function list(names: string[]): string {
  return names.map((n) => `**${n}**`).join(', ');
}

export const join: Command = {
  cooldown: true,
  data: new SlashCommandBuilder()
    .setName('join')
    .setDescription('Join a voice channel and post live captions of it')
    .setDMPermission(false)
    .addChannelOption((o) =>
      o
        .setName('voice_channel')
        .setDescription('Voice channel to caption (default: the one you are in)')
        .addChannelTypes(ChannelType.GuildVoice),
    )
    .addChannelOption((o) =>
      o
        .setName('caption_channel')
        .setDescription('Text channel for the captions (default: this channel)')
        .addChannelTypes(ChannelType.GuildText, ChannelType.GuildVoice, ChannelType.GuildAnnouncement),
    )
    .addStringOption((o) =>
      o.setName('languages').setDescription('Also translate into these languages, e.g. es,de,ja (replaces the server setting)').setMaxLength(200),
    )
    .addBooleanOption((o) => o.setName('record').setDescription('Also record each member who has not opted out, one file per speaker (the server must allow it)')),

  async execute(interaction, context) {
    const { guild, member } = interaction;
    const me = guild.members.me;
    if (me === null) throw new CommandError('Parley is not fully connected to this server yet. Try again in a moment.');

    const chosenVoice = interaction.options.getChannel('voice_channel');
    const voiceChannel = chosenVoice === null ? member.voice.channel : guild.channels.cache.get(chosenVoice.id);
    if (voiceChannel === null || voiceChannel === undefined) {
      throw new CommandError('Join a voice channel first, or pick one with the `voice_channel` option.');
    }
    if (!voiceChannel.isVoiceBased() || voiceChannel.type !== ChannelType.GuildVoice) {
      throw new CommandError(`<#${voiceChannel.id}> is not a voice channel Parley can caption. Pick a voice channel.`);
    }
    const chosenCaption = interaction.options.getChannel('caption_channel');
    const captionChannel: GuildBasedChannel | null | undefined =
      chosenCaption === null ? interaction.channel : guild.channels.cache.get(chosenCaption.id);
    if (captionChannel === null || captionChannel === undefined || !captionChannel.isSendable()) {
      throw new CommandError('Parley cannot post in that channel. Pick a text channel with the `caption_channel` option.');
    }

    const manager = interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
    const record = interaction.options.getBoolean('record') === true;
    if (record && context.services.recordings?.settings.consent(guild.id) === undefined) {
      throw new CommandError(
        'Recording is off in this server. A member with the Manage Server permission can allow it with `/recording enable`; then run `/join record:true` again. Or run /join without `record` for captions only.',
      );
    }
    const languagesOption = interaction.options.getString('languages');
    let languages = context.settings.languages(guild.id);
    if (languagesOption !== null) {
      const parsed = parseLanguageList(languagesOption);
      if (!parsed.ok) throw new CommandError(parsed.error);
      if (!manager) {
        throw new CommandError('Setting translation languages needs the Manage Server permission. Run /join without `languages`, or ask an admin.');
      }
      languages = parsed.languages;
    }

    // Server-side checks: never trust that the client only offered channels the caller may use.
    const callerMissing = missingPermissions(voiceChannel, member, VOICE_PERMISSIONS);
    if (callerMissing.length > 0) {
      throw new CommandError(`You can't connect to <#${voiceChannel.id}>, so you can't start captions there.`);
    }
    if (!manager && member.voice.channelId !== voiceChannel.id) {
      throw new CommandError(`Join <#${voiceChannel.id}> first: only members in a voice channel (or with Manage Server) can start captions there.`);
    }
    // Captions go only where the caller could read and write them: never into a channel they cannot see.
    const callerCaptionMissing = missingPermissions(captionChannel, member, CALLER_CAPTION_PERMISSIONS);
    if (callerCaptionMissing.length > 0) {
      throw new CommandError(
        `You don't have ${list(callerCaptionMissing)} in <#${captionChannel.id}>, so you can't send captions there. Pick a channel you can post in with the \`caption_channel\` option.`,
      );
    }
    const problem = botStartProblem({ me, voiceChannel, captionChannel, languages, services: context.services, meetings: context.meetings, retry: 'run /join again' });
    if (problem !== undefined) throw new CommandError(problem.message);
    if (languagesOption !== null) {
      context.settings.setLanguages(guild.id, languages);
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    // A meeting interrupted by a restart is closed (its transcript stays available to /recap, its recording is
    // posted), so the store keeps at most one unfinished meeting per guild: the running one.
    const interrupted = closeInterruptedMeeting(guild, context.services, interaction.attachmentSizeLimit);
    let meeting;
    try {
      meeting = await context.meetings.start({
        guild,
        voiceChannel,
        captionChannel,
        startedBy: member,
        services: context.services,
        // The interaction carries the guild's attachment limit (discord-api-docs "Interaction Object").
        ...(record ? { record: { attachmentLimitBytes: interaction.attachmentSizeLimit } } : {}),
      });
    } catch (error) {
      if (error instanceof VoiceJoinError) throw new CommandError(error.message);
      throw error;
    }
    if (meeting.ending) throw new CommandError('Parley was removed from the voice channel while it was joining, so captioning did not start. Run /join again.');
    const note = interrupted === undefined ? '' : ` The meeting interrupted by Parley's restart was closed; \`/recap meeting:${interrupted.id}\` posts its transcript and recap.`;
    await interaction.editReply({
      content: `${meeting.recording ? 'Recording and captioning' : 'Captioning'} <#${voiceChannel.id}> in <#${captionChannel.id}>. Use /end to stop.${context.captionLinks === undefined ? '' : ' Use /captions for your own live caption page (your language, text size, contrast, or an OBS overlay).'}${note}`,
      allowedMentions: { parse: [] },
    });
  },
};

export default join;
