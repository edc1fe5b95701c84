/**
 * A speaker's Ogg Opus track: the packets go in untouched, silence frames fill the pauses so the track follows
 * meeting time, and the file reads back through an independent demuxer (prism-media) and through replay's decoder.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import prism from 'prism-media';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILL_FRAME_20MS, FILL_FRAME_2_5MS, OpusTrack, PRE_SKIP, isFillFrame } from '../../src/recording/opus-track.ts';
import { oggCrc32, opusPacketSamples } from '../../src/recording/ogg-opus.ts';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { fixturePackets } from '../support/pipeline-harness.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';

let dir: string;
let speech: TimedOpusPacket[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-track-'));
  const [left] = await fixturePackets('stereo_diarization.wav', true);
  speech = left!;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every packet of an Ogg Opus file, headers included, by prism-media's demuxer. */
async function demux(path: string): Promise<Buffer[]> {
  const packets: Buffer[] = [];
  const demuxer = new prism.opus.OggDemuxer();
  demuxer.on('head', (head: Buffer) => packets.push(head));
  demuxer.on('tags', (tags: Buffer) => packets.push(tags));
  await new Promise<void>((resolve, reject) => {
    createReadStream(path).pipe(demuxer).on('data', (p: Buffer) => packets.push(p)).on('end', resolve).on('error', reject);
  });
  return packets;
}

/** Each page's granule position and whether its CRC matches (RFC 3533 §6). */
async function pages(path: string): Promise<Array<{ granule: bigint; crcOk: boolean; flags: number }>> {
  const bytes = await readFile(path);
  const out: Array<{ granule: bigint; crcOk: boolean; flags: number }> = [];
  for (let at = 0; at < bytes.length; ) {
    expect(bytes.subarray(at, at + 4).toString('latin1')).toBe('OggS');
    const segments = bytes[at + 26]!;
    const size = 27 + segments + [...bytes.subarray(at + 27, at + 27 + segments)].reduce((a, b) => a + b, 0);
    const page = Buffer.from(bytes.subarray(at, at + size));
    const crc = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    out.push({ granule: page.readBigUInt64LE(6), crcOk: oggCrc32(page) === crc, flags: page[5]! });
    at += size;
  }
  return out;
}

function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

