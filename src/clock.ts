/**
 * The time source for the caption pipeline. Live meetings use the system clock; replay can run the same pipeline
 * faster than real time with an accelerated clock, so every timer (silence fill, idle close) keeps its meaning in
 * meeting time.
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

/**
 * A clock that runs `speed` times faster than real time: `now()` advances `speed` ms per real ms and a timer of
 * `ms` fires after `ms / speed` real ms.
 *
 * @throws {RangeError} if `speed` is not a positive finite number.
 */
export function acceleratedClock(speed: number): Clock {
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, got ${speed}`);
  if (speed === 1) return systemClock;
  const origin = performance.now();
  return {
    now: () => origin + (performance.now() - origin) * speed,
    setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms / speed) }),
    clearTimeout: (handle) => clearTimeout(handle.id as NodeJS.Timeout),
  };
}
