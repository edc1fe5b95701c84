/**
 * Per-speaker Opus decoding: many decoders at once, packets held while a decoder starts, and decoder failures
 * told apart from corrupt packets. Failures are forced through the decoder factory: a real opus-decoder that
 * throws the error opusscript throws past its shared heap (`RuntimeError: memory access out of bounds`), or
 * one that never starts, or one that calls good packets corrupt.
 */
import { describe, expect, it } from 'vitest';
import OpusScript from 'opusscript';
import {
  CORRUPT_RUN_BEFORE_RETRY,
  MAX_PENDING_PACKETS,
  OpusPacketDecoder,
  createLibopusDecoder,
  floatToS16le,
  type OpusBackend,
  type OpusBackendFactory,
} from '../../src/audio/opus-decoder.ts';
import { tonePackets } from '../support/tone.ts';
import { alignAndMeasure } from '../support/snr.ts';
import { samplesOf } from '../support/pipeline-harness.ts';

interface Decoded {
  pcm: Buffer;
  arrivalMs: number;
}

function collect(createDecoder?: OpusBackendFactory, startDeadlineMs?: number) {
  const out: Decoded[] = [];
  const replaced: Error[] = [];
  const failed: Error[] = [];
  const decoder = new OpusPacketDecoder({
    onPcm: (pcm, _packet, arrivalMs) => out.push({ pcm, arrivalMs }),
    onReplaced: (error) => replaced.push(error),
    onFailed: (error) => failed.push(error),
    ...(createDecoder === undefined ? {} : { createDecoder }),
    ...(startDeadlineMs === undefined ? {} : { startDeadlineMs }),
  });
  return { decoder, out, replaced, failed };
}

/** The error a WebAssembly trap throws (the TypeScript lib in use does not declare `WebAssembly`). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError;

/** A real decoder that throws a WebAssembly trap on its `failAt`-th decode and after (1-based). */
function trapping(failAt: number): OpusBackend {
  const real = createLibopusDecoder();
  let decodes = 0;
  return {
    ready: real.ready,
    free: () => real.free(),
    decodeFrame: (packet) => {
      if (++decodes >= failAt) throw new WasmRuntimeError('memory access out of bounds');
      return real.decodeFrame(packet);
    },
  };
}

/** Hands out the given backends in order, then real decoders; counts creations and frees. */
function sequence(...first: Array<() => OpusBackend>) {
  const counts = { created: 0, freed: 0 };
  const factory: OpusBackendFactory = () => {
    const make = first[counts.created] ?? createLibopusDecoder;
    counts.created++;
    const backend = make();
    return {
      ready: backend.ready,
      decodeFrame: (packet) => backend.decodeFrame(packet),
      free: () => {
        counts.freed++;
        backend.free();
      },
    };
  };
  return { factory, counts };
}

const arrivals = (n: number, from = 20) => Array.from({ length: n }, (_, i) => from + i * 20);

