/**
 * How long a quiet speaker's AssemblyAI session stays open before it is closed with `Terminate`.
 *
 * AssemblyAI bills every second a session is open, and limits how many new sessions an account may open per
 * minute (free accounts 5, paid 100+; AssemblyAI docs, streaming "Concurrency"). A short idle close bills little but reopens sessions
 * often. So the idle close starts at the configured base, doubles (up to `maxMs`) each time AssemblyAI answers
 * 3009 (too many new sessions), and halves back toward the base after `relaxAfterMs` without another 3009. The
 * policy is shared by every speaker of the process, as the limit is per account.
 */

/** Options for {@link IdleClosePolicy}. */
export interface IdleClosePolicyOptions {
  /** Idle close when sessions are not being limited, ms. */
  baseMs: number;
  /** Longest idle close, ms. */
  maxMs: number;
  /** Time without a 3009 after which the idle close halves back toward the base, ms. Default 10 minutes. */
  relaxAfterMs?: number;
  /** Monotonic time, ms. Default `performance.now`. */
  now?: () => number;
}

/** The process-wide idle close. */
export class IdleClosePolicy {
  readonly #o: Required<IdleClosePolicyOptions>;
  #currentMs: number;
  #changedAt: number;

  constructor(options: IdleClosePolicyOptions) {
    this.#o = { relaxAfterMs: 10 * 60_000, now: () => performance.now(), ...options, maxMs: Math.max(options.maxMs, options.baseMs) };
    this.#currentMs = this.#o.baseMs;
    this.#changedAt = this.#o.now();
  }

  /** The idle close to use now, ms. */
  currentMs(): number {
    const now = this.#o.now();
    while (this.#currentMs > this.#o.baseMs && now - this.#changedAt >= this.#o.relaxAfterMs) {
      this.#currentMs = Math.max(this.#o.baseMs, this.#currentMs / 2);
      this.#changedAt += this.#o.relaxAfterMs;
    }
    return this.#currentMs;
  }

  /** AssemblyAI refused a new session with 3009: keep sessions open longer, so fewer are opened. */
  onTooManySessions(): void {
    this.#currentMs = Math.min(this.#o.maxMs, this.currentMs() * 2);
    this.#changedAt = this.#o.now();
  }
}
