import { describe, expect, it } from 'vitest';
import { speechFixture } from './fixtures.ts';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { alignAndMeasure } from './snr.ts';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller) from a seeded generator. */
function gaussian(seed: number): () => number {
  const next = random(seed);
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Speech-like test signal: bursts of noise under a slow envelope, with silent stretches. */
function bursts(length: number, seed: number): Int16Array {
  const noise = gaussian(seed);
  return Int16Array.from({ length }, (_, i) => {
    const envelope = Math.max(0, Math.sin((2 * Math.PI * i) / 9000));
    return Math.round(3000 * envelope * noise());
  });
}

/**
 * `reference` delayed by `lag` samples (advanced when negative), plus white noise of the given
 * power relative to the reference's mean power over the overlap, and `extra` more samples at the end.
 */
function delayed(reference: Int16Array, lag: number, snrDb: number, extra = 0, seed = 7): Int16Array {
  const out = new Int16Array(reference.length + lag + extra);
  let power = 0;
  for (const x of reference) power += x * x;
  const sigma = Math.sqrt(power / reference.length / 10 ** (snrDb / 10));
  const noise = gaussian(seed);
  for (let i = 0; i < out.length; i++) {
    const source = i - lag;
    const clean = source >= 0 && source < reference.length ? reference[source]! : 0;
    out[i] = Math.round(clean + sigma * noise());
  }
  return out;
}

describe('alignAndMeasure', () => {
  it('finds a known delay and the SNR of added noise', () => {
    const reference = bursts(160_000, 1);
    const received = delayed(reference, 437, 20, 1000);
    const result = alignAndMeasure(reference, received);
    expect(result.lagSamples).toBe(437);
    expect(result.snrDb).toBeGreaterThan(19.7);
    expect(result.snrDb).toBeLessThan(20.3);
    expect(result.durationRatio).toBe(received.length / reference.length);
  });

  it('finds a negative delay (received starts early)', () => {
    const reference = bursts(48_000, 2);
    const received = delayed(reference, -250, 10);
    const result = alignAndMeasure(reference, received, { maxLagSamples: 400 });
    expect(result.lagSamples).toBe(-250);
    expect(result.snrDb).toBeGreaterThan(9.5);
    expect(result.snrDb).toBeLessThan(10.5);
    expect(result.durationRatio).toBeCloseTo((48_000 - 250) / 48_000, 12);
  });

  it('measures a pure gain error exactly: half amplitude is 6.02 dB', () => {
    const reference = bursts(20_000, 3).map((x) => x - (x % 2)); // even values halve exactly
    const result = alignAndMeasure(reference, reference.map((x) => x / 2));
    expect(result.lagSamples).toBe(0);
    expect(result.snrDb).toBeCloseTo(10 * Math.log10(4), 6);
  });

  it('reports an exact copy as lag 0 and infinite SNR', () => {
    const reference = bursts(10_000, 4);
    expect(alignAndMeasure(reference, reference.slice())).toEqual({ lagSamples: 0, snrDb: Infinity, durationRatio: 1 });
  });

  it('searches no further than maxLagSamples', () => {
    const reference = bursts(48_000, 5);
    const received = delayed(reference, 437, 30);
    const result = alignAndMeasure(reference, received, { maxLagSamples: 100 });
    expect(Math.abs(result.lagSamples)).toBeLessThanOrEqual(100);
    expect(result.snrDb).toBeLessThan(3);
  });

  it('aligns real speech (katiesteve.wav, 29.5 s at 16 kHz) despite its pitch periodicity', async () => {
    const { channels } = await readAudioFile(speechFixture('katiesteve.wav'));
    const reference = Int16Array.from(channels[0]!, (x) => Math.round(x * 32767));
    const received = delayed(reference, 1234, 25);
    const result = alignAndMeasure(reference, received);
    expect(result.lagSamples).toBe(1234);
    expect(result.snrDb).toBeGreaterThan(24.5);
    expect(result.snrDb).toBeLessThan(25.5);
  });

  it('rejects empty signals and a bad lag bound', () => {
    const signal = bursts(1000, 6);
    expect(() => alignAndMeasure(new Int16Array(0), signal)).toThrow(RangeError);
    expect(() => alignAndMeasure(signal, new Int16Array(0))).toThrow(RangeError);
    expect(() => alignAndMeasure(signal, signal, { maxLagSamples: -1 })).toThrow(/maxLagSamples/);
    expect(() => alignAndMeasure(signal, signal, { maxLagSamples: 1.5 })).toThrow(/maxLagSamples/);
  });
});
