/**
 * One meeting's recording: an {@link OpusTrack} per speaker in the meeting's own folder, opened on their first
 * packet. A speaker whose consent is withdrawn mid-meeting (`/optout`) has their track closed at once, and no
 * track is opened for them again in this meeting.
 *
 * Bounds: one open file per speaker who has spoken; each track's unwritten bytes are bounded by
 * `MAX_UNWRITTEN_BYTES` (opus-track.ts); tracks per meeting at most {@link MAX_TRACKS} (a new speaker beyond that is not
 * recorded, and logged).
 */
import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Speaker } from '../captions/caption.ts';
import type { Logger } from '../log.ts';
import { OpusTrack } from './opus-track.ts';

/** Most tracks one meeting records: Discord voice channels hold at most 99 members without Stage. */
export const MAX_TRACKS = 100;

/** A finished track. */
export interface RecordedTrack {
  speaker: Speaker;
  /** Absolute path of the `.ogg` file. */
  path: string;
  /** The file's name (`NN-Name-userId.ogg`). */
  fileName: string;
  /** File size, bytes. */
  bytes: number;
  /** The track stopped early (write error, or the disk fell behind); what it holds up to then is kept. */
  failed: boolean;
}

/** Options for {@link MeetingRecorder}. */
export interface MeetingRecorderOptions {
  /** The meeting's folder; created if missing. */
  dir: string;
  logger: Logger;
  /** A track stopped on a write error (told once per meeting by the caller). */
  onTrackFailed?: (speaker: Speaker, error: Error) => void;
}

/** A file-name-safe form of a display name: letters, digits, `_` and `-`, at most 32 characters. */
export function fileSafeName(name: string): string {
  const safe = name.normalize('NFKD').replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32);
  return safe === '' ? 'speaker' : safe;
}

/** Records the speakers of one meeting. */
export class MeetingRecorder {
  readonly dir: string;
  readonly #logger: Logger;
  readonly #onTrackFailed: MeetingRecorderOptions['onTrackFailed'];
  readonly #tracks = new Map<string, { speaker: Speaker; track: OpusTrack }>();
  /** Speakers who withdrew consent in this meeting: never recorded again in it. */
  readonly #withdrawn = new Set<string>();
  #finished = false;

  /** @throws the file system's error if the folder cannot be created. */
  constructor(options: MeetingRecorderOptions) {
    this.dir = options.dir;
    this.#logger = options.logger;
    this.#onTrackFailed = options.onTrackFailed;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Speakers recorded so far. */
  get speakerIds(): string[] {
    return [...this.#tracks.keys()];
  }

  /**
   * Records one Opus packet of a speaker, as delivered.
   *
   * @param arrivalMs meeting time the packet arrived, ms.
   */
  push(speaker: Speaker, packet: Buffer, arrivalMs: number): void {
    if (this.#finished || this.#withdrawn.has(speaker.id)) return;
    let entry = this.#tracks.get(speaker.id);
    if (entry === undefined) {
      if (this.#tracks.size >= MAX_TRACKS) return;
      const index = this.#tracks.size + 1;
      const fileName = `${String(index).padStart(2, '0')}-${fileSafeName(speaker.name)}-${speaker.id}.ogg`;
      const track = OpusTrack.open({
        path: join(this.dir, fileName),
        serial: index,
        comments: [`TITLE=${speaker.name}`, `ARTIST=${speaker.name}`, `DISCORD_USER_ID=${speaker.id}`],
        onFailed: (error) => {
          this.#logger.error({ speakerId: speaker.id, err: error.message }, 'recording track stopped');
          this.#onTrackFailed?.(speaker, error);
        },
      });
      entry = { speaker: { ...speaker }, track };
      this.#tracks.set(speaker.id, entry);
    }
    entry.track.push(packet, arrivalMs);
  }

  /**
   * Stops recording a speaker for the rest of the meeting (they opted out): their track is closed now.
   *
   * @returns the closed track's path, if they had one.
   */
  async withdraw(userId: string): Promise<string | undefined> {
    this.#withdrawn.add(userId);
    const entry = this.#tracks.get(userId);
    if (entry === undefined) return undefined;
    await entry.track.close();
    return entry.track.path;
  }

  /**
   * Closes every track, each padded with silence to `endMs` so they all last the meeting. Idempotent.
   *
   * @param endMs meeting time the meeting ended, ms.
   * @returns the tracks in the order their speakers first spoke.
   */
  async finish(endMs: number): Promise<RecordedTrack[]> {
    this.#finished = true;
    const entries = [...this.#tracks.values()];
    await Promise.all(entries.map(({ speaker, track }) => track.close(this.#withdrawn.has(speaker.id) ? undefined : endMs)));
    const tracks: RecordedTrack[] = [];
    for (const { speaker, track } of entries) {
      const bytes = await stat(track.path).then((s) => s.size, () => undefined);
      if (bytes === undefined) continue;
      tracks.push({ speaker, path: track.path, fileName: basename(track.path), bytes, failed: track.failed !== null });
    }
    return tracks;
  }
}
