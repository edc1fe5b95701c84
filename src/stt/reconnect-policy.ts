/**
 * The one reconnect policy of the STT path: every new session for a speaker, whether after a refused connection or
 * after a session that opened and then dropped, waits as this policy says, and a circuit breaker stops a speaker's
 * attempts for a while when AssemblyAI keeps failing them.
 *
 * - Backoff: exponential with "equal jitter" (half the step fixed, half random), so every wait is at least half
 *   its step and attempts can never bunch up: after failure n (1-based) the wait is in
 *   [step/2, step] with step = min(capMs, baseMs · 2^(n−1)).
 * - The account's session limit (1008 "Too many concurrent sessions", 3009, HTTP 429) waits on its own, slower
 *   ladder (`limitBaseMs`, `limitCapMs`) and never trips the breaker: captions are late, not lost.
 * - Circuit breaker: after `breakerThreshold` failures in a row it opens for `breakerCooldownMs`; once that has
 *   passed, one trial attempt is made on the speaker's next speech, and a failure of that trial opens it again.
 * - A session counts as healthy (and resets the count) when it confirms a final transcript, closes cleanly, or
 *   stays open `healthyAfterMs`.
 *
 * Bound: with the defaults (1 s base, 5 failures), a speaker opens at most 5 sessions before the breaker opens
 * (waits of at least 0.5 + 1 + 2 + 4 s between them), then at most one per `breakerCooldownMs` (60 s).
 *
 * Own code rather than p-retry: its waits run on real timers, while a speaker's waits must run on the pipeline's
 * clock (replay drives a virtual one), and the breaker spans sessions, not one call.
 */

/** Options for {@link ReconnectPolicy}. All times are ms. */
export interface ReconnectPolicyOptions {
  /** First backoff step. Default 1,000. */
  baseMs?: number;
  /** Longest backoff step. Default 30,000. */
  capMs?: number;
  /** First step after a session-limit refusal. Default 5,000. */
  limitBaseMs?: number;
  /** Longest step after session-limit refusals. Default 60,000. */
  limitCapMs?: number;
  /** Failures in a row that open the breaker. Default 5. */
  breakerThreshold?: number;
  /** How long the breaker stays open. Default 60,000. */
  breakerCooldownMs?: number;
  /** A session open this long counts as healthy. Default 60,000. */
  healthyAfterMs?: number;
  /** Uniform random in [0, 1); default `Math.random`. */
  random?: () => number;
}

/** What to do after a failure. */
export type FailureOutcome = { kind: 'retry'; delayMs: number } | { kind: 'breakerOpen'; failures: number; cooldownMs: number };

/** One speaker's reconnect state. */
export class ReconnectPolicy {
  readonly #o: Required<ReconnectPolicyOptions>;
  #failures = 0;
  #limited = 0;
  /** Clock time before which no attempt may be made (breaker open), or null. */
  #openUntil: number | null = null;
  /** The next attempt is the breaker's single trial. */
  #trial = false;

  constructor(options: ReconnectPolicyOptions = {}) {
    this.#o = {
      baseMs: 1_000,
      capMs: 30_000,
      limitBaseMs: 5_000,
      limitCapMs: 60_000,
      breakerThreshold: 5,
      breakerCooldownMs: 60_000,
      healthyAfterMs: 60_000,
      random: Math.random,
      ...options,
    };
  }

  /** See {@link ReconnectPolicyOptions.healthyAfterMs}. */
  get healthyAfterMs(): number {
    return this.#o.healthyAfterMs;
  }

  /** Failures in a row so far. */
  get failures(): number {
    return this.#failures;
  }

  /** True while the breaker forbids attempts (`now` on the same clock as {@link onFailure}). */
  isOpen(now: number): boolean {
    return this.#openUntil !== null && now < this.#openUntil;
  }

  /**
   * Records a failed attempt or a session that dropped before it was healthy.
   *
   * @param now - clock time, ms.
   * @returns the wait before the next attempt, or that the breaker is now open.
   */
  onFailure(now: number): FailureOutcome {
    this.#limited = 0;
    this.#failures++;
    if (this.#trial || this.#failures >= this.#o.breakerThreshold) {
      this.#trial = true; // after the cooldown, one trial
      this.#openUntil = now + this.#o.breakerCooldownMs;
      return { kind: 'breakerOpen', failures: this.#failures, cooldownMs: this.#o.breakerCooldownMs };
    }
    return { kind: 'retry', delayMs: this.#jittered(this.#o.baseMs, this.#o.capMs, this.#failures) };
  }

  /** Records a refusal for the account's session limit; returns the wait before the next attempt, ms. */
  onLimited(): number {
    this.#limited++;
    return this.#jittered(this.#o.limitBaseMs, this.#o.limitCapMs, this.#limited);
  }

  /** A session was healthy: the failure count, the limit ladder and the breaker reset. */
  onHealthy(): void {
    this.#failures = 0;
    this.#limited = 0;
    this.#openUntil = null;
    this.#trial = false;
  }

  #jittered(base: number, cap: number, n: number): number {
    const step = Math.min(cap, base * 2 ** Math.min(n - 1, 30));
    return Math.round(step / 2 + (step / 2) * this.#o.random());
  }
}
