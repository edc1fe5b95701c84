/**
 * `DAILY_STT_MINUTES_PER_GUILD`: how much speech-to-text session time (what AssemblyAI bills) each guild may use
 * per UTC day. Kept in memory: one entry per guild active today, all cleared when the UTC day changes, so memory
 * is bounded by the guilds that captioned today. A restart forgets the day's usage.
 */

/** Per-guild daily speech-to-text budget. */
export class SttBudget {
  readonly #dailyMs: number;
  readonly #now: () => number;
  #day = '';
  readonly #usedMs = new Map<string, number>();

  /**
   * @param dailyMs budget per guild per UTC day, ms.
   * @param now wall clock, epoch ms; default `Date.now`.
   */
  constructor(dailyMs: number, now: () => number = Date.now) {
    this.#dailyMs = dailyMs;
    this.#now = now;
  }

  /** The budget per day, ms. */
  get dailyMs(): number {
    return this.#dailyMs;
  }

  /** Adds session time the guild used, ms. */
  add(guildId: string, ms: number): void {
    if (ms <= 0) return;
    this.#rollOver();
    this.#usedMs.set(guildId, (this.#usedMs.get(guildId) ?? 0) + ms);
  }

  /** True once the guild has used its budget for today (UTC). */
  spent(guildId: string): boolean {
    this.#rollOver();
    return (this.#usedMs.get(guildId) ?? 0) >= this.#dailyMs;
  }

  #rollOver(): void {
    const day = new Date(this.#now()).toISOString().slice(0, 10);
    if (day === this.#day) return;
    this.#day = day;
    this.#usedMs.clear();
  }
}
