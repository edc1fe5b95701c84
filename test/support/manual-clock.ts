/**
 * A clock whose time moves only when the test advances it: timers fire in order, deterministically.
 */
import type { Clock, TimerHandle } from '../../src/clock.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  handle: TimerHandle;
}

/** A {@link Clock} driven by {@link ManualClock.advance}. */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #pending: Pending[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = { id: ++this.#seq };
    this.#pending.push({ at: this.#now + Math.max(0, ms), seq: this.#seq, fn, handle });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((p) => p.handle !== handle);
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in time order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#pending[0];
      if (next === undefined || next.at > target) break;
      this.#pending.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#pending.length;
  }
}
