/**
 * What Parley posts about a meeting's recording at `/end`, in order of preference:
 * 1. the tracks and `README.txt` as attachments, when every file fits the guild's attachment size limit
 *    (the `/join` interaction's `attachment_size_limit`, discord-api-docs "Interaction Object"; 10 MiB for a guild
 *    without boosts, discord-api-docs "Uploading Files"); messages hold at most 10 files (discord-api-docs
 *    "Create Message") and at most the limit in all, so no request is refused for its size;
 * 2. else a link to the recording on the caption page, when it is served (`WEB_PORT`);
 * 3. else the folder in `DATA_DIR` where the tracks are kept, for the bot's owner to hand out.
 * When Discord refuses the attachments anyway (413 "Request entity too large", or any other error), the link or the
 * folder is posted instead.
 */
import { AttachmentBuilder } from 'discord.js';
import { NO_MENTIONS } from '../captions/discord-sink.ts';
import { escapeDiscordText } from '../text/discord-markdown.ts';
import type { RecordedTrack } from './meeting-recorder.ts';

/** Discord's attachment limit for a guild without boosts, bytes (discord-api-docs "Uploading Files", since 2024-09). */
export const DEFAULT_ATTACHMENT_LIMIT_BYTES = 10 * 1024 * 1024;
/** Discord's limit on files per message (discord-api-docs "Create Message"). */
const FILES_PER_MESSAGE = 10;
/** Name of the text file that says how to play and replay the tracks. */
export const README_FILE = 'README.txt';

/** One message about the recording. */
export interface RecordingMessage {
  content?: string;
  files?: AttachmentBuilder[];
  allowedMentions: typeof NO_MENTIONS;
}

/** Where the recording message goes (a channel's `send` fits). */
export interface RecordingTarget {
  send(message: RecordingMessage): Promise<unknown>;
}

/** How the recording reached the channel. */
export type RecordingDelivery = 'attached' | 'linked' | 'kept';

/** Options for {@link postRecording}. */
export interface PostRecordingOptions {
  target: RecordingTarget;
  tracks: readonly RecordedTrack[];
  /** {@link recordingReadme}'s text. */
  readme: string;
  /** Bytes one upload may carry in this guild; default {@link DEFAULT_ATTACHMENT_LIMIT_BYTES}. */
  attachmentLimitBytes?: number | undefined;
  /** The recording on the caption page; undefined when the page is off. */
  link?: string | undefined;
  /** Where the files are kept, relative to `DATA_DIR`, e.g. `recordings/123/45/`. */
  keptIn: string;
  /** How long they are kept, in plain words, e.g. "for 30 days" or "until /forget deletes the meeting". */
  keptFor: string;
}

/** The README that goes with the tracks: what they are and how to replay them with `npm run replay`. */
export function recordingReadme(options: { meetingId: number; startedAtMs: number; tracks: readonly RecordedTrack[] }): string {
  const started = new Date(options.startedAtMs).toISOString().slice(0, 16).replace('T', ' ');
  // A replay name ends at '=' and the shell reads quotes: keep both out of the names in the command.
  const replayName = (name: string) => name.replace(/["=\\$`\r\n]/g, '_');
  return [
    `Parley recording of meeting #${options.meetingId}, started ${started} UTC.`,
    '',
    "One Ogg Opus track per speaker, holding the Opus packets Discord delivered, not re-encoded. Every track starts at",
    "the meeting's start, with silence where that person did not speak, so the tracks line up: import them together",
    'into a multitrack editor (Audacity: File > Import > Audio), or play one in any player that reads Ogg Opus',
    '(VLC, mpv, ffmpeg, a browser).',
    '',
    'Tracks:',
    ...options.tracks.map((t) => `  ${t.fileName}  ${t.speaker.name}${t.failed ? '  (stopped early: the disk could not keep up)' : ''}`),
    '',
    'To caption them again with Parley, from its folder:',
    `  npm run replay -- --out out/ ${options.tracks.map((t) => `"${replayName(t.speaker.name)}=${t.fileName}"`).join(' ')}`,
    '',
  ].join('\n');
}

/** Groups files into messages of at most 10 files and at most `limit` bytes in all. */
function batches<T extends { bytes: number }>(files: readonly T[], limit: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const file of files) {
    if (current.length > 0 && (current.length >= FILES_PER_MESSAGE || size + file.bytes > limit)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(file);
    size += file.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Posts the recording as the module header says.
 *
 * @returns how it was delivered.
 * @throws what `target.send` throws (a Discord API error), after the messages before it were sent.
 */
export async function postRecording(options: PostRecordingOptions): Promise<RecordingDelivery> {
  const { target, tracks } = options;
  const limit = options.attachmentLimitBytes ?? DEFAULT_ATTACHMENT_LIMIT_BYTES;
  const readme = Buffer.from(options.readme, 'utf8');
  const names = tracks.map((t) => escapeDiscordText(t.speaker.name)).join(', ');
  const count = `${tracks.length} track${tracks.length === 1 ? '' : 's'} (${names})`;
  let why = `too large to attach here (Discord's limit in this server is ${(limit / (1024 * 1024)).toFixed(limit < 1024 * 1024 ? 3 : 0)} MiB a file)`;
  if (tracks.every((t) => t.bytes <= limit) && readme.length <= limit) {
    const files = [{ bytes: readme.length, attach: () => new AttachmentBuilder(readme, { name: README_FILE }) }, ...tracks.map((t) => ({ bytes: t.bytes, attach: () => new AttachmentBuilder(t.path, { name: t.fileName }) }))];
    const groups = batches(files, limit);
    try {
      for (const [i, group] of groups.entries()) {
        await target.send({
          ...(i === 0 ? { content: `🎙️ The recording: ${count}, one Ogg Opus file per speaker. ${README_FILE} says how to play them together or caption them again with \`npm run replay\`.` } : {}),
          files: group.map((f) => f.attach()),
          allowedMentions: NO_MENTIONS,
        });
      }
      return 'attached';
    } catch {
      why = 'could not be attached here (Discord refused the upload)';
    }
  }
  if (options.link !== undefined) {
    await target.send({
      content: `🎙️ The recording, ${count}, is ${why}. Download it from the caption page: ${options.link} (the link works for 7 days; the files are kept ${options.keptFor}).`,
      allowedMentions: NO_MENTIONS,
    });
    return 'linked';
  }
  await target.send({
    content: `🎙️ The recording, ${count}, is ${why}. It is kept on the machine running Parley, in \`${options.keptIn}\` under its data folder, ${options.keptFor}: ask the bot's owner for it.`,
    allowedMentions: NO_MENTIONS,
  });
  return 'kept';
}
