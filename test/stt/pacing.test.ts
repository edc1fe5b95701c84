/**
 * Pacing is measured against wall time, as AssemblyAI measures it (3007 "Audio Transmission Rate Exceeded"), not
 * against the pipeline's clock: replay's virtual clock lags wall time while the process is starved of CPU and
 * then catches up at once, and audio paced on it would run ahead by the lag.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { PCM_FRAME_BYTES, PCM_FRAME_MS, type PcmFrame } from '../../src/audio/format.ts';
import { SpeakerStream } from '../../src/stt/speaker-stream.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';

/** A 50 ms frame of a 300 Hz tone at meeting time `startMs`. */
function speechFrame(startMs: number): PcmFrame {
  const pcm = Buffer.alloc(PCM_FRAME_BYTES);
  for (let i = 0; i < PCM_FRAME_BYTES / 2; i++) pcm.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 300 * i) / 16_000)), i * 2);
  return { pcm, meetingStartMs: startMs, speech: true };
}

describe('SpeakerStream pacing', () => {
  let server: FakeAssemblyAI | undefined;
  let stream: SpeakerStream | undefined;
  afterEach(async () => {
    stream?.destroy();
    await server?.close();
  });

  it('keeps audio within maxAudioAheadMs of the wall time since Begin when the pipeline clock jumps ahead', async () => {
    // The fake allows 2 s ahead, as a margin over Parley's 1 s: only a client that ignores wall time goes past it.
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: 2_000 });
    const clock = new VirtualClock();
    const logger = silentLogger();
    stream = new SpeakerStream({
      speaker: { id: 'u1', name: 'Katie' },
      provider: createAssemblyAIProvider(sttConfig(server.url), logger),
      clock,
      logger,
      keyterms: () => [],
      idleCloseMs: 60_000,
      maxAudioAheadMs: 1_000,
    });
    const before = performance.now(); // Begin cannot come earlier
    // 20 s of speech queued while the session connects (as after a long outage).
    for (let t = 0; t < 20_000; t += PCM_FRAME_MS) stream.pushFrame(speechFrame(t));
    const session = await server.nextSession();
    await session.waitForAudioMs(1_000); // the allowance goes out at once

    // The pipeline clock catches up 15 s in one go, as replay's does after the process was starved of CPU.
    clock.advance(15_000);
    const sentMs = stream.stats.framesSent * PCM_FRAME_MS;
    expect(sentMs).toBeLessThanOrEqual(1_000 + (performance.now() - before) + PCM_FRAME_MS);
    await session.waitForAudioMs(sentMs);
    expect(server.violations).toEqual([]);
  });
});
