/**
 * `DATA_RETENTION_DAYS`: meetings that ended more than that many days ago are deleted (with their turns,
 * translations and recap), once at start-up and then once a day. One timer; `stop` clears it.
 */
import type { Logger } from '../log.ts';
import type { MeetingDeletion } from './meeting-deletion.ts';

/** How often the sweep runs after the first, ms. */
export const RETENTION_SWEEP_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Options for {@link RetentionSweep}. */
export interface RetentionSweepOptions {
  deletion: MeetingDeletion;
  /** Whole days, ≥ 1. */
  retentionDays: number;
  logger: Logger;
  /** Wall clock, epoch ms; default `Date.now`. */
  now?: () => number;
  /** Runs after each sweep (deletes files that belonged to the deleted meetings). */
  afterSweep?: () => void;
}

/** Deletes expired meetings now and daily. */
export class RetentionSweep {
  readonly #o: RetentionSweepOptions;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: RetentionSweepOptions) {
    this.#o = options;
  }

  /** Sweeps at once, then every {@link RETENTION_SWEEP_INTERVAL_MS}. */
  start(): void {
    this.sweep();
    this.#timer = setInterval(() => this.sweep(), RETENTION_SWEEP_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Deletes the meetings past retention. A failing delete (read-only database) is logged and tried again at the
   * next sweep.
   *
   * @returns how many meetings were deleted (0 when the delete failed).
   */
  sweep(): number {
    const cutoffMs = (this.#o.now ?? Date.now)() - this.#o.retentionDays * 24 * 60 * 60 * 1000;
    try {
      const deleted = this.#o.deletion.deleteEndedBefore(cutoffMs);
      this.#o.logger.info({ deleted, retentionDays: this.#o.retentionDays }, 'retention sweep');
      this.#o.afterSweep?.();
      return deleted;
    } catch (error) {
      this.#o.logger.error({ err: (error as Error).message }, 'retention sweep failed');
      return 0;
    }
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
