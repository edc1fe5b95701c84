/**
 * `/end`: stop captioning, leave the voice channel and post the transcript.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { CommandError, type BotContext, type Command } from '../src/bot/command.ts';
import { buildMeetingReport, postMeetingReport } from '../src/meeting/meeting-report.ts';
import { canSeeMeeting } from '../src/bot/permissions.ts';
import { privateReportTarget } from '../src/bot/report-target.ts';
import { finishInterruptedRecording } from '../src/recording/interrupted-recording.ts';

export const end: Command = {
  cooldown: true,
  data: new SlashCommandBuilder().setName('end').setDescription('Stop captioning and post the transcript').setDMPermission(false),

  async execute(interaction, context) {
    const meeting = context.meetings.get(interaction.guildId);
    const manager = interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
    if (meeting === undefined) {
      await endInterrupted(interaction, context, manager);
      return;
    }
    const inChannel = interaction.member.voice.channelId === meeting.voiceChannelId;
    if (!inChannel && !manager) {
      throw new CommandError(`Only members in <#${meeting.voiceChannelId}> (or with Manage Server) can end these captions.`);
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const transcript = await meeting.end('command');
    await interaction.editReply({
      content: `Captioning ended. ${transcript.turns.length} caption${transcript.turns.length === 1 ? '' : 's'}; the transcript is posted in <#${meeting.captionChannelId}>.`,
      allowedMentions: { parse: [] },
    });
  },
};

/**
 * A meeting interrupted by a crash or restart is still in the store, unfinished: `/end` finishes it from disk,
 * recapping everything said before the interruption, and posts its recording if it was recorded.
 */
async function endInterrupted(interaction: ChatInputCommandInteraction<'cached'>, context: BotContext, manager: boolean): Promise<void> {
  const guildId = interaction.guildId;
  const record = context.meetingStore.unfinishedMeeting(guildId);
  if (record === undefined) throw new CommandError('Parley is not captioning anything in this server. Use /join to start.');
  if (!manager && interaction.member.voice.channelId !== record.voiceChannelId) {
    throw new CommandError(`Only members in <#${record.voiceChannelId}> (or with Manage Server) can end that meeting.`);
  }
  const transcript = context.meetingStore.loadTranscript(guildId, record.id);
  if (transcript === undefined) throw new CommandError('Parley cannot find the interrupted meeting any more. Use /join to start again.');
  // Posted where its captions were; if that channel is gone, only to the caller, and only if they may see it.
  const cached = interaction.guild.channels.cache.get(record.captionChannelId);
  const channel = cached?.isSendable() === true ? cached : undefined;
  if (channel === undefined && !canSeeMeeting(interaction.member, record.captionChannelId)) {
    throw new CommandError('The interrupted meeting\'s caption channel is gone, so only a member with Manage Server can end it and get its transcript.');
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const endedAtMs = Date.now();
  context.meetingStore.endMeeting(record.id, endedAtMs);
  const report = await buildMeetingReport({
    title: `Meeting #${record.id}, ${new Date(record.startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    transcript,
    durationMs: endedAtMs - record.startedAtMs,
    headline: '⏹️ This meeting was interrupted when Parley restarted; here is everything said before that.',
    recap: context.services.recap,
    recapStyle: context.services.recapSettings.recapStyle(record.guildId),
    logger: context.logger,
  });
  if (report.recapFailed === true) context.services.onRecapFailed?.();
  if (report.recap !== undefined) context.meetingStore.saveRecap(record.id, JSON.stringify(report.recap));
  const target = channel ?? privateReportTarget(interaction);
  await postMeetingReport(target, report);
  // Its tracks, if it was recorded, closed where the crash cut them and posted as at a normal /end.
  const recordings = context.services.recordings;
  if (recordings !== undefined) {
    await finishInterruptedRecording({
      recordings,
      guildId,
      meetingId: record.id,
      startedAtMs: record.startedAtMs,
      logger: context.logger,
      target: { send: (message) => target.send({ ...message, files: message.files ?? [] }) },
      attachmentLimitBytes: interaction.attachmentSizeLimit,
    });
  }
  if (channel === undefined) return;
  await interaction.editReply({ content: `Ended the interrupted meeting #${record.id}; its transcript is posted in <#${channel.id}>.`, allowedMentions: { parse: [] } });
}

export default end;
