import { readFile } from 'node:fs/promises';
import { FIXTURES_DIR } from '../support/fixtures.ts';
import { oggOpusFixture } from '../support/ogg-opus.ts';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import {
  DISCORD_CHANNELS,
  DISCORD_FRAME_MS,
  DISCORD_FRAME_SAMPLES,
  DISCORD_SAMPLE_RATE,
  OPUS_SILENCE_FRAME,
  SILENCE_FRAME_COUNT,
  discordOpusPackets,
  encodeDiscordOpus,
  toDiscordPcm,
  type TimedOpusPacket,
} from '../../src/replay/discord-opus.ts';
import { alignAndMeasure } from '../support/snr.ts';

const FIXTURES = join(FIXTURES_DIR, 'speech');
/** Manifest segment times are pocketsphinx word timings, ±0.2 s. */
const SEGMENT_UNCERTAINTY_MS = 200;
/** Opus's algorithmic delay at 48 kHz: 2.5 ms look-ahead + 4 ms delay compensation = 312 samples (libopus opus_encoder.c). */
const OPUS_DELAY_SAMPLES = 312;

interface Segment {
  start: number;
  end: number;
}

const isSilence = (p: TimedOpusPacket) => p.packet.equals(OPUS_SILENCE_FRAME);

/** Decodes packets with a fresh 48 kHz stereo decoder and places each 20 ms at its time; silence stays zero. */
function decodePlaced(packets: TimedOpusPacket[], lengthSamples: number): { left: Int16Array; right: Int16Array } {
  const decoder = new OpusScript(DISCORD_SAMPLE_RATE, DISCORD_CHANNELS);
  const left = new Int16Array(lengthSamples);
  const right = new Int16Array(lengthSamples);
  try {
    for (const { atMs, packet } of packets) {
      const pcm = decoder.decode(packet);
      expect(pcm.length).toBe(DISCORD_FRAME_SAMPLES * DISCORD_CHANNELS * 2);
      const start = ((atMs - DISCORD_FRAME_MS) * DISCORD_SAMPLE_RATE) / 1000;
      for (let i = 0; i < DISCORD_FRAME_SAMPLES && start + i < lengthSamples; i++) {
        left[start + i] = pcm.readInt16LE(i * 4);
        right[start + i] = pcm.readInt16LE(i * 4 + 2);
      }
    }
  } finally {
    decoder.delete();
  }
  return { left, right };
}

/** Mono 48 kHz track: `[seconds, amplitude]` pieces of a 440 Hz sine (amplitude 0 = digital silence). */
function tonePieces(pieces: [number, number][]): { sampleRate: number; channels: Float32Array[] } {
  const total = pieces.reduce((sum, [seconds]) => sum + Math.round(seconds * DISCORD_SAMPLE_RATE), 0);
  const out = new Float32Array(total);
  let at = 0;
  for (const [seconds, amplitude] of pieces) {
    const n = Math.round(seconds * DISCORD_SAMPLE_RATE);
    for (let i = 0; i < n; i++) out[at + i] = amplitude * Math.sin((2 * Math.PI * 440 * (at + i)) / DISCORD_SAMPLE_RATE);
    at += n;
  }
  return { sampleRate: DISCORD_SAMPLE_RATE, channels: [out] };
}

/** atMs values from `fromMs` to `toMs` inclusive, every 20 ms. */
const slots = (fromMs: number, toMs: number) => Array.from({ length: (toMs - fromMs) / 20 + 1 }, (_, i) => fromMs + i * 20);

/** Compact description: times of speech packets and of silence frames. */
function schedule(packets: TimedOpusPacket[]): { speech: number[]; silence: number[] } {
  return { speech: packets.filter((p) => !isSilence(p)).map((p) => p.atMs), silence: packets.filter(isSilence).map((p) => p.atMs) };
}

function rms(samples: ArrayLike<number>, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / (to - from));
}

