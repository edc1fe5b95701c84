/**
 * Helpers for tests of one speaker's STT stream against the fake AssemblyAI server: synthetic PCM frames, waiting for
 * a state, and driving a virtual clock until a promise settles (never sleeping on wall time).
 */
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { VirtualClock } from '../../src/clock.ts';
import { PCM_FRAME_BYTES, type PcmFrame } from '../../src/audio/format.ts';
import type { SpeakerStream, SpeakerStreamState } from '../../src/stt/speaker-stream.ts';

/** A 50 ms frame: a 300 Hz tone (speech) or zeros (silence), at meeting time `startMs`. */
export function frame(startMs: number, speech: boolean): PcmFrame {
  const pcm = Buffer.alloc(PCM_FRAME_BYTES);
  if (speech) for (let i = 0; i < PCM_FRAME_BYTES / 2; i++) pcm.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 300 * i) / 16_000)), i * 2);
  return { pcm, meetingStartMs: startMs, speech };
}

/** Resolves when `stream` is in `state` (at once if it already is). */
export function waitForState(stream: SpeakerStream, state: SpeakerStreamState): Promise<void> {
  if (stream.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const onState = (s: SpeakerStreamState) => {
      if (s !== state) return;
      stream.off('state', onState);
      resolve();
    };
    stream.on('state', onState);
  });
}

/**
 * Advances `clock` in `stepMs` steps, letting socket I/O run between steps, until `promise` settles; then returns
 * it. Bounded: the clock stops after `maxMs`, and it fails 20 s of wall time later if `promise` is still pending.
 */
export async function drive<T>(clock: VirtualClock, promise: Promise<T>, stepMs = 50, maxMs = 30 * 60_000): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let elapsed = 0; !settled && elapsed < maxMs; elapsed += stepMs) {
    await yieldToIo();
    if (settled) break;
    clock.advance(stepMs);
  }
  // The clock has run out, but socket I/O may still be on its way (a busy machine runs thousands of steps before
  // one TCP answer arrives): wait for it in wall time, with the clock stopped, before giving up.
  const wallDeadline = performance.now() + 20_000;
  while (!settled && performance.now() < wallDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!settled) throw new Error(`not settled within ${maxMs} ms of clock time and 20 s of wall time after it`);
  return promise;
}
