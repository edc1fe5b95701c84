import { describe, expect, it } from 'vitest';
import { SpeakerAudio } from '../../src/audio/speaker-audio.ts';
import { PCM_FRAME_BYTES, type PcmFrame } from '../../src/audio/format.ts';
import { VirtualClock } from '../../src/clock.ts';
import { tonePackets } from '../support/tone.ts';


async function setup(silenceFillMs = 500) {
  const clock = new VirtualClock();
  const frames: PcmFrame[] = [];
  let speechEnds = 0;
  const audio = new SpeakerAudio({
    clock,
    meetingNow: () => clock.now(),
    silenceFillMs,
    onFrame: (f) => frames.push(f),
    onSpeechEnd: () => speechEnds++,
  });
  /** Delivers packets 20 ms apart starting at `startMs` (arrival = end of each packet's audio). */
  const speak = (packets: Buffer[], startMs: number) => {
    for (const [i, packet] of packets.entries()) {
      const arrival = startMs + (i + 1) * 20;
      clock.advance(arrival - clock.now());
      audio.pushOpusPacket(packet);
    }
  };
  await audio.settled(); // the decoder has started: packets decode as they arrive
  return { clock, frames, audio, speak, speechEnds: () => speechEnds };
}

describe('SpeakerAudio', () => {
  it('decodes 20 ms packets to 16 kHz mono and frames them into contiguous 50 ms frames in meeting time', async () => {
    const { frames, speak } = await setup();
    speak(tonePackets(50), 1000); // 1 s of tone from meeting time 1000 ms
    expect(frames.length).toBe(20);
    expect(frames.every((f) => f.pcm.length === PCM_FRAME_BYTES)).toBe(true);
    expect(frames.map((f) => f.meetingStartMs)).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i * 50));
    expect(frames.every((f) => f.speech)).toBe(true);
    // The tone survives decoding: clearly non-zero energy after the decoder's warm-up.
    const energy = frames.slice(2).reduce((sum, f) => sum + Math.abs(f.pcm.readInt16LE(800)), 0);
    expect(energy).toBeGreaterThan(0);
  });

  it('fills silence in real time after the last packet, then signals the end of speech once', async () => {
    const { clock, frames, speak, speechEnds } = await setup(500);
    speak(tonePackets(10), 0); // 200 ms of speech: 4 frames
    expect(frames.length).toBe(4);
    clock.advance(300);
    const midFill = frames.length;
    expect(midFill).toBeGreaterThan(4);
    expect(frames.slice(4).every((f) => !f.speech && f.pcm.every((b) => b === 0))).toBe(true);
    expect(speechEnds()).toBe(0);
    clock.advance(400); // past 200 + 500 ms
    expect(speechEnds()).toBe(1);
    // Speech 0–200 ms plus 500 ms of silence: 700 ms = 14 frames, contiguous.
    expect(frames.map((f) => f.meetingStartMs)).toEqual(Array.from({ length: 14 }, (_, i) => i * 50));
    clock.advance(5000);
    expect(frames.length).toBe(14);
    expect(clock.pendingTimers).toBe(0);
  });

  it('starts a new talk spurt at the arrival time of the first packet after a long gap', async () => {
    const { clock, frames, speak } = await setup(300);
    speak(tonePackets(5), 0); // 0–100 ms
    clock.advance(2000);
    const before = frames.length;
    speak(tonePackets(5), 3000); // 3000–3100 ms
    clock.advance(1000);
    const spurt = frames.slice(before);
    expect(spurt[0]?.meetingStartMs).toBe(3000);
    expect(spurt[0]?.speech).toBe(true);
  });

  it('skips and counts corrupt packets without ending the speaker', async () => {
    const { audio, frames, speak } = await setup();
    const packets = tonePackets(20);
    const mixed = packets.flatMap((p, i) => (i % 5 === 0 ? [p, Buffer.from([0xff, 0x00, 0x13]), Buffer.alloc(0)] : [p]));
    speak(mixed, 0);
    expect(audio.stats.corruptPackets).toBeGreaterThanOrEqual(4);
    expect(audio.stats.decodedPackets + audio.stats.corruptPackets).toBe(mixed.length);
    expect(frames.filter((f) => f.speech).length).toBeGreaterThanOrEqual(8);
  });

  it('survives 10,000 random and truncated packets', async () => {
    const { audio } = await setup();
    const good = tonePackets(50);
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < 10_000; i++) {
      const base = good[i % good.length] ?? Buffer.alloc(0);
      const kind = i % 3;
      const packet =
        kind === 0
          ? base.subarray(0, Math.floor(random() * base.length))
          : kind === 1
            ? Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)))
            : base;
      audio.pushOpusPacket(packet, i * 20);
    }
    expect(audio.stats.decodedPackets + audio.stats.corruptPackets).toBe(10_000);
    expect(audio.stats.corruptPackets).toBeGreaterThan(0);
    // The valid packets among them still decode after all that garbage.
    const after = audio.stats.decodedPackets;
    audio.pushOpusPacket(good[0] ?? Buffer.alloc(0), 300_000);
    expect(audio.stats.decodedPackets).toBe(after + 1);
    audio.destroy();
  });
});
