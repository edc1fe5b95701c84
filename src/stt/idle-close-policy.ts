/**
 * How long a quiet speaker's AssemblyAI session stays open before it is closed with `Terminate`.
 *
 * AssemblyAI bills every second a session is open, from the WebSocket upgrade, so the handshake before `Begin` and
 * the wait for `Termination` count (AssemblyAI docs, FAQ "How does Universal Streaming session-based pricing
 * work?"); and it limits how many new sessions an account may open per minute (free accounts 5, paid 100+:
 * AssemblyAI docs, streaming "Concurrency"). A short idle close bills little while quiet but reopens sessions
 * often, and each reopen bills its handshake and spends a slot of that limit. Holding a quiet session costs more
 * than a reopen once the quiet outlasts the handshake, and in a conversation a speaker is quiet for whole turns of
 * others; so the base (`STT_IDLE_CLOSE_MS`, default 750 ms) is a little longer than a pause inside one person's
 * turn, not the gap between turns (bench/README.md, part 5, compares the policies).
 *
 * From that base the idle close adapts to the limit: it doubles (up to `maxMs`) on each session-limit refusal
 * (a close classified `action: 'limit'`: 3009, 1008 "too many sessions", HTTP 429), and halves back toward the base
 * after `relaxAfterMs` without another. The policy
 * is shared by every speaker of the process, as the limit is per account. While the process-wide new-session
 * budget runs short (`pressure`), the idle close is `maxMs` outright: a session kept open costs seconds of billing,
 * a session closed and reopened costs a slot of the budget. `maxMs` stays below the `inactivity_timeout` sessions are
 * opened with, so the server never ends a quiet session first.
 */

/** Options for {@link IdleClosePolicy}. */
export interface IdleClosePolicyOptions {
  /** Idle close when sessions are not being limited, ms. */
  baseMs: number;
  /** Longest idle close, ms. */
  maxMs: number;
  /** Time without a session-limit refusal after which the idle close halves back toward the base, ms. Default 10 minutes. */
  relaxAfterMs?: number;
  /** Monotonic time, ms. Default `performance.now`. */
  now?: () => number;
  /** True while new sessions are scarce (the process-wide budget is running short). Default: never. */
  pressure?: () => boolean;
}

/** The process-wide idle close. */
export class IdleClosePolicy {
  readonly #o: Required<IdleClosePolicyOptions>;
  #currentMs: number;
  #changedAt: number;

  constructor(options: IdleClosePolicyOptions) {
    this.#o = { relaxAfterMs: 10 * 60_000, now: () => performance.now(), pressure: () => false, ...options, maxMs: Math.max(options.maxMs, options.baseMs) };
    this.#currentMs = this.#o.baseMs;
    this.#changedAt = this.#o.now();
  }

  /** The idle close to use now, ms. */
  currentMs(): number {
    if (this.#o.pressure()) return this.#o.maxMs;
    return this.#relaxed();
  }

  #relaxed(): number {
    const now = this.#o.now();
    while (this.#currentMs > this.#o.baseMs && now - this.#changedAt >= this.#o.relaxAfterMs) {
      this.#currentMs = Math.max(this.#o.baseMs, this.#currentMs / 2);
      this.#changedAt += this.#o.relaxAfterMs;
    }
    return this.#currentMs;
  }

  /** AssemblyAI refused a new session for the account's session limit: keep sessions open longer, so fewer are opened. */
  onTooManySessions(): void {
    this.#currentMs = Math.min(this.#o.maxMs, this.#relaxed() * 2);
    this.#changedAt = this.#o.now();
  }
}