describe('OpusTrack', () => {
  it('writes the delivered packets untouched, with silence frames where nothing arrived, in valid Ogg pages', async () => {
    const path = join(dir, 'two-spurts.ogg');
    const track = OpusTrack.open({ path, serial: 7, comments: ['TITLE=Katie'] });
    const first = speech.slice(0, 25);
    const second = speech.slice(25, 60);
    // The first spurt arrives 1 s into the meeting; the second 2 s after the first ended.
    for (const [i, p] of first.entries()) track.push(p.packet, 1_000 + i * 20);
    const firstEnd = 1_000 + (first.length - 1) * 20;
    for (const [i, p] of second.entries()) track.push(p.packet, firstEnd + 2_000 + i * 20);
    const secondEnd = firstEnd + 2_000 + (second.length - 1) * 20;
    await track.close(secondEnd + 500);

    const packets = await demux(path);
    expect(packets[0]!.subarray(0, 8).toString('latin1')).toBe('OpusHead');
    expect(packets[1]!.toString('latin1')).toContain('TITLE=Katie');
    const audio = packets.slice(2);
    // 980 ms of silence before the first packet (its audio starts 20 ms before it arrived), then the packets as
    // delivered, then the 2 s gap less one packet's 20 ms, then the rest, then the 500 ms up to the close.
    const expected = [
      FILL_FRAME_20MS, // the pre-skip
      ...Array<Buffer>(49).fill(FILL_FRAME_20MS),
      ...first.map((p) => p.packet),
      ...Array<Buffer>(99).fill(FILL_FRAME_20MS),
      ...second.map((p) => p.packet),
      ...Array<Buffer>(25).fill(FILL_FRAME_20MS),
    ];
    expect(audio.length).toBe(expected.length);
    for (const [i, packet] of audio.entries()) expect(packet.equals(expected[i]!), `packet ${i}`).toBe(true);
    expect(track.stats).toMatchObject({ packets: 60, silenceFrames: 49 + 99 + 25, invalidPackets: 0 });

    const read = await pages(path);
    expect(read.every((p) => p.crcOk)).toBe(true);
    expect(read[0]!.flags & 0x02).toBe(0x02);
    expect(read.at(-1)!.flags & 0x04).toBe(0x04);
    // The last granule position is the pre-skip plus the track's length in 48 kHz samples.
    const totalSamples = expected.reduce((n, p) => n + opusPacketSamples(p)!, 0) - PRE_SKIP;
    expect(read.at(-1)!.granule).toBe(BigInt(PRE_SKIP + totalSamples));
    expect(track.stats.samples).toBe(totalSamples);

    // Replay's decoder reads it, silence where it should be, speech where the packets were.
    const decoded = await readAudioFile(path);
    expect(decoded.sampleRate).toBe(48_000);
    expect(decoded.channels[0]!.length).toBe(totalSamples);
    const at = (ms: number) => Math.round((ms * 48_000) / 1000);
    const channel = decoded.channels[0]!;
    expect(rms(channel.subarray(0, at(950)))).toBeLessThan(1e-6);
    expect(rms(channel.subarray(at(firstEnd + 100), at(firstEnd + 1_900)))).toBeLessThan(1e-6);
    expect(rms(channel.subarray(at(980), at(firstEnd)))).toBeGreaterThan(1e-3);
    expect(rms(channel.subarray(at(firstEnd + 1_980), at(secondEnd)))).toBeGreaterThan(1e-3);
  });

  it('keeps a packet that is late by less than the jitter allowance contiguous: no silence is inserted', async () => {
    const path = join(dir, 'jitter.ogg');
    const track = OpusTrack.open({ path, serial: 8 });
    const times = [20, 40, 60, 130, 140, 160]; // the 4th is 50 ms late, the 5th early: one spurt
    for (const [i, t] of times.entries()) track.push(speech[i]!.packet, t);
    await track.close();
    expect(track.stats).toMatchObject({ packets: 6, silenceFrames: 0 });
    expect((await demux(path)).slice(3).map((p) => isFillFrame(p))).toEqual(Array(6).fill(false));
  });

  it('fills a gap that is not a whole number of 20 ms frames to within 1.25 ms, with 2.5 ms frames', async () => {
    const path = join(dir, 'fine-gap.ogg');
    const track = OpusTrack.open({ path, serial: 10 });
    track.push(speech[0]!.packet, 20);
    track.push(speech[1]!.packet, 20 + 20 + 76); // 76 ms late: its audio starts 76 ms after the first packet's ended
    await track.close();
    const packets = (await demux(path)).slice(2);
    expect(packets.slice(2, -1)).toEqual([...Array<Buffer>(3).fill(FILL_FRAME_20MS), ...Array<Buffer>(6).fill(FILL_FRAME_2_5MS)]);
    expect(track.stats.samples).toBe(960 + 3 * 960 + 6 * 120 + 960);
    // Both kinds of fill decode to silence, in replay's decoder too.
    const decoded = (await readAudioFile(path)).channels[0]!;
    expect(decoded.length).toBe(track.stats.samples);
    expect(rms(decoded.subarray(960 + 240, 960 + 3 * 960 + 6 * 120))).toBeLessThan(1e-6);
  });

  it('skips and counts a packet that cannot be Opus, without moving the timeline', async () => {
    const path = join(dir, 'invalid.ogg');
    const track = OpusTrack.open({ path, serial: 9 });
    track.push(speech[0]!.packet, 20);
    track.push(Buffer.alloc(0), 40);
    track.push(Buffer.from([0x03]), 40); // code 3 without its frame count byte
    track.push(speech[1]!.packet, 40);
    await track.close();
    expect(track.stats).toMatchObject({ packets: 2, invalidPackets: 2, silenceFrames: 0, samples: 1_920 });
  });

  it('fills a gap of hours in one go without giving up, and ends the stream', async () => {
    const path = join(dir, 'long-gap.ogg');
    const track = OpusTrack.open({ path, serial: 11 });
    track.push(speech[0]!.packet, 20);
    const sixHoursMs = 6 * 60 * 60 * 1000;
    track.push(speech[1]!.packet, sixHoursMs - 40); // spoke again near the end
    track.push(speech[2]!.packet, sixHoursMs - 20); // and went on: the fill still queued for the disk is no backlog
    await track.close(sixHoursMs);
    expect(track.failed).toBeNull();
    const read = await pages(path);
    expect(read.at(-1)!.flags & 0x04).toBe(0x04);
    expect(read.at(-1)!.granule).toBe(BigInt(PRE_SKIP + (sixHoursMs * 48)));
    expect(track.stats.samples).toBe(sixHoursMs * 48);
  }, 60_000);
});
