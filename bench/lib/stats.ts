/**
 * Small measuring helpers shared by the bench parts: CPU time, percentiles, sliding windows, memory.
 */
import { setImmediate as immediate } from 'node:timers/promises';

/** CPU time (user + system) this process has used, ms. Covers every thread of the process (GC, libuv). */
export function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Starts a CPU stopwatch; the returned function gives user and system CPU ms since the start. */
export function cpuStopwatch(): () => { userMs: number; systemMs: number; totalMs: number } {
  const start = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(start);
    return { userMs: d.user / 1000, systemMs: d.system / 1000, totalMs: (d.user + d.system) / 1000 };
  };
}

/** Wall time, ms (monotonic). */
export function wallMs(): number {
  return performance.now();
}

/**
 * A wall-clock instant comparable across processes on this machine, ms since the epoch with sub-ms resolution
 * (`performance.timeOrigin + performance.now()`).
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Yields to the event loop once (socket reads and writes, timers due now). */
export function yieldToLoop(): Promise<void> {
  return immediate();
}

/**
 * The p-th percentile (0–100) of `values`, by linear interpolation between closest ranks (NumPy's default).
 * @returns NaN for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low] ?? Number.NaN;
  const b = sorted[high] ?? Number.NaN;
  return a + (b - a) * (rank - low);
}

/** Median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Arithmetic mean (NaN when empty). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** The largest number of `times` (ms) inside any window `[t, t + windowMs)`. */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Process memory in MB (1 MB = 2^20 bytes). */
export interface MemorySample {
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  arrayBuffersMb: number;
}

/** Current memory; runs a full GC first when the process was started with `--expose-gc`. */
export function memorySample(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) };
}

/** A deterministic pseudo-random generator (mulberry32), so every run builds the same meeting. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