describe('Discord frame constants', () => {
  it('describe 20 ms of 48 kHz stereo and the 3-byte silence frame', () => {
    expect(DISCORD_SAMPLE_RATE).toBe(48_000);
    expect(DISCORD_CHANNELS).toBe(2);
    expect(DISCORD_FRAME_MS).toBe(20);
    expect(DISCORD_FRAME_SAMPLES).toBe((DISCORD_SAMPLE_RATE * DISCORD_FRAME_MS) / 1000);
    expect([...OPUS_SILENCE_FRAME]).toEqual([0xf8, 0xff, 0xfe]);
    expect(SILENCE_FRAME_COUNT).toBe(5);
  });
});

describe('encodeDiscordOpus on katiesteve.wav (16 kHz mono conversation)', () => {
  let packets: TimedOpusPacket[] = [];
  let segments: Segment[] = [];
  let resampledLeft: Float32Array = new Float32Array(0);

  beforeAll(async () => {
    const manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8')) as { file: string; segments?: Segment[] }[];
    segments = manifest.find((entry) => entry.file === 'katiesteve.wav')!.segments!;
    const audio = await readAudioFile(join(FIXTURES, 'katiesteve.wav'));
    resampledLeft = (await toDiscordPcm(audio)).channels[0];
    packets = await encodeDiscordOpus(audio);
  });

  it('sends packets at strictly increasing multiples of 20 ms', () => {
    expect(packets.length).toBeGreaterThan(1000);
    let previous = 0;
    for (const { atMs, packet } of packets) {
      expect(atMs % DISCORD_FRAME_MS).toBe(0);
      expect(atMs).toBeGreaterThan(previous);
      expect(packet.length).toBeGreaterThan(0);
      previous = atMs;
    }
  });

  it('sends nothing in the long silences between the manifest segments', () => {
    expect(segments.length).toBe(6);
    for (let s = 1; s < segments.length; s++) {
      // After the previous speaker's last word: hangover (200 ms) + five silence frames (100 ms).
      const quietFrom = segments[s - 1]!.end * 1000 + SEGMENT_UNCERTAINTY_MS + 200 + 100;
      const quietTo = segments[s]!.start * 1000 - SEGMENT_UNCERTAINTY_MS;
      expect(quietTo - quietFrom).toBeGreaterThanOrEqual(100);
      const inside = packets.filter((p) => p.atMs - DISCORD_FRAME_MS < quietTo && p.atMs > quietFrom);
      expect(inside, `packets between ${quietFrom} and ${quietTo} ms`).toEqual([]);
    }
  });

  it('ends every transmission with exactly five silence frames, and only then stops', () => {
    const pausesAfter: number[] = []; // index of the last packet before each pause (and of the last packet)
    for (let i = 0; i < packets.length; i++) {
      const next = packets[i + 1];
      if (!next || next.atMs - packets[i]!.atMs > DISCORD_FRAME_MS) pausesAfter.push(i);
    }
    expect(pausesAfter.length).toBeGreaterThanOrEqual(segments.length);
    for (const last of pausesAfter) {
      const tail = packets.slice(last - SILENCE_FRAME_COUNT + 1, last + 1);
      expect(tail.every(isSilence)).toBe(true);
      expect(tail.map((p) => p.atMs)).toEqual(slots(tail[0]!.atMs, packets[last]!.atMs));
      expect(isSilence(packets[last - SILENCE_FRAME_COUNT]!)).toBe(false);
    }
    // Silence frames elsewhere are runs cut short by speech resuming: fewer than five, speech right after.
    for (let i = 0; i < packets.length; i++) {
      if (!isSilence(packets[i]!) || pausesAfter.some((last) => i > last - SILENCE_FRAME_COUNT && i <= last)) continue;
      let end = i;
      while (isSilence(packets[end + 1]!)) end++;
      expect(end - i + 1).toBeLessThan(SILENCE_FRAME_COUNT);
      expect(packets[end + 1]!.atMs - packets[end]!.atMs).toBe(DISCORD_FRAME_MS);
      i = end;
    }
  });

  it('decodes, placed at the packet times, to the resampled input (measured 7.8 dB SNR over the voiced parts)', () => {
    const lastEnd = packets.at(-1)!.atMs;
    const { left } = decodePlaced(packets, (lastEnd * DISCORD_SAMPLE_RATE) / 1000);
    // Reference: the resampled input where speech (or hangover) packets were sent, zero elsewhere.
    const reference = new Int16Array(resampledLeft.length);
    for (const { atMs } of packets.filter((p) => !isSilence(p))) {
      const start = ((atMs - DISCORD_FRAME_MS) * DISCORD_SAMPLE_RATE) / 1000;
      for (let i = start; i < start + DISCORD_FRAME_SAMPLES && i < reference.length; i++) {
        reference[i] = Math.round(resampledLeft[i]! * 32767);
      }
    }
    const result = alignAndMeasure(reference, left, { maxLagSamples: 2400 });
    // libopus VOIP mode (SILK noise shaping, high-pass) is perceptual, not waveform-exact: 7.8 dB
    // measured at 64 kbit/s, where a misplaced or mis-resampled packet stream measures ≤ 0 dB. Each transmission
    // has its own encoder while the decoder, like a listener's, carries on across them (one encoder for the whole
    // track measures 8.7 dB).
    expect(result.snrDb).toBeGreaterThan(6);
    expect(Math.abs(result.lagSamples - OPUS_DELAY_SAMPLES)).toBeLessThanOrEqual(8);
    // The packets span the track: the last one (end of the final tail) is within 5 % of its end.
    expect(result.durationRatio).toBeGreaterThan(0.95);
    expect(result.durationRatio).toBeLessThan(1.05);
  });
});

