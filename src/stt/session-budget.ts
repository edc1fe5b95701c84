/**
 * The process-wide budget of new AssemblyAI sessions, shared by every meeting and speaker: the limit AssemblyAI
 * enforces is per account and counts **new sessions per minute** (docs/streaming/concurrency, "Rate limits": free
 * accounts 5, paid accounts 100 to start, growing by 10% a minute while 70% or more is in use). Parley never opens
 * more than `perMinute` sessions in any 60 s window; a speaker who has to wait keeps their audio queued (their
 * {@link ../stt/speaker-stream.ts} queue, bounded) and gets the next slot, first come first served.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';

/** Options for {@link SessionBudget}. */
export interface SessionBudgetOptions {
  /** New sessions allowed per window. */
  perMinute: number;
  /** Window, ms. Default 60,000 (the documented unit). */
  windowMs?: number;
  /** Default the system clock (AssemblyAI counts real minutes). */
  clock?: Clock;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/** A sliding-window limit on new sessions. Memory: at most `perMinute` timestamps and one waiter per speaker. */
export class SessionBudget {
  readonly perMinute: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Start times of the sessions in the current window, oldest first. */
  #starts: number[] = [];
  #waiters: Waiter[] = [];
  #timer: TimerHandle | null = null;

  constructor(options: SessionBudgetOptions) {
    this.perMinute = Math.max(1, Math.floor(options.perMinute));
    this.#windowMs = options.windowMs ?? 60_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Sessions that may still be opened in the current window without waiting. */
  remaining(): number {
    this.#prune();
    return Math.max(0, this.perMinute - this.#starts.length);
  }

  /** Speakers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * True when the budget is running short (someone is waiting, or less than a fifth of it is left): quiet speakers'
   * sessions should then stay open rather than be closed and reopened.
   */
  get short(): boolean {
    return this.#waiters.length > 0 || this.remaining() < Math.max(1, Math.ceil(this.perMinute / 5));
  }

  /**
   * Takes one new-session slot, waiting for one if the window is full.
   *
   * @throws {Error} named `AbortError` when `signal` aborts while waiting.
   */
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError());
    if (this.#waiters.length === 0 && this.remaining() > 0) {
      this.#starts.push(this.#clock.now());
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(abortError());
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  #prune(): void {
    const cutoff = this.#clock.now() - this.#windowMs;
    let n = 0;
    while (n < this.#starts.length && (this.#starts[n] ?? Infinity) <= cutoff) n++;
    if (n > 0) this.#starts.splice(0, n);
  }

  #schedule(): void {
    if (this.#timer !== null || this.#waiters.length === 0) return;
    const oldest = this.#starts[0];
    const waitMs = oldest === undefined ? 0 : oldest + this.#windowMs - this.#clock.now();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#grant();
    }, Math.max(0, waitMs));
  }

  #grant(): void {
    while (this.#waiters.length > 0 && this.remaining() > 0) {
      const waiter = this.#waiters.shift();
      if (waiter === undefined) break;
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      this.#starts.push(this.#clock.now());
      waiter.resolve();
    }
    this.#schedule();
  }
}

function abortError(): Error {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}
