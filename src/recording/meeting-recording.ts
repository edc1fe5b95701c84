/**
 * A meeting's recording from `/join record:true` to `/end`: what the meeting hands its packets and opt-outs to,
 * and what posts the tracks at the end. Nothing here knows the voice connection or the caption pipeline.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Speaker } from '../captions/caption.ts';
import type { Logger } from '../log.ts';
import type { MeetingRecorder, RecordedTrack } from './meeting-recorder.ts';
import { README_FILE, postRecording, recordingReadme, type RecordingDelivery, type RecordingTarget } from './recording-report.ts';
import type { Recordings } from './recordings.ts';

/** What a meeting is told to record with. */
export interface RecordingRequest {
  /** The guild's attachment limit from the `/join` interaction (`attachment_size_limit`), bytes. */
  attachmentLimitBytes?: number | undefined;
}

/** Options for {@link MeetingRecording.start}. */
export interface MeetingRecordingOptions {
  recordings: Recordings;
  request: RecordingRequest;
  guildId: string;
  meetingId: number;
  startedAtMs: number;
  logger: Logger;
  /** Tells the channel, in plain words, that a track stopped (once per meeting). */
  onProblem: (text: string) => void;
}

/** One meeting's recording. */
export class MeetingRecording {
  readonly #o: MeetingRecordingOptions;
  readonly #recorder: MeetingRecorder;
  #told = false;
  #closing: Promise<RecordedTrack[]> | undefined;

  private constructor(options: MeetingRecordingOptions) {
    this.#o = options;
    this.#recorder = options.recordings.record(options.guildId, options.meetingId, options.logger, (speaker) => {
      if (this.#told) return;
      this.#told = true;
      options.onProblem(`Recording ${speaker.name}'s track stopped: Parley could not write it to disk. What was recorded up to now is kept; captions go on.`);
    });
  }

  /** @throws the file system's error if the meeting's folder cannot be created. */
  static start(options: MeetingRecordingOptions): MeetingRecording {
    return new MeetingRecording(options);
  }

  /** Records a packet as delivered. @param arrivalMs meeting time of arrival, ms. */
  push(speaker: Speaker, packet: Buffer, arrivalMs: number): void {
    this.#recorder.push(speaker, packet, arrivalMs);
  }

  /** A member opted out: their track stops now and nothing more of theirs is recorded in this meeting. */
  async withdraw(userId: string): Promise<void> {
    await this.#recorder.withdraw(userId);
  }

  /**
   * Closes the tracks, each lasting to `endMs`, with their end-of-stream pages: local file work, done before any
   * post so a shutdown deadline that cuts the posts short still leaves whole files. Idempotent: later calls return
   * the first call's promise.
   *
   * @param endMs meeting time the meeting ended, ms.
   */
  closeTracks(endMs: number): Promise<RecordedTrack[]> {
    this.#closing ??= this.#recorder.finish(endMs);
    return this.#closing;
  }

  /**
   * Closes the tracks (each lasting to `endMs`; see {@link closeTracks}) and posts them to `target` (undefined: the caption channel is
   * gone; nothing is posted). Never throws: a failed post is logged and the files stay in `DATA_DIR`.
   *
   * @param endMs meeting time the meeting ended, ms.
   * @returns the tracks and how they were delivered (undefined when nobody was recorded or posting failed).
   */
  async finish(target: RecordingTarget | undefined, endMs: number): Promise<{ tracks: RecordedTrack[]; delivery: RecordingDelivery | undefined }> {
    const { recordings, guildId, meetingId, startedAtMs, logger } = this.#o;
    const tracks = await this.closeTracks(endMs);
    const delivery = await publishRecording({ recordings, guildId, meetingId, startedAtMs, logger, tracks, target, attachmentLimitBytes: this.#o.request.attachmentLimitBytes });
    return { tracks, delivery };
  }
}

/** Options for {@link publishRecording}. */
export interface PublishRecordingOptions {
  recordings: Recordings;
  guildId: string;
  meetingId: number;
  startedAtMs: number;
  logger: Logger;
  /** The meeting's finished tracks, in the order their speakers first spoke. */
  tracks: readonly RecordedTrack[];
  /** Where to post them; undefined: the caption channel is gone, nothing is posted. */
  target: RecordingTarget | undefined;
  /** The guild's attachment limit from an interaction (`attachment_size_limit`), bytes. */
  attachmentLimitBytes?: number | undefined;
}

/**
 * Writes `README.txt` beside a meeting's finished tracks and posts them (attached, linked or named, as
 * recording-report.ts says). Never throws: a failed post is logged and the files stay in `DATA_DIR`.
 *
 * @returns how they were delivered; undefined when there are no tracks, no target, or posting failed.
 */
export async function publishRecording(options: PublishRecordingOptions): Promise<RecordingDelivery | undefined> {
  const { recordings, guildId, meetingId, logger, tracks, target } = options;
  if (tracks.length === 0) return undefined;
  const readme = recordingReadme({ meetingId, startedAtMs: options.startedAtMs, tracks });
  try {
    // Beside the tracks too, for whoever gets them from the caption page or the data folder.
    await writeFile(join(recordings.meetingDir(guildId, meetingId), README_FILE), readme, { mode: 0o600 });
    if (target === undefined) return undefined;
    const delivery = await postRecording({
      target,
      tracks,
      readme,
      attachmentLimitBytes: options.attachmentLimitBytes,
      link: recordings.linkFor(guildId, meetingId),
      keptIn: recordings.keptIn(guildId, meetingId),
      keptFor: recordings.keptFor,
    });
    logger.info({ guildId, meetingId, tracks: tracks.length, bytes: tracks.reduce((n, t) => n + t.bytes, 0), delivery }, 'recording posted');
    return delivery;
  } catch (error) {
    logger.warn({ guildId, meetingId, err: (error as Error).message }, 'could not post the recording; it stays in DATA_DIR');
    return undefined;
  }
}