describe('encodeDiscordOpus voice activity', () => {
  const loud = 0.1; // −23 dBFS
  it('sends speech, 200 ms of hangover, five silence frames, then nothing', async () => {
    const packets = await encodeDiscordOpus(tonePieces([[1, 0], [0.5, loud], [1, 0]]));
    expect(schedule(packets)).toEqual({ speech: slots(1020, 1700), silence: slots(1720, 1800) });
  });

  it('follows hangoverMs, including 0 and values between frames', async () => {
    const track = tonePieces([[1, 0], [0.5, loud], [1, 0]]);
    expect(schedule(await encodeDiscordOpus(track, { hangoverMs: 0 }))).toEqual({ speech: slots(1020, 1500), silence: slots(1520, 1600) });
    expect(schedule(await encodeDiscordOpus(track, { hangoverMs: 30 }))).toEqual({ speech: slots(1020, 1520), silence: slots(1540, 1620) });
  });

  it('keeps sending through a pause shorter than the hangover', async () => {
    const packets = await encodeDiscordOpus(tonePieces([[1, 0], [0.5, loud], [0.1, 0], [0.5, loud], [1, 0]]));
    expect(schedule(packets)).toEqual({ speech: slots(1020, 2300), silence: slots(2320, 2400) });
  });

  it('cuts the silence frames short when speech resumes during them', async () => {
    const packets = await encodeDiscordOpus(tonePieces([[1, 0], [0.5, loud], [0.26, 0], [0.24, loud], [1, 0]]));
    expect(schedule(packets)).toEqual({ speech: [...slots(1020, 1700), ...slots(1780, 2200)], silence: [...slots(1720, 1760), ...slots(2220, 2300)] });
    expect(packets.map((p) => p.atMs)).toEqual(slots(1020, 2300)); // no pause at all
  });

  it('finishes a track that ends mid-speech as if the microphone went quiet', async () => {
    const packets = await encodeDiscordOpus(tonePieces([[0.5, 0], [0.5, loud]]));
    expect(schedule(packets)).toEqual({ speech: slots(520, 1200), silence: slots(1220, 1300) });
  });

  it('compares the frame level with vadThresholdDbfs', async () => {
    const quiet = tonePieces([[0.2, 0], [0.2, 10 ** (-55 / 20) * Math.SQRT2], [0.2, 0]]); // a −55 dBFS tone
    expect(await encodeDiscordOpus(quiet)).toEqual([]);
    expect(schedule(await encodeDiscordOpus(quiet, { vadThresholdDbfs: -60 })).speech[0]).toBe(220);
    expect(await encodeDiscordOpus(quiet, { vadThresholdDbfs: -54 })).toEqual([]);
  });

  it('returns nothing for an empty or silent track', async () => {
    expect(await encodeDiscordOpus({ sampleRate: 16_000, channels: [new Float32Array(0)] })).toEqual([]);
    expect(await encodeDiscordOpus({ sampleRate: 16_000, channels: [new Float32Array(16_000)] })).toEqual([]);
  });
});

