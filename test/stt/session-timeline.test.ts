import { describe, expect, it } from 'vitest';
import { SessionTimeline } from '../../src/stt/session-timeline.ts';
import { PCM_FRAME_BYTES, type PcmFrame } from '../../src/audio/format.ts';

const frame = (meetingStartMs: number): PcmFrame => ({ pcm: Buffer.alloc(PCM_FRAME_BYTES), meetingStartMs, speech: true });

describe('SessionTimeline', () => {
  it('maps session audio time to meeting time across talk spurts', () => {
    const timeline = new SessionTimeline();
    for (const t of [1000, 1050, 1100]) timeline.recordSent(frame(t)); // session audio 0–150 ms
    for (const t of [5000, 5050]) timeline.recordSent(frame(t)); // session audio 150–250 ms
    expect(timeline.audioMs).toBe(250);
    expect(timeline.toMeetingMs(0)).toBe(1000);
    expect(timeline.toMeetingMs(120)).toBe(1120);
    expect(timeline.toMeetingMs(150)).toBe(5000);
    expect(timeline.toMeetingMs(230)).toBe(5080);
    expect(timeline.segmentCount).toBe(2);
  });

  it('keeps only audio that no final transcript covers', () => {
    const timeline = new SessionTimeline();
    for (let i = 0; i < 10; i++) timeline.recordSent(frame(i * 50));
    timeline.confirmUpTo(220); // frames ending at or before 220 ms: 0–200
    expect(timeline.unconfirmedFrames().map((f) => f.meetingStartMs)).toEqual([200, 250, 300, 350, 400, 450]);
  });
});

describe('SessionTimeline resend', () => {
  it('silences the already-transcribed head of a frame that straddles the confirmed point', () => {
    const timeline = new SessionTimeline();
    const loud = (t: number): PcmFrame => ({ pcm: Buffer.alloc(PCM_FRAME_BYTES, 0x11), meetingStartMs: t, speech: true });
    for (let i = 0; i < 4; i++) timeline.recordSent(loud(i * 50));
    timeline.confirmUpTo(110); // a final's last word ended 10 ms into the third frame
    const [first, second] = timeline.unconfirmedFrames();
    expect(first?.meetingStartMs).toBe(100);
    expect(first?.pcm.subarray(0, 320).every((b) => b === 0)).toBe(true); // 10 ms = 320 bytes
    expect(first?.pcm.subarray(320).every((b) => b === 0x11)).toBe(true);
    expect(second?.pcm.every((b) => b === 0x11)).toBe(true);
  });
});
