/**
 * Replay streams its input: a recording an hour long is decoded, converted and packetised in the memory of a
 * short one. Memory is read after a full garbage collection (retained memory, not timing), so the check is
 * deterministic on a busy machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAudioFile } from '../../src/replay/audio-file.ts';
import { READ_BYTES } from '../../src/replay/audio-decoders.ts';
import { DISCORD_SAMPLE_RATE, discordOpusFrames, discordOpusPackets, OPUS_SILENCE_FRAME, SILENCE_FRAME_COUNT } from '../../src/replay/discord-opus.ts';
import { mergeByTime } from '../../src/replay/schedule.ts';
import { writeLongWav } from '../support/long-wav.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and array-buffer memory still reachable after a full collection, MB. */
function retainedMb(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return (usage.heapUsed + usage.arrayBuffers) / 2 ** 20;
}

const RATE = 48_000; // Discord's rate: no resampling, so the hour runs in a few seconds
const MINUTES = 60;
/** One minute of a Craig-style track: 1 s of a 440 Hz tone at about −20 dBFS, then 59 s of digital silence. */
const unit = Float32Array.from({ length: 60 * RATE }, (_, i) => (i < RATE ? 0.14 * Math.sin((2 * Math.PI * 440 * i) / RATE) : 0));

let dir = '';
let path = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-stream-'));
  path = join(dir, 'hour.wav');
  await writeLongWav(path, { sampleRate: RATE, unit, repeats: MINUTES, bits: 8 }); // 173 MB, one unit in memory
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('replay of an hour-long track', () => {
  it('holds no more at minute 59 than at minute 10, and never a block larger than one read', async () => {
    const before = retainedMb();
    const audio = await openAudioFile(path);
    expect(audio.frames).toBe(MINUTES * 60 * RATE);
    let largestBlock = 0;
    async function* measured(): AsyncGenerator<Float32Array[]> {
      for await (const block of audio.blocks()) {
        largestBlock = Math.max(largestBlock, block[0]!.length);
        yield block;
      }
    }
    const speaker = { id: 'hour', name: 'hour' };
    const source = discordOpusPackets(measured(), { sampleRate: audio.sampleRate, channels: audio.channels });
    const retainedAt = new Map<number, number>();
    let speech = 0;
    let silence = 0;
    for await (const packet of mergeByTime([{ speaker, packets: source }])) {
      if (packet.packet.equals(OPUS_SILENCE_FRAME)) silence++;
      else speech++;
      const minute = Math.floor(packet.atMs / 60_000);
      // Sampled at the first packet of minutes 10 and 59, while the file is being read.
      if ((minute === 10 || minute === 59) && !retainedAt.has(minute)) retainedAt.set(minute, retainedMb() - before);
    }
    // Every minute's tone arrived: 50 packets of tone, 10 of hangover (200 ms), then the five silence frames.
    expect(speech).toBe(MINUTES * 60);
    expect(silence).toBe(MINUTES * SILENCE_FRAME_COUNT);
    // The decoder hands over at most one read (64 KiB of 8-bit mono = 65,536 samples) at a time.
    expect(largestBlock).toBeGreaterThan(0);
    expect(largestBlock).toBeLessThanOrEqual(READ_BYTES);
    const at10 = retainedAt.get(10)!;
    const at59 = retainedAt.get(59)!;
    // A whole-file design holds 4 bytes per sample decoded so far: 115 MB at minute 10, 680 MB at minute 59.
    expect(at10, 'MB retained at minute 10').toBeLessThan(8);
    expect(at59 - at10, 'MB more retained at minute 59 than at 10').toBeLessThan(2);
  }, 120_000);
});

describe('replay of many tracks at once', () => {
  it('plays 40 tracks together: only the tracks transmitting at the moment hold a libopus encoder', async () => {
    // opusscript's instances share one WebAssembly heap that holds about 20 encoders; replay reads every track one
    // packet ahead, so a track must not hold an encoder while it merely waits for its turn.
    const tracks = 40;
    const sources = Array.from({ length: tracks }, (_, i) => {
      // Track i: i × 300 ms of silence, then 200 ms of tone (at most two transmissions overlap).
      const samples = Float32Array.from({ length: Math.round((i * 0.3 + 0.2) * DISCORD_SAMPLE_RATE) }, (_, n) =>
        n >= i * 0.3 * DISCORD_SAMPLE_RATE ? 0.1 * Math.sin((2 * Math.PI * 440 * n) / DISCORD_SAMPLE_RATE) : 0,
      );
      return { speaker: { id: `t${i}`, name: `t${i}` }, packets: discordOpusFrames([[samples]], { sampleRate: DISCORD_SAMPLE_RATE, channels: 1 }) };
    });
    const perTrack = new Map<string, number>();
    for await (const packet of mergeByTime(sources)) {
      expect(packet.packet.length).toBeGreaterThan(0);
      perTrack.set(packet.speaker.name, (perTrack.get(packet.speaker.name) ?? 0) + 1);
    }
    // Each: 10 tone frames, 10 of hangover, 5 silence frames.
    expect([...perTrack.values()]).toEqual(Array.from({ length: tracks }, () => 25));
  });
});
