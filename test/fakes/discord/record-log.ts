/**
 * An append-only record of what the stand-in saw, with race-free waiting: {@link RecordLog.waitFor}
 * resolves on an entry already recorded or on the first matching entry recorded later.
 */

/** Options of every `waitFor…` of the stand-in. */
export interface WaitOptions {
  /** Reject after this many milliseconds (default 15 000). A safety net, not a timing assertion. */
  timeoutMs?: number;
}

/** Default safety-net timeout of `waitFor…` calls. */
export const DEFAULT_WAIT_TIMEOUT_MS = 15_000;

interface Waiter<T> {
  predicate: (entry: T) => boolean;
  resolve: (entry: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** An ordered list of recorded entries of type `T`, and waiters on them. */
export class RecordLog<T> {
  readonly #entries: T[] = [];
  readonly #waiters = new Set<Waiter<T>>();
  readonly #name: string;
  readonly #describe: (entry: T) => string;

  /**
   * @param name - What is recorded, for error messages ("REST request").
   * @param describe - One-line description of an entry, listed when a wait times out.
   */
  constructor(name: string, describe: (entry: T) => string) {
    this.#name = name;
    this.#describe = describe;
  }

  /** The entries recorded so far, oldest first (a live, read-only view). */
  get entries(): readonly T[] {
    return this.#entries;
  }

  /** Records an entry and resolves the waiters it matches. */
  push(entry: T): void {
    this.#entries.push(entry);
    for (const waiter of [...this.#waiters]) {
      let matched = false;
      try {
        matched = waiter.predicate(entry);
      } catch (error) {
        this.#settle(waiter);
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (matched) {
        this.#settle(waiter);
        waiter.resolve(entry);
      }
    }
  }

  /** Entries matching `predicate`, oldest first. */
  filter(predicate: (entry: T) => boolean): T[] {
    return this.#entries.filter(predicate);
  }

  /**
   * Resolves with the first recorded entry matching `predicate`, or with the next one to be recorded.
   * Rejects after `timeoutMs`, listing what was recorded.
   */
  waitFor(predicate: (entry: T) => boolean, options: WaitOptions = {}): Promise<T> {
    const existing = this.#entries.find(predicate);
    if (existing !== undefined) return Promise.resolve(existing);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          const seen = this.#entries.map((entry) => `  - ${this.#describe(entry)}`).join('\n');
          reject(new Error(`No matching ${this.#name} within ${timeoutMs} ms. Recorded:\n${seen || '  (none)'}`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Rejects every pending waiter (used when the stand-in closes). */
  rejectAll(reason: string): void {
    for (const waiter of [...this.#waiters]) {
      this.#settle(waiter);
      waiter.reject(new Error(`${this.#name} wait aborted: ${reason}`));
    }
  }

  #settle(waiter: Waiter<T>): void {
    clearTimeout(waiter.timer);
    this.#waiters.delete(waiter);
  }
}
