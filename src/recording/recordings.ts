/**
 * Where recordings live and how they go: `DATA_DIR/recordings/<guild id>/<meeting id>/`, one `.ogg` per speaker
 * plus `README.txt`. Deleted with their meeting: by `/forget`, by the retention sweep (`DATA_DIR` folders whose
 * meeting is no longer in the database), and a member's own tracks by `/optout erase:true`.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { RecordingSettingsStore } from '../store/recording-settings.ts';
import { MeetingRecorder } from './meeting-recorder.ts';

/** Folder under `DATA_DIR` that holds every recording. */
export const RECORDINGS_FOLDER = 'recordings';

/** Discord ids are decimal snowflakes; anything else in a path is refused. */
const SNOWFLAKE = /^\d{1,20}$/;

/** Options for {@link Recordings}. */
export interface RecordingsOptions {
  dataDir: string;
  settings: RecordingSettingsStore;
  logger: Logger;
  /** `DATA_RETENTION_DAYS`; undefined: kept until deleted. */
  retentionDays?: number | undefined;
  /** A download link for a meeting's recording on the caption page; undefined when the page is off. */
  linkFor?: ((guildId: string, meetingId: number) => string) | undefined;
}

/** The recordings of every guild on this machine. */
export class Recordings {
  readonly settings: RecordingSettingsStore;
  /** `DATA_DIR/recordings`. */
  readonly root: string;
  readonly #logger: Logger;
  readonly #retentionDays: number | undefined;
  readonly #linkFor: RecordingsOptions['linkFor'];

  constructor(options: RecordingsOptions) {
    this.settings = options.settings;
    this.root = join(options.dataDir, RECORDINGS_FOLDER);
    this.#logger = options.logger;
    this.#retentionDays = options.retentionDays;
    this.#linkFor = options.linkFor;
  }

  /** How long recordings are kept, in words for the channel. */
  get keptFor(): string {
    const days = this.#retentionDays;
    return days === undefined ? 'until `/forget` deletes the meeting' : `for ${days} day${days === 1 ? '' : 's'} after the meeting (or until \`/forget\` deletes it)`;
  }

  /** The caption page's download link for a meeting's recording; undefined when the page is off. */
  linkFor(guildId: string, meetingId: number): string | undefined {
    return this.#linkFor?.(guildId, meetingId);
  }

  /** A meeting's folder relative to `DATA_DIR`, for the channel. */
  keptIn(guildId: string, meetingId: number): string {
    return `${RECORDINGS_FOLDER}/${guildId}/${meetingId}/`;
  }

  /**
   * The folder of one meeting's recording.
   *
   * @throws {RangeError} if `guildId` is not a snowflake or `meetingId` not a positive integer (never a path).
   */
  meetingDir(guildId: string, meetingId: number): string {
    if (!SNOWFLAKE.test(guildId) || !Number.isSafeInteger(meetingId) || meetingId < 1) throw new RangeError('not a guild id and meeting id');
    return join(this.root, guildId, String(meetingId));
  }

  /** Starts recording a meeting into its folder. @throws the file system's error if it cannot be created. */
  record(guildId: string, meetingId: number, logger: Logger, onTrackFailed?: ConstructorParameters<typeof MeetingRecorder>[0]['onTrackFailed']): MeetingRecorder {
    return new MeetingRecorder({ dir: this.meetingDir(guildId, meetingId), logger, ...(onTrackFailed === undefined ? {} : { onTrackFailed }) });
  }

  /** The file names in a meeting's folder; empty when it has none. */
  async files(guildId: string, meetingId: number): Promise<string[]> {
    try {
      return (await readdir(this.meetingDir(guildId, meetingId))).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Deletes a meeting's recording. @returns how many files were deleted. */
  async deleteMeeting(guildId: string, meetingId: number): Promise<number> {
    const files = await this.files(guildId, meetingId);
    await rm(this.meetingDir(guildId, meetingId), { recursive: true, force: true });
    return files.length;
  }

  /**
   * Deletes the recordings whose meeting is gone from the database (the retention sweep deleted it, or the
   * database was replaced). Never throws: a failure is logged and the next sweep tries again.
   *
   * @param exists whether the database still has that meeting of that guild.
   * @returns how many meetings' recordings were deleted.
   */
  async deleteOrphans(exists: (guildId: string, meetingId: number) => boolean): Promise<number> {
    let deleted = 0;
    try {
      for (const guildId of await this.#list(this.root)) {
        if (!SNOWFLAKE.test(guildId)) continue;
        for (const meeting of await this.#list(join(this.root, guildId))) {
          const meetingId = Number(meeting);
          if (!Number.isSafeInteger(meetingId) || meetingId < 1 || exists(guildId, meetingId)) continue;
          await rm(join(this.root, guildId, meeting), { recursive: true, force: true });
          deleted++;
        }
      }
    } catch (error) {
      this.#logger.error({ err: (error as Error).message }, 'could not delete expired recordings');
    }
    if (deleted > 0) this.#logger.info({ deleted }, 'recordings of deleted meetings removed');
    return deleted;
  }

  /**
   * Deletes one member's tracks from every recording of a guild (`/optout erase:true`).
   *
   * @returns how many tracks were deleted.
   */
  async eraseSpeaker(guildId: string, userId: string): Promise<number> {
    if (!SNOWFLAKE.test(guildId) || !SNOWFLAKE.test(userId)) return 0;
    let erased = 0;
    for (const meeting of await this.#list(join(this.root, guildId))) {
      for (const file of await this.#list(join(this.root, guildId, meeting))) {
        if (!file.endsWith(`-${userId}.ogg`)) continue;
        await rm(join(this.root, guildId, meeting, file), { force: true });
        erased++;
      }
    }
    return erased;
  }

  async #list(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw error;
    }
  }
}
