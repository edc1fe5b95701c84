/**
 * `/recap [meeting] [template]`: the recap and transcript files of a recent meeting in this server (the latest the caller may
 * see, by default). Only this server's meetings can be named: ids are looked up within the guild.
 *
 * Access: a meeting's text goes only to members who can view the channel its captions were posted in, or who have
 * Manage Server. Run in that caption channel, the recap is posted there for everyone who could read the captions;
 * run anywhere else, it is sent privately (ephemeral) to the caller, so it never lands in a channel with a
 * different audience.
 *
 * With `template`, the recap is written anew in that template (with the server's custom prompt, if any) and the
 * stored recap is kept as it was.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { canSeeMeeting } from '../src/bot/permissions.ts';
import { buildMeetingReport, postMeetingReport } from '../src/meeting/meeting-report.ts';
import { budgetedRecap } from '../src/meeting/llm-budget.ts';
import { privateReportTarget } from '../src/bot/report-target.ts';
import type { MeetingRecord } from '../src/store/meeting-store.ts';
import { parseStoredRecap } from '../src/recap/recap.ts';
import { RECAP_TEMPLATE_IDS, recapTemplate, type RecapTemplateId } from '../src/recap/templates.ts';

/** How many recent meetings are searched for the latest visible one, and listed when a number is wrong. */
const RECENT_SEARCHED = 20;

export const recap: Command = {
  cooldown: true,
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
    const member = interaction.member;
    const requested = interaction.options.getInteger('meeting');
    const visible = (m: MeetingRecord) => canSeeMeeting(member, m.captionChannelId);
    const record: MeetingRecord | undefined =
      requested === null
        ? context.meetingStore.recentMeetings(guildId, RECENT_SEARCHED).find(visible)
        : context.meetingStore.meeting(guildId, requested);
    if (record === undefined) {
      const all = context.meetingStore.recentMeetings(guildId, RECENT_SEARCHED);
      const recent = all.filter(visible).slice(0, 5).map((m) => `#${m.id}`);
      throw new CommandError(
        requested === null
          ? all.length === 0
            ? 'No meetings have been captioned in this server yet.'
            : 'There is no captioned meeting in this server that you can see.'
          : `There is no meeting #${requested} in this server.${recent.length > 0 ? ` Recent meetings: ${recent.join(', ')}.` : ''}`,
      );
    }
    if (!visible(record)) {
      throw new CommandError(
        `Meeting #${record.id} was captioned in <#${record.captionChannelId}>, which you cannot view, so Parley will not show you its transcript. Ask someone who can see that channel, or a member with Manage Server.`,
      );
    }
    if (record.endedAtMs === undefined && context.meetings.get(guildId) !== undefined) {
      throw new CommandError('That meeting is still being captioned. Use /end to finish it; the recap comes then.');
    }
    const transcript = context.meetingStore.loadTranscript(guildId, record.id);
    if (transcript === undefined) throw new CommandError(`There is no meeting #${record.id} in this server.`);
    // Public only where the captions were: everyone who can read this channel could read them live.
    const inCaptionChannel = interaction.channelId === record.captionChannelId && interaction.channel?.isSendable() === true;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const template = interaction.options.getString('template') as RecapTemplateId | null;
    const guildStyle = context.services.recapSettings.recapStyle(guildId);
    const style = template === null ? guildStyle : { ...guildStyle, template };
    const stored = record.recap === undefined || template !== null ? undefined : parseStoredRecap(record.recap);
    const endedAtMs = record.endedAtMs ?? Date.now();
    // A stored recap needs no LLM request; a new one counts against the server's daily budget.
    const budgeted = stored === undefined ? budgetedRecap(context.services.recap, context.services.llmBudget, guildId) : { recap: context.services.recap };
    const refusal = budgeted.refusal !== undefined && transcript.turns.length > 0 ? ` ${budgeted.refusal}` : '';
    const report = await buildMeetingReport({
      title: `Meeting #${record.id}, ${new Date(record.startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      transcript,
      durationMs: endedAtMs - record.startedAtMs,
      headline: `📝 Recap of meeting #${record.id}.${refusal}`,
      recap: budgeted.recap,
      ...(stored === undefined ? {} : { existingRecap: stored }),
      recapStyle: style,
      logger: context.logger,
    });
    if (report.recapFailed === true) context.services.onRecapFailed?.();
    if (record.endedAtMs === undefined) context.meetingStore.endMeeting(record.id, endedAtMs);
    if (record.recap === undefined && report.recap !== undefined) context.meetingStore.saveRecap(record.id, JSON.stringify(report.recap));
    const channel = interaction.channel;
    if (inCaptionChannel && channel !== null && channel.isSendable()) {
      await postMeetingReport(channel, report);
      await interaction.editReply({ content: `Posted the recap of meeting #${record.id}.`, allowedMentions: { parse: [] } });
    } else {
      await postMeetingReport(privateReportTarget(interaction), report);
    }
  },
};

export default recap;
