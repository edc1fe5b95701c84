/**
 * A speaker's stream with `llm_gateway` against the fake AssemblyAI server and the fake LLM Gateway: each final
 * caption is followed by its `llmResult` with the same turn id; a final whose session drops before its answer came
 * gets a failure instead of waiting forever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { LLM_ANSWER_WAIT_MS, SpeakerStream, type LlmTurnResult } from '../../src/stt/speaker-stream.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { inStreamGatewayConfig } from '../../src/translation/in-stream-prompt.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { createGate, startFakeLlmServer, type FakeLlmServer } from '../fakes/llm-server.ts';
import { TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';
import { drive, frame, waitForState } from '../support/stt-stream.ts';

describe('SpeakerStream with llm_gateway', () => {
  let server: FakeAssemblyAI | undefined;
  let llm: FakeLlmServer | undefined;
  const streams: SpeakerStream[] = [];
  afterEach(async () => {
    for (const s of streams.splice(0)) s.destroy();
    await server?.close();
    await llm?.close();
  });

  async function setup(idleCloseMs = 60_000) {
    llm = await startFakeLlmServer();
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, beginDelayMs: 0, terminationDelayMs: 0, llmGatewayUrl: llm.baseUrl });
    const clock = new VirtualClock();
    const logger = silentLogger();
    const provider = createAssemblyAIProvider(sttConfig(server.url, { maxTurnSilenceMs: 400, idleCloseMs, idleCloseMaxMs: 60_000 }), logger);
    const stream = new SpeakerStream({
      speaker: { id: 'u1', name: 'Katie' },
      provider,
      clock,
      logger,
      keyterms: () => [],
      llmGateway: () => inStreamGatewayConfig({ model: 'gemini-2.5-flash-lite', languages: ['es'], speakerName: 'Katie' }),
      idleCloseMs,
      maxAudioAheadMs: null,
      reconnect: { baseMs: 10, capMs: 10 },
    });
    streams.push(stream);
    const finals: CaptionEvent[] = [];
    const results: LlmTurnResult[] = [];
    stream.on('caption', (c) => {
      if (c.kind === 'final') finals.push(c);
    });
    stream.on('llmResult', (r) => results.push(r));
    return { server, llm, clock, stream, finals, results };
  }

  /** One utterance: 600 ms of tone then 600 ms of silence (the turn ends at 400 ms), from `fromMs`. */
  function say(stream: SpeakerStream, fromMs: number): void {
    for (let t = 0; t < 1_200; t += 50) stream.pushFrame(frame(fromMs + t, t < 600));
  }

  it('follows each final caption with the answer to its turn', async () => {
    const { server, clock, stream, finals, results } = await setup();
    say(stream, 0);
    const session = await server.nextSession();
    await waitForState(stream, 'open');
    say(stream, 1_200);
    await drive(clock, stream.end());
    expect(finals).toHaveLength(2);
    expect(results.map((r) => r.turnId)).toEqual(finals.map((f) => f.turnId));
    for (const [i, result] of results.entries()) {
      expect(result).toMatchObject({ answered: true, model: 'gemini-2.5-flash-lite' });
      expect(JSON.parse(result.content ?? '')).toEqual({ es: `[es] ${finals[i]?.text}` });
    }
    expect(JSON.parse(session.query.get('llm_gateway') ?? '{}')).toMatchObject({ model: 'gemini-2.5-flash-lite' });
    expect(server.violations).toEqual([]);
  });

  it('gives a final whose session dropped before its answer a failure, at once', async () => {
    const { server, llm, clock, stream, finals, results } = await setup();
    const gate = createGate();
    llm.script({ hold: gate.promise });
    say(stream, 0);
    const session = await server.nextSession();
    await llm.waitForRequests(1);
    expect(finals).toHaveLength(1);
    expect(results).toEqual([]);
    session.kill(); // the connection drops while the gateway still holds the answer
    await drive(clock, new Promise<void>((resolve) => stream.once('llmResult', () => resolve())));
    expect(results).toEqual([{ turnId: finals[0]?.turnId, answered: false, failure: 'the speech-to-text session closed before the LLM answer for this caption came' }]);
    gate.open();
  });

  /** Advances the clock by `ms` in 50 ms steps, letting socket I/O run between them. */
  async function advance(clock: VirtualClock, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 50) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      clock.advance(50);
    }
  }

  /** One utterance on a 750 ms idle close whose final's LLM answer the gateway holds until `gate` opens. */
  async function oneFinalWithHeldAnswer() {
    const world = await setup(750);
    const gate = createGate();
    world.llm.script({ hold: gate.promise });
    say(world.stream, 0);
    const session = await world.server.nextSession();
    await world.llm.waitForRequests(1);
    expect(world.finals).toHaveLength(1);
    return { ...world, gate, session };
  }

  it('keeps an idle session open while an answer is awaited, and closes it once the answer came', async () => {
    const { clock, stream, finals, results, gate, session } = await oneFinalWithHeldAnswer();
    // Well past the 750 ms idle close, the answer is still held by the gateway: the session stays open for it.
    await advance(clock, 3_000);
    expect(stream.state).toBe('open');
    expect(session.terminated).toBe(false);
    gate.open();
    await drive(clock, new Promise<void>((resolve) => stream.once('llmResult', () => resolve())));
    // Closed at the answer, not at the end of the hold (the clock stops 1 s on, far short of it).
    await drive(clock, session.closed, 50, 1_000);
    expect(session.terminated).toBe(true);
    expect(results).toEqual([expect.objectContaining({ turnId: finals[0]?.turnId, answered: true })]);
  });

  it('waits for an answer at most LLM_ANSWER_WAIT_MS past the idle close', async () => {
    const { clock, stream, finals, results, gate, session } = await oneFinalWithHeldAnswer();
    await advance(clock, 750 + LLM_ANSWER_WAIT_MS - 500);
    expect(session.terminated).toBe(false);
    await advance(clock, 1_000);
    expect(stream.state).not.toBe('open');
    gate.open();
    await drive(clock, session.closed);
    await drive(clock, new Promise<void>((resolve) => (results.length > 0 ? resolve() : stream.once('llmResult', () => resolve()))));
    expect(session.terminated).toBe(true);
  });
});
