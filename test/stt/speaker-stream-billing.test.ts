/**
 * What a speaker's sessions bill and how they end: billing runs from the WebSocket upgrade to the close (AssemblyAI
 * docs, FAQ "How does Universal Streaming session-based pricing work?": the entire time the connection stays open),
 * the shipped idle close ends a quiet speaker's session before the other person's turn is over, and `/end` stays
 * bounded when AssemblyAI never answers `Terminate`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { SpeakerStream, type SpeakerStreamOptions } from '../../src/stt/speaker-stream.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions, type FakeSession } from '../fakes/assemblyai-server.ts';
import { beginMessage } from '../fakes/assemblyai/messages.ts';
import { TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';
import { frame, waitForState } from '../support/stt-stream.ts';

describe('SpeakerStream billing and ending', () => {
  let server: FakeAssemblyAI | undefined;
  const streams: SpeakerStream[] = [];
  afterEach(async () => {
    for (const s of streams.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  async function setup(serverOptions: Partial<FakeAssemblyAIOptions>, idleCloseMs: number, extra: Partial<SpeakerStreamOptions> = {}) {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, beginDelayMs: 0, terminationDelayMs: 0, ...serverOptions });
    const clock = new VirtualClock();
    const logger = silentLogger();
    const provider = createAssemblyAIProvider(sttConfig(server.url, { idleCloseMs, idleCloseMaxMs: 60_000 }), logger);
    const stream = new SpeakerStream({ speaker: { id: 'u1', name: 'Katie' }, provider, clock, logger, keyterms: () => [], idleCloseMs, maxAudioAheadMs: null, ...extra });
    streams.push(stream);
    return { server, clock, stream };
  }

  /** Answers every connection of a scripted fake with `Begin` (and nothing else), as they arrive. */
  function beginEvery(fake: FakeAssemblyAI): FakeSession[] {
    const seen: FakeSession[] = [];
    void (async () => {
      for (;;) {
        const session = await fake.nextSession();
        seen.push(session);
        session.send(beginMessage(`s${session.index}`, Math.floor(Date.now() / 1000) + 10_800));
      }
    })();
    return seen;
  }

  it('bills a session from the upgrade, handshake included, not from Begin', async () => {
    const { server, clock, stream } = await setup({ scripted: true }, 60_000);
    for (let i = 0; i < 10; i++) stream.pushFrame(frame(i * 50, true));
    const session = await server.nextSession(); // upgraded; Begin not sent yet
    expect(stream.state).toBe('connecting');
    clock.advance(300); // the service sets the session up before Begin
    session.send(beginMessage('s0', Math.floor(Date.now() / 1000) + 10_800));
    await waitForState(stream, 'open');
    clock.advance(1_000);
    expect(stream.stats.sessionOpenMs).toBe(1_300);
  });

  it('with the shipped idle close, a speaker quiet for a second has their session terminated', async () => {
    // In a two-person dialogue each person is quiet for the other's turn (2.7 s at the shortest in katiesteve);
    // holding the session through it bills more than closing and reopening (a 300 ms + 200 ms handshake).
    const { idleCloseMs } = loadConfig({ ASSEMBLYAI_API_KEY: TEST_API_KEY }).stt;
    const { server, clock, stream } = await setup({}, idleCloseMs);
    for (let i = 0; i < 20; i++) stream.pushFrame(frame(i * 50, true));
    const session = await server.nextSession();
    await waitForState(stream, 'open');
    clock.advance(1_000);
    expect(stream.state).toBe('terminating'); // the idle timer fired within the second and sent Terminate
    await session.waitForClientMessage((m) => m.type === 'Terminate');
    await waitForState(stream, 'idle');
    expect(stream.stats.sessionsOpened).toBe(1);
  });

  it('ends within its deadline, opening at most one more session, when AssemblyAI never answers Terminate', async () => {
    const { server, clock, stream } = await setup({ scripted: true }, 60_000, { terminateTimeoutMs: 300 });
    const sessions = beginEvery(server);
    for (let i = 0; i < 20; i++) stream.pushFrame(frame(i * 50, true));
    await waitForState(stream, 'open');
    let settled = false;
    const ended = stream.end().then(() => (settled = true));
    // The Terminate deadline runs on wall time and backoffs on the pipeline's clock: keep both moving (50 ms of
    // clock per 5 ms of wall time) until end() settles, for at most 3 minutes of clock.
    for (let i = 0; !settled && i < 3_600; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      clock.advance(50);
    }
    expect(settled).toBe(true);
    await ended;
    expect(sessions.length).toBeLessThanOrEqual(2);
    expect(sessions.every((s) => s.terminated)).toBe(true);
    expect(stream.state).not.toBe('open');
  }, 60_000);
});