describe('OpusPacketDecoder', () => {
  it('decodes 60 speakers at once, each to 16 kHz mono s16le like an independent libopus decode', async () => {
    const packets = tonePackets(50, 330, 12_000);
    const reference = new OpusScript(16_000, 1, OpusScript.Application.AUDIO);
    const expected = samplesOf(Buffer.concat(packets.map((p) => Buffer.from(reference.decode(p)))));
    reference.delete();

    const speakers = Array.from({ length: 60 }, () => collect());
    for (const { decoder } of speakers) for (const [i, packet] of packets.entries()) decoder.push(packet, (i + 1) * 20);
    await Promise.all(speakers.map(({ decoder }) => decoder.settled()));
    for (const [n, { decoder, out, failed }] of speakers.entries()) {
      expect(failed, `speaker ${n}`).toEqual([]);
      expect(decoder.decodedPackets, `speaker ${n}`).toBe(50);
      expect(out.every((d) => d.pcm.length === 640)).toBe(true); // 20 ms at 16 kHz, 2 bytes a sample
      expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(50));
    }
    const first = speakers[0]?.out ?? [];
    const result = alignAndMeasure(expected, samplesOf(Buffer.concat(first.map((d) => d.pcm))), { maxLagSamples: 16 });
    expect(result.lagSamples).toBe(0);
    expect(result.snrDb).toBeGreaterThanOrEqual(40);
    for (const { decoder } of speakers) decoder.destroy();
  });

  it('holds the packets that arrive while the decoder starts and decodes them in order with their arrival times', async () => {
    const { decoder, out } = collect();
    expect(decoder.status).toBe('starting');
    for (const [i, packet] of tonePackets(10).entries()) decoder.push(packet, (i + 1) * 20);
    expect(out).toHaveLength(0);
    expect(decoder.pendingPackets).toBe(10);
    await decoder.settled();
    expect(decoder.status).toBe('ready');
    expect(decoder.pendingPackets).toBe(0);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(10));
    decoder.destroy();
  });

  it('treats a start-up that outlasts its deadline as a fault: replaced, and the held packets decoded on the replacement', async () => {
    const { factory, counts } = sequence(() => ({ ready: new Promise<void>(() => {}), decodeFrame: () => ({ channelData: [], samplesDecoded: 0, errors: [] }), free: () => {} }));
    const { decoder, out, replaced, failed } = collect(factory, 20);
    for (const [i, packet] of tonePackets(30).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled(); // the 20 ms deadline passes, the replacement starts and decodes what was held
    expect(replaced.map((e) => e.message)).toEqual(['Opus decoder did not start within 20 ms']);
    expect(failed).toEqual([]);
    expect(decoder.lostPackets).toBe(0);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(30));
    decoder.destroy();
    expect(counts.created).toBe(2);
  });

  it('holds at most MAX_PENDING_PACKETS while a decoder starts, dropping and counting the oldest', async () => {
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { factory } = sequence(() => {
      const real = createLibopusDecoder();
      return { ready: real.ready.then(() => gate), decodeFrame: (p: Uint8Array) => real.decodeFrame(p), free: () => real.free() };
    });
    const { decoder, out, replaced } = collect(factory);
    const [packet = Buffer.alloc(0)] = tonePackets(1);
    const total = MAX_PENDING_PACKETS + 10;
    for (let i = 0; i < total; i++) decoder.push(packet, (i + 1) * 20);
    expect(decoder.pendingPackets).toBe(MAX_PENDING_PACKETS);
    open();
    await decoder.settled();
    expect(replaced).toEqual([]);
    expect(decoder.lostPackets).toBe(10);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(MAX_PENDING_PACKETS, 11 * 20));
    decoder.destroy();
  });

  it('replaces a decoder that throws and decodes the same packet again on the replacement: nothing is lost', async () => {
    const { factory, counts } = sequence(() => trapping(30));
    const { decoder, out, replaced, failed } = collect(factory);
    await decoder.settled();
    for (const [i, packet] of tonePackets(100).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled();
    expect(replaced.map(String)).toEqual(['RuntimeError: memory access out of bounds']);
    expect(failed).toEqual([]);
    expect(decoder.replacements).toBe(1);
    expect(decoder.corruptPackets).toBe(0);
    expect(decoder.lostPackets).toBe(0);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(100));
    decoder.destroy();
    expect(counts).toEqual({ created: 2, freed: 2 });
  });

  it('treats a libopus error about the decoder itself (OPUS_INVALID_STATE) as a fault, not a corrupt packet', async () => {
    const invalidState = () => {
      const real = createLibopusDecoder();
      let decodes = 0;
      return {
        ready: real.ready,
        free: () => real.free(),
        decodeFrame: (packet: Uint8Array) =>
          ++decodes === 10 ? { channelData: [], samplesDecoded: 0, errors: [{ message: 'libopus -6 OPUS_INVALID_STATE: An encoder or decoder structure is invalid or already freed' }] } : real.decodeFrame(packet),
      };
    };
    const { factory } = sequence(invalidState);
    const { decoder, out, replaced } = collect(factory);
    await decoder.settled();
    for (const [i, packet] of tonePackets(30).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled();
    expect(replaced.map((e) => e.message)).toEqual([expect.stringContaining('OPUS_INVALID_STATE')]);
    expect(decoder.corruptPackets).toBe(0);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(30));
    decoder.destroy();
  });

  it('gives the speaker up, once, when the replacement fails too', async () => {
    const { factory, counts } = sequence(() => trapping(10), () => trapping(3));
    const { decoder, out, replaced, failed } = collect(factory);
    await decoder.settled();
    for (const [i, packet] of tonePackets(40).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled();
    expect(replaced).toHaveLength(1);
    expect(failed.map(String)).toEqual(['RuntimeError: memory access out of bounds']);
    expect(decoder.status).toBe('failed');
    // 9 decoded by the first decoder, 2 by the replacement; the packet it failed on and the rest are lost.
    expect(out).toHaveLength(11);
    expect(decoder.lostPackets).toBe(40 - 11);
    expect(counts).toEqual({ created: 2, freed: 2 });
    decoder.destroy();
  });

  it('gives the speaker up when the replacement cannot start', async () => {
    const { factory } = sequence(() => trapping(5), () => ({ ready: Promise.reject(new Error('WebAssembly.instantiate(): Out of memory')), decodeFrame: () => ({ channelData: [], samplesDecoded: 0, errors: [] }), free: () => {} }));
    const { decoder, replaced, failed } = collect(factory);
    await decoder.settled();
    for (const [i, packet] of tonePackets(20).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled();
    expect(replaced).toHaveLength(1);
    expect(failed.map((e) => e.message)).toEqual(['WebAssembly.instantiate(): Out of memory']);
    expect(decoder.decodedPackets).toBe(4);
    expect(decoder.lostPackets).toBe(16);
  });

  it('counts corrupt packets as corrupt, not as a failing decoder: the speaker keeps being decoded', async () => {
    const { decoder, out, failed } = collect();
    await decoder.settled();
    const garbage = [Buffer.alloc(0), Buffer.from([0xff, 0x00, 0x13]), Buffer.alloc(5_000, 0x11)];
    for (let i = 0; i < 300; i++) {
      decoder.push(garbage[i % garbage.length] ?? Buffer.alloc(0), (i + 1) * 20);
      if (i % 20 === 19) await decoder.settled(); // packets arrive over 6 s, not all at once
    }
    for (const [i, packet] of tonePackets(5).entries()) decoder.push(packet, 10_000 + i * 20);
    await decoder.settled();
    expect(decoder.corruptPackets).toBe(300);
    expect(failed).toEqual([]);
    expect(decoder.replacements).toBe(1); // one fresh decoder tried for the whole run of corrupt packets
    expect(out).toHaveLength(5);
    decoder.destroy();
  });

  it('finds out a decoder that calls good packets corrupt: after a run of them a fresh one decodes the rest', async () => {
    const calledCorrupt = () => {
      const real = createLibopusDecoder();
      return { ready: real.ready, free: () => real.free(), decodeFrame: () => ({ channelData: [], samplesDecoded: 0, errors: [{ message: 'libopus -4 OPUS_INVALID_PACKET: The compressed data passed is corrupted' }] }) };
    };
    const { factory } = sequence(calledCorrupt);
    const { decoder, out, failed } = collect(factory);
    await decoder.settled();
    for (const [i, packet] of tonePackets(60).entries()) decoder.push(packet, (i + 1) * 20);
    await decoder.settled();
    expect(failed).toEqual([]);
    expect(decoder.replacements).toBe(1);
    expect(decoder.corruptPackets).toBe(CORRUPT_RUN_BEFORE_RETRY);
    expect(out.map((d) => d.arrivalMs)).toEqual(arrivals(60 - CORRUPT_RUN_BEFORE_RETRY, (CORRUPT_RUN_BEFORE_RETRY + 1) * 20));
    decoder.destroy();
  });

  it('frees every decoder it creates: on destroy, and one destroyed while still starting', async () => {
    const { factory, counts } = sequence();
    const started = Array.from({ length: 3 }, () => collect(factory).decoder);
    await Promise.all(started.map((d) => d.settled()));
    const starting = Array.from({ length: 2 }, () => collect(factory).decoder);
    for (const d of [...started, ...starting]) d.destroy();
    await Promise.all(starting.map((d) => d.settled()));
    expect(counts).toEqual({ created: 5, freed: 5 });
  });
});

describe('floatToS16le', () => {
  it('scales by 32,768 like libopus, rounds, and clamps out-of-range samples', () => {
    const pcm = floatToS16le(new Float32Array([0, 0.5, -0.5, 1, -1, 1.5, -1.5, 1 / 32_768, 0.99999]));
    expect(Array.from(samplesOf(pcm))).toEqual([0, 16_384, -16_384, 32_767, -32_768, 32_767, -32_768, 1, 32_767]);
  });
});