describe('discordOpusPackets (streaming)', () => {
  it('sends the same packets whether a track comes whole or in blocks of any size', async () => {
    const audio = await readAudioFile(join(FIXTURES, 'stereo_diarization.wav')); // 16 kHz: resampled block by block
    const whole = await encodeDiscordOpus(audio);
    for (const size of [1, 4321, 16_000]) {
      function* blocks(): Generator<Float32Array[]> {
        for (let at = 0; at < audio.channels[0]!.length; at += size) yield audio.channels.map((channel) => channel.subarray(at, at + size));
      }
      const streamed: TimedOpusPacket[] = [];
      for await (const packet of discordOpusPackets(blocks(), { sampleRate: audio.sampleRate, channels: 2 })) streamed.push(packet);
      expect(streamed.map((p) => p.atMs), `blocks of ${size}`).toEqual(whole.map((p) => p.atMs));
      expect(streamed.every((p, i) => p.packet.equals(whole[i]!.packet)), `blocks of ${size}`).toBe(true);
    }
  });

  it('yields a block\'s packets before pulling the next block', async () => {
    const { channels: [tone] } = tonePieces([[0.5, 0.1], [0.5, 0]]);
    let pulled = 0;
    function* blocks(): Generator<Float32Array[]> {
      for (let at = 0; at < tone!.length; at += 4800) {
        pulled++;
        yield [tone!.subarray(at, at + 4800)]; // 100 ms
      }
    }
    const source = discordOpusPackets(blocks(), { sampleRate: DISCORD_SAMPLE_RATE, channels: 1 });
    expect((await source.next()).value?.atMs).toBe(20);
    expect(pulled).toBe(1);
    await source.return(undefined);
  });
});

