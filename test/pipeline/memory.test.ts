/**
 * Memory stays bounded in long meetings: counts of speakers, timers, listeners and buffered frames are asserted,
 * not timings or RSS (the benchmark reports RSS).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tonePackets } from '../support/tone.ts';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { CollectingSink, TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';


describe('memory stays bounded', () => {
  let server: FakeAssemblyAI | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function setup(idleCloseMs: number) {
    // Virtual time here runs far faster than wall time: a wall-time wait for Begin would queue minutes of audio.
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, beginDelayMs: 0 });
    const clock = new VirtualClock();
    const logger = silentLogger();
    const config = sttConfig(server.url, { maxTurnSilenceMs: 500 });
    const sink = new CollectingSink();
    const pipeline = new CaptionPipeline({
      provider: createAssemblyAIProvider(config, logger),
      clock,
      logger,
      sinks: [sink],
      keyterms: [],
      idleCloseMs,
      maxTurnSilenceMs: 500,
      maxAudioAheadMs: null,
      jitterMs: 0,
    });
    return { server, clock, pipeline, sink };
  }

  it('speakers joining and leaving leave no speaker, timer, listener or open session behind', async () => {
    const { server, clock, pipeline, sink } = await setup(2_000);
    const [packet = Buffer.alloc(0)] = tonePackets(1, 250, 6_000);
    const listenersBefore = pipeline.listenerCount('caption') + pipeline.listenerCount('notice');
    let t = 0;
    for (let round = 0; round < 40; round++) {
      // Three speakers talk 400 ms each, then leave.
      for (let p = 0; p < 20; p++) {
        t += 20;
        clock.advanceTo(t);
        for (let s = 0; s < 3; s++) pipeline.pushOpusPacket({ id: `r${round}s${s}`, name: `Speaker ${round}.${s}` }, packet, t);
      }
      await yieldToIo();
      for (let s = 0; s < 3; s++) await pipeline.removeSpeaker(`r${round}s${s}`);
    }
    expect(pipeline.speakerCount).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(pipeline.listenerCount('caption') + pipeline.listenerCount('notice')).toBe(listenersBefore);
    expect(server.sessions).toHaveLength(120);
    for (const session of server.sessions) expect(session.terminated).toBe(true);
    await Promise.all(server.sessions.map((s) => s.closed));
    expect(sink.finals.length).toBe(120);
    await pipeline.end();
  });

  it('a speaker talking for 20 minutes keeps a small, bounded buffer and timeline', async () => {
    const { clock, pipeline } = await setup(15_000);
    const [packet = Buffer.alloc(0)] = tonePackets(1, 250, 6_000);
    const speaker = { id: 'talker', name: 'Talker' };
    let maxBuffered = 0;
    // 1.5 s of speech, 1.5 s of pause, for 20 minutes of meeting time: one long session (pauses < idle close).
    for (let t = 20; t <= 20 * 60_000; t += 20) {
      clock.advanceTo(t);
      if (t % 3_000 < 1_500) pipeline.pushOpusPacket(speaker, packet, t);
      if (t % 1_000 === 0) {
        await yieldToIo();
        const [status] = pipeline.status();
        maxBuffered = Math.max(maxBuffered, status?.bufferedFrames ?? 0);
      }
    }
    const [status] = pipeline.status();
    expect(status?.stats.sessionsOpened).toBe(1);
    expect(status?.stats.finalTurns).toBeGreaterThan(350);
    // Only audio since the last final turn is kept: a few seconds, however long the meeting.
    expect(maxBuffered).toBeLessThan(200);
    await pipeline.end();
    expect(clock.pendingTimers).toBe(0);
  });
});
