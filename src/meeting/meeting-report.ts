/**
 * What Parley posts when a meeting ends (and on `/recap`): a headline, the recap as embeds, and the transcript
 * files (`transcript.json`, `.md`, `.srt`, `.vtt`, one `transcript.<language>.md` per translation language, and
 * `recap.md`). If the recap cannot be made, the files are still posted and the headline says why.
 */
import { AttachmentBuilder, type APIEmbed } from 'discord.js';
import type { Logger } from '../log.ts';
import type { LlmClient } from '../llm/gateway-client.ts';
import { LlmError } from '../llm/errors.ts';
import { createRecap, type Recap } from '../recap/recap.ts';
import type { RecapStyle } from '../recap/templates.ts';
import { recapToEmbeds, recapToMarkdown } from '../recap/render.ts';
import { NO_MENTIONS } from '../captions/discord-sink.ts';
import { escapeDiscordText } from '../text/discord-markdown.ts';
import { renderTranscriptFiles, type TranscriptFile } from '../transcript/files.ts';
import { toTranslatedMarkdown } from '../transcript/formats.ts';
import type { Transcript } from '../transcript/transcript.ts';

/** Discord's limit on attachments per message. */
const FILES_PER_MESSAGE = 10;

/** How recaps are made. */
export interface RecapSettings {
  client: LlmClient;
  model: string;
  fallbackModels: string[];
  /** Per request attempt, ms (`RECAP_TIMEOUT_MS`): a recap takes longer than a caption's translation. */
  timeoutMs?: number;
}

/** Options for {@link buildMeetingReport}. */
export interface MeetingReportOptions {
  title: string;
  transcript: Transcript;
  durationMs: number;
  /** First line of the message, e.g. "⏹️ Captioning has ended." */
  headline: string;
  /** Omit to post without a recap. */
  recap: RecapSettings | undefined;
  /** A recap made earlier (stored), used instead of asking the model again. */
  existingRecap?: Recap;
  /** The guild's recap template and custom prompt; meeting notes when omitted. */
  recapStyle?: RecapStyle;
  logger: Logger;
}

/** The rendered report. */
export interface MeetingReport {
  content: string;
  embeds: APIEmbed[];
  files: TranscriptFile[];
  /** The recap, when one was made (to store it). */
  recap?: Recap;
  /** True when a recap was asked for and could not be made. */
  recapFailed?: boolean;
}

/** Languages that have at least one translation in the transcript. */
export function translationLanguages(transcript: Transcript): string[] {
  const languages = new Set<string>();
  for (const turn of transcript.turns) for (const language of Object.keys(turn.translations ?? {})) languages.add(language);
  return [...languages].sort();
}

/** Builds the report. Never throws for a recap failure: the failure is described in `content`. */
export async function buildMeetingReport(options: MeetingReportOptions): Promise<MeetingReport> {
  const { transcript } = options;
  const files = renderTranscriptFiles(options.title, transcript);
  for (const language of translationLanguages(transcript)) {
    files.push({ name: `transcript.${language}.md`, content: toTranslatedMarkdown(options.title, language, transcript.turns) });
  }
  const count = transcript.turns.length;
  const stats = `${count} caption${count === 1 ? '' : 's'} from ${transcript.speakers.length} speaker${transcript.speakers.length === 1 ? '' : 's'}.`;
  const lines = [`${options.headline} ${stats}`];
  let recap = options.existingRecap;
  let recapFailed = false;
  if (recap === undefined && options.recap !== undefined && count > 0) {
    try {
      recap = await createRecap(transcript, { ...options.recap, ...(options.recapStyle !== undefined && { style: options.recapStyle }), logger: options.logger });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // The daily LLM budget running out mid-recap is a refusal, not an LLM error, and /recap cannot help before midnight UTC.
      const refused = error instanceof LlmError && error.kind === 'budget';
      options.logger.warn({ reason }, refused ? 'recap refused by the LLM budget' : 'recap failed');
      recapFailed = !refused;
      // The reason can quote the gateway's error text: untrusted.
      lines.push(
        refused
          ? `The recap could not be made: ${escapeDiscordText(reason)} The transcript files are attached.`
          : `The recap could not be made (${escapeDiscordText(reason)}). The transcript files are attached; use /recap later to try again.`,
      );
    }
  }
  const embeds =
    recap === undefined
      ? []
      : recapToEmbeds(recap, { title: options.title, meetingDurationMs: options.durationMs, speakers: transcript.speakers.map((s) => s.name) });
  if (recap !== undefined) files.push({ name: 'recap.md', content: recapToMarkdown(recap, options.title) });
  if (count > 0) lines.push('The transcript is attached.');
  return {
    content: lines.join('\n').slice(0, 2_000),
    embeds,
    files: count > 0 ? files : [],
    recapFailed,
    ...(recap === undefined ? {} : { recap }),
  };
}

/** One message of a report, as {@link ReportTarget.send} receives it. */
export interface ReportMessage {
  content?: string;
  embeds?: APIEmbed[];
  files: AttachmentBuilder[];
  allowedMentions: typeof NO_MENTIONS;
}

/**
 * Where a report goes: a channel (`channel.send` fits), or an interaction answered privately (first message as the
 * deferred reply's edit, the rest as ephemeral follow-ups).
 */
export interface ReportTarget {
  send(message: ReportMessage): Promise<unknown>;
}

/**
 * Posts a report: the first message carries the text, the embeds and up to ten files (Discord's limit per
 * message); any further files follow in more messages.
 *
 * @throws what `target.send` throws (a Discord API error), after the messages before it were sent.
 */
export async function postMeetingReport(target: ReportTarget, report: MeetingReport): Promise<void> {
  const attachments = report.files.map((f) => new AttachmentBuilder(Buffer.from(f.content), { name: f.name }));
  await target.send({
    content: report.content,
    embeds: report.embeds,
    files: attachments.slice(0, FILES_PER_MESSAGE),
    allowedMentions: NO_MENTIONS,
  });
  for (let i = FILES_PER_MESSAGE; i < attachments.length; i += FILES_PER_MESSAGE) {
    await target.send({ files: attachments.slice(i, i + FILES_PER_MESSAGE), allowedMentions: NO_MENTIONS });
  }
}