describe('encodeDiscordOpus channels, rates and bitrate', () => {
  it('keeps stereo sides apart', async () => {
    const { channels: [tone] } = tonePieces([[1, 0.3]]);
    const packets = await encodeDiscordOpus({ sampleRate: DISCORD_SAMPLE_RATE, channels: [tone!, new Float32Array(tone!.length)] });
    const { left, right } = decodePlaced(packets, DISCORD_SAMPLE_RATE);
    expect(rms(right, 4800, 48_000)).toBeLessThan(rms(left, 4800, 48_000) / 100);
  });

  it('duplicates mono into both channels', async () => {
    const packets = await encodeDiscordOpus(tonePieces([[1, 0.3]]));
    const { left, right } = decodePlaced(packets, DISCORD_SAMPLE_RATE);
    expect(rms(left, 4800, 48_000) / (0.3 * 32767 * Math.SQRT1_2)).toBeCloseTo(1, 1);
    expect(rms(right, 4800, 48_000) / rms(left, 4800, 48_000)).toBeCloseTo(1, 1);
  });

  it('averages more than two channels into both, so a 5.1 centre channel is heard', async () => {
    const { channels: [tone] } = tonePieces([[1, 0.3]]);
    const silent = () => new Float32Array(tone!.length);
    const packets = await encodeDiscordOpus({ sampleRate: DISCORD_SAMPLE_RATE, channels: [silent(), silent(), tone!, silent(), silent(), silent()] });
    const { left, right } = decodePlaced(packets, DISCORD_SAMPLE_RATE);
    const expected = (0.3 / 6) * 32767 * Math.SQRT1_2;
    expect(rms(left, 4800, 48_000) / expected).toBeCloseTo(1, 1);
    expect(rms(right, 4800, 48_000) / expected).toBeCloseTo(1, 1);
  });

  it('encodes the two speakers of stereo_diarization.wav as separate tracks', async () => {
    const audio = await readAudioFile(join(FIXTURES, 'stereo_diarization.wav'));
    const [left, right] = await Promise.all(audio.channels.map((channel) => encodeDiscordOpus({ sampleRate: audio.sampleRate, channels: [channel] })));
    const speech = (packets: TimedOpusPacket[]) => packets.filter((p) => !isSilence(p)).length;
    // Left reads a long sentence, right a short one that starts later.
    expect(speech(left!)).toBeGreaterThan(1.5 * speech(right!));
    expect(right![0]!.atMs).toBeGreaterThan(left![0]!.atMs);
  });

  it('resamples to 48 kHz with the timing kept: a 1 kHz sine at 16 kHz becomes the same sine at 48 kHz', async () => {
    const sine = (rate: number, n: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate + 0.3));
    const { sampleRate, channels } = await toDiscordPcm({ sampleRate: 16_000, channels: [sine(16_000, 16_000)] });
    expect(sampleRate).toBe(48_000);
    expect(channels[0].length).toBe(48_000);
    expect(channels[1]).toBe(channels[0]);
    const toInt16 = (x: Float32Array) => Int16Array.from(x.subarray(2400, 45_600), (v) => Math.round(v * 32767));
    const result = alignAndMeasure(toInt16(sine(48_000, 48_000)), toInt16(channels[0]), { maxLagSamples: 100 });
    expect(result.lagSamples).toBe(0);
    expect(result.snrDb).toBeGreaterThan(40);
  });

  it('converts jfk.flac (44.1 kHz stereo) to exactly 11 s at 48 kHz and leaves 48 kHz audio alone', async () => {
    const jfk = await toDiscordPcm(await readAudioFile(join(FIXTURES, 'jfk.flac')));
    expect(jfk.channels[0].length).toBe(528_000);
    expect(jfk.channels[1].length).toBe(528_000);
    const opus = await readAudioFile(await oggOpusFixture());
    expect((await toDiscordPcm(opus)).channels[0]).toBe(opus.channels[0]);
  });

  it('sets the Opus bitrate: mean packet size follows bitrate × 20 ms', async () => {
    const opus = await readAudioFile(await oggOpusFixture());
    const excerpt = { sampleRate: opus.sampleRate, channels: [opus.channels[0]!.subarray(0, 3 * 48_000)] };
    for (const bitrate of [16_000, 96_000]) {
      const speech = (await encodeDiscordOpus(excerpt, { bitrate })).filter((p) => !isSilence(p));
      const meanBytes = speech.reduce((sum, p) => sum + p.packet.length, 0) / speech.length;
      expect(meanBytes / ((bitrate * 0.02) / 8)).toBeGreaterThan(0.65);
      expect(meanBytes / ((bitrate * 0.02) / 8)).toBeLessThan(1.35);
    }
  });

  it('rejects invalid options and audio', async () => {
    const track = tonePieces([[0.1, 0.1]]);
    for (const bitrate of [0, 499, 512_001, 64_000.5]) await expect(encodeDiscordOpus(track, { bitrate })).rejects.toThrow(/bitrate/);
    await expect(encodeDiscordOpus(track, { hangoverMs: -20 })).rejects.toThrow(/hangoverMs/);
    await expect(encodeDiscordOpus(track, { hangoverMs: Number.NaN })).rejects.toThrow(/hangoverMs/);
    await expect(encodeDiscordOpus(track, { vadThresholdDbfs: Number.NaN })).rejects.toThrow(/vadThresholdDbfs/);
    await expect(encodeDiscordOpus({ sampleRate: 16_000, channels: [] })).rejects.toThrow(RangeError);
    await expect(encodeDiscordOpus({ sampleRate: 16_000, channels: [new Float32Array(10), new Float32Array(11)] })).rejects.toThrow(/differ in length/);
    await expect(encodeDiscordOpus({ sampleRate: 0, channels: [new Float32Array(10)] })).rejects.toThrow(/cannot resample/);
  });
});
