/**
 * The recording of a meeting interrupted by a crash or restart: its tracks were being written when the process
 * stopped, so none was closed and nothing was posted. When the meeting is finished after the restart (`/end`, or
 * `/join` closing it), each track is closed where it was cut (track-repair.ts) and the tracks are posted as at a
 * normal `/end`. The caller finishes the meeting in the store first, so this runs once per meeting.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { RecordedTrack } from './meeting-recorder.ts';
import { publishRecording } from './meeting-recording.ts';
import type { RecordingDelivery, RecordingTarget } from './recording-report.ts';
import type { Recordings } from './recordings.ts';
import { closeCutShortTrack } from './track-repair.ts';
import { readOpusTags } from './ogg-opus.ts';

/** A track's file name, as meeting-recorder.ts makes it: `NN-Name-userId.ogg`. */
const TRACK_FILE = /^\d{2,3}-(.+)-(\d{1,20})\.ogg$/;

/** Options for {@link finishInterruptedRecording}. */
export interface InterruptedRecordingOptions {
  recordings: Recordings;
  guildId: string;
  meetingId: number;
  startedAtMs: number;
  logger: Logger;
  /** Where its captions were; undefined: nothing is posted (the files stay in `DATA_DIR`). */
  target: RecordingTarget | undefined;
  /** The guild's attachment limit from the interaction that finished the meeting, bytes. */
  attachmentLimitBytes?: number | undefined;
}

/**
 * Closes an interrupted meeting's tracks and posts them. Never throws: a track that cannot be closed is posted as
 * it is (replay reads it up to its cut), and a failed post is logged.
 *
 * @returns the tracks (none when the meeting was not recorded) and how they were delivered.
 */
export async function finishInterruptedRecording(options: InterruptedRecordingOptions): Promise<{ tracks: RecordedTrack[]; delivery: RecordingDelivery | undefined }> {
  const { recordings, guildId, meetingId, logger } = options;
  const tracks: RecordedTrack[] = [];
  let files: string[] = [];
  try {
    files = await recordings.files(guildId, meetingId);
  } catch (error) {
    logger.warn({ guildId, meetingId, err: (error as Error).message }, 'could not list the interrupted recording');
  }
  for (const fileName of files) {
    const match = TRACK_FILE.exec(fileName);
    if (match === null) continue;
    const path = join(recordings.meetingDir(guildId, meetingId), fileName);
    try {
      const repair = await closeCutShortTrack(path);
      if (repair.closed || repair.droppedBytes > 0) logger.info({ guildId, meetingId, fileName, droppedBytes: repair.droppedBytes }, 'interrupted recording track closed');
    } catch (error) {
      logger.warn({ guildId, meetingId, fileName, err: (error as Error).message }, 'could not close an interrupted recording track; it is posted as it is');
    }
    const bytes = await stat(path).then((s) => s.size, () => undefined);
    if (bytes === undefined) continue;
    const name = (await trackTitle(path)) ?? match[1]!;
    tracks.push({ speaker: { id: match[2]!, name }, path, fileName, bytes, failed: false });
  }
  const delivery = await publishRecording({ ...options, tracks });
  return { tracks, delivery };
}

/** The `TITLE=` comment of a track's OpusTags header (RFC 7845 §5.2): the speaker's name when recorded. */
async function trackTitle(path: string): Promise<string | undefined> {
  const tags = await readOpusTags(path).catch(() => undefined);
  const title = tags?.comments.find((comment) => comment.startsWith('TITLE='));
  return title?.slice('TITLE='.length);
}
