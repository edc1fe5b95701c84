/**
 * `/recap [meeting] [template]`: posts again the recap and transcript files of a recent meeting in this server
 * (the latest by default). Only this server's meetings can be named: ids are looked up within the guild. With
 * `template`, the recap is written anew in that template (with the server's custom prompt, if any) and the stored
 * recap is kept as it was.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { buildMeetingReport, postMeetingReport } from '../src/meeting/meeting-report.ts';
import { parseStoredRecap } from '../src/recap/recap.ts';
import { RECAP_TEMPLATE_IDS, recapTemplate, type RecapTemplateId } from '../src/recap/templates.ts';

export const recap: Command = {
  data: new SlashCommandBuilder()
    .setName('recap')
    .setDescription('Post the recap and transcript of a recent meeting again')
    .setDMPermission(false)
    .addIntegerOption((o) => o.setName('meeting').setDescription('Meeting number (default: the latest)').setMinValue(1))
    .addStringOption((o) =>
      o
        .setName('template')
        .setDescription('Write the recap anew in this template (default: the stored recap)')
        .addChoices(...RECAP_TEMPLATE_IDS.map((id) => ({ name: recapTemplate(id).name, value: id }))),
    ),

  async execute(interaction, context) {
    const guildId = interaction.guildId;
    const requested = interaction.options.getInteger('meeting');
    const record = requested === null ? context.meetingStore.recentMeetings(guildId, 1)[0] : context.meetingStore.meeting(guildId, requested);
    if (record === undefined) {
      const recent = context.meetingStore.recentMeetings(guildId, 5).map((m) => `#${m.id}`);
      throw new CommandError(
        requested === null
          ? 'No meetings have been captioned in this server yet.'
          : `There is no meeting #${requested} in this server.${recent.length > 0 ? ` Recent meetings: ${recent.join(', ')}.` : ''}`,
      );
    }
    if (record.endedAtMs === undefined && context.meetings.get(guildId) !== undefined) {
      throw new CommandError('That meeting is still being captioned. Use /end to finish it; the recap comes then.');
    }
    const transcript = context.meetingStore.loadTranscript(guildId, record.id);
    if (transcript === undefined) throw new CommandError(`There is no meeting #${record.id} in this server.`);
    const channel = interaction.channel;
    if (channel === null || !channel.isSendable()) throw new CommandError('Parley cannot post in this channel. Run /recap in a text channel it can post in.');
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const template = interaction.options.getString('template') as RecapTemplateId | null;
    const guildStyle = context.services.recapSettings.recapStyle(guildId);
    const style = template === null ? guildStyle : { ...guildStyle, template };
    const stored = record.recap === undefined || template !== null ? undefined : parseStoredRecap(record.recap);
    const endedAtMs = record.endedAtMs ?? Date.now();
    const report = await buildMeetingReport({
      title: `Meeting #${record.id}, ${new Date(record.startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      transcript,
      durationMs: endedAtMs - record.startedAtMs,
      headline: `📝 Recap of meeting #${record.id}.`,
      recap: context.services.recap,
      ...(stored === undefined ? {} : { existingRecap: stored }),
      recapStyle: style,
      logger: context.logger,
    });
    if (report.recapFailed === true) context.services.onRecapFailed?.();
    if (record.endedAtMs === undefined) context.meetingStore.endMeeting(record.id, endedAtMs);
    if (record.recap === undefined && report.recap !== undefined) context.meetingStore.saveRecap(record.id, JSON.stringify(report.recap));
    await postMeetingReport(channel, report);
    await interaction.editReply({ content: `Posted the recap of meeting #${record.id}.` });
  },
};

export default recap;
