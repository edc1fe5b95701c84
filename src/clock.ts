/**
 * The time source for the caption pipeline. Live meetings use the system clock; replay drives a virtual clock, so
 * every timer (silence fill, idle close) keeps its meaning in meeting time even when replay runs faster than real
 * time.
 */

/** Handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly id: unknown };

/** A monotonic clock with timers. All values are ms. */
export interface Clock {
  /** Monotonic time in ms (only differences are meaningful). */
  now(): number;
  /** Calls `fn` once after `ms` of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Real time, from `performance.now()`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms) }),
  clearTimeout: (handle) => clearTimeout(handle.id as NodeJS.Timeout),
};

interface VirtualTimer {
  at: number;
  seq: number;
  fn: () => void;
  handle: TimerHandle;
}

/**
 * A clock whose time moves only when its owner advances it; due timers fire in time order as it passes them.
 *
 * Replay drives the pipeline with it: packets are pushed at their exact recorded times and every pipeline timer
 * (silence fill, idle close) fires at its exact meeting time, however busy the machine is, while the owner paces
 * the advance against wall time (real time, or faster for local servers).
 */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: VirtualTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = { id: ++this.#seq };
    this.#timers.push({ at: this.#now + Math.max(0, ms), seq: this.#seq, fn, handle });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.handle !== handle);
  }

  /** Moves time to `time` (ms; never backwards), firing every timer due on the way, in order. */
  advanceTo(time: number): void {
    for (;;) {
      let next: VirtualTimer | undefined;
      for (const timer of this.#timers) {
        if (timer.at <= time && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
      }
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = Math.max(this.#now, time);
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }
}
