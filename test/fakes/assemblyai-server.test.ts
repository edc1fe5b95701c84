/**
 * Tests of the fake AssemblyAI Streaming v3 server, with plain `ws` clients: documented sequences replay exactly,
 * every enforced rule is answered with the documented Error frame and close code, and turn detection on real speech
 * lands where the speech is.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import decode from 'audio-decode';
import { afterEach, describe, expect, it } from 'vitest';
import { assemblyAiSequences, speechFixture, speechManifest } from '../support/fixtures.ts';
import { connectProbe, frames, silence, tone, type Probe } from './assemblyai/probe-client.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions } from './assemblyai-server.ts';

const KEY = 'test-key-0123456789';
const fixture = assemblyAiSequences();
type Message = Record<string, unknown>;
type Entry = { from: 'server' | 'client'; message: Message };

let fake: FakeAssemblyAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(options: Partial<FakeAssemblyAIOptions> = {}): Promise<FakeAssemblyAI> {
  fake = await startFakeAssemblyAI({ apiKey: KEY, beginDelayMs: 0, terminationDelayMs: 0, ...options });
  return fake;
}

/** Connects with the right key; resolves once the socket is open and the server session is known. */
async function connect(server: FakeAssemblyAI, query: Record<string, string | undefined> = {}): Promise<{ probe: Probe; session: Awaited<ReturnType<FakeAssemblyAI['nextSession']>> }> {
  const probe = connectProbe(server.url, { authorization: KEY, query });
  const session = await server.nextSession();
  await probe.opened;
  return { probe, session };
}

const turns = (probe: Probe): Message[] => probe.messages.filter((m) => m['type'] === 'Turn');
const finals = (probe: Probe): Message[] => turns(probe).filter((m) => m['end_of_turn'] === true);
const wordsOf = (turn: Message): Array<{ text: string; start: number; end: number; word_is_final: boolean }> =>
  turn['words'] as Array<{ text: string; start: number; end: number; word_is_final: boolean }>;

describe('documented sequences', () => {
  const entriesOf = (key: string): Entry[] =>
    (fixture[key] as unknown[]).map((item) => {
      const record = item as Message;
      return 'from' in record && 'message' in record ? (record as unknown as Entry) : { from: 'server', message: record };
    });

  it.each(['u3_rt_pro', 'universal_streaming_formatted', 'universal_streaming_legacy_with_format_message', 'language_detection_turn', 'error_frame_then_close_with_same_code'])(
    'replays %s through playSequence as identical JSON',
    async (key) => {
      const server = await start({ scripted: true });
      const { probe, session } = await connect(server);
      const entries = entriesOf(key);
      let batch: Message[] = [];
      for (const entry of entries) {
        if (entry.from === 'server') {
          batch.push(entry.message);
          continue;
        }
        server.playSequence(session, batch);
        batch = [];
        probe.sendJson(entry.message);
        await session.waitForClientMessage((m) => isDeepStrictEqual(m, entry.message));
      }
      server.playSequence(session, batch);

      const expected = entries.filter((e) => e.from === 'server').map((e) => e.message);
      expect(await probe.waitForCount(expected.length)).toEqual(expected);
      expect(probe.raw).toEqual(expected.map((m) => JSON.stringify(m)));
      const last = expected.at(-1);
      if (last?.['type'] === 'Termination') expect((await probe.closed).code).toBe(1000);
      if (last?.['type'] === 'Error') expect(await probe.closed).toEqual({ code: last['error_code'], reason: last['error'] });
      expect(session.clientMessages).toEqual(entries.filter((e) => e.from === 'client').map((e) => e.message));
      expect(server.violations).toEqual([]);
    },
  );

  it('accepts every documented client message and applies UpdateConfiguration', async () => {
    const server = await start();
    const { probe, session } = await connect(server);
    await probe.waitFor((m) => m['type'] === 'Begin');
    const sent = (fixture['client_messages'] as Message[]).filter((m) => m['type'] !== 'Terminate');
    for (const message of sent) probe.sendJson(message);
    probe.sendJson({ type: 'Terminate' });
    await probe.waitFor((m) => m['type'] === 'Termination');
    expect((await probe.closed).code).toBe(1000);
    expect(session.clientMessages).toEqual([...sent, { type: 'Terminate' }]);
    expect(session.config).toMatchObject({ keytermsPrompt: [], maxTurnSilenceMs: 5000, minTurnSilenceMs: 200 });
    expect(server.violations).toEqual([]);
  });
});

describe('connection rules', () => {
  it('sends Begin with a UUID and expires_at = now + sessionTtlS', async () => {
    const server = await start({ sessionTtlS: 3600 });
    const before = Date.now();
    const { probe, session } = await connect(server, { keyterms_prompt: JSON.stringify(['Parley', 'AssemblyAI']), max_turn_silence: '700' });
    const begin = await probe.waitFor((m) => m['type'] === 'Begin');
    expect(begin['id']).toBe(session.id);
    expect(session.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(begin['expires_at']).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 3600);
    expect(begin['expires_at']).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);
    expect(session.config).toMatchObject({ speechModel: 'u3-rt-pro', keytermsPrompt: ['Parley', 'AssemblyAI'], maxTurnSilenceMs: 700, minTurnSilenceMs: 100 });
    expect(server.violations).toEqual([]);
  });

  it.each([
    ['a wrong key', 'wrong-key', 'Unauthorized Connection: Invalid API key'],
    ['a Bearer key', `Bearer ${KEY}`, 'Unauthorized Connection: Invalid API key'],
    ['no header', null, 'Unauthorized Connection: Missing Authorization header'],
  ])('rejects %s with Error 1008 then close 1008', async (_name, authorization, error) => {
    const server = await start();
    const probe = connectProbe(server.url, { authorization });
    expect(await probe.closed).toEqual({ code: 1008, reason: error });
    expect(probe.messages).toEqual([{ type: 'Error', error_code: 1008, error }]);
    expect(server.violations).toHaveLength(1);
    expect(server.violations.join()).not.toContain(KEY);
  });

  it.each([
    ['missing sample_rate', { sample_rate: undefined }, 'sample_rate'],
    ['sample_rate 48000', { sample_rate: '48000' }, 'sample_rate'],
    ['missing speech_model', { speech_model: undefined }, 'speech_model'],
    ['101 keyterms', { keyterms_prompt: JSON.stringify(Array.from({ length: 101 }, (_, i) => `term${i}`)) }, 'keyterms_prompt'],
    ['a 51-character keyterm', { keyterms_prompt: JSON.stringify(['x'.repeat(51)]) }, 'keyterms_prompt'],
    ['keyterms that are not JSON', { keyterms_prompt: 'a,b' }, 'keyterms_prompt'],
    ['a negative max_turn_silence', { max_turn_silence: '-5' }, 'max_turn_silence'],
    ['language_codes that are not a JSON array', { language_codes: 'en,es' }, 'language_codes'],
  ])('rejects %s with Error 3006 then close 3006', async (_name, query, parameter) => {
    const server = await start();
    const probe = connectProbe(server.url, { authorization: KEY, query });
    const { code } = await probe.closed;
    expect(code).toBe(3006);
    expect(probe.messages).toHaveLength(1);
    expect(probe.messages[0]).toMatchObject({ type: 'Error', error_code: 3006 });
    expect(String(probe.messages[0]?.['error'])).toContain(parameter);
    expect(server.violations).toHaveLength(1);
  });

  it('reports an undocumented query parameter without closing', async () => {
    const server = await start();
    const { probe } = await connect(server, { max_turn_silence_ms: '500' });
    await probe.waitFor((m) => m['type'] === 'Begin');
    expect(server.violations).toEqual(['session #0: undocumented query parameter max_turn_silence_ms (the service ignores it: a typo?)']);
  });

  it('answers a wrong path with HTTP 404', async () => {
    const server = await start();
    const probe = connectProbe(server.url.replace('/v3/ws', '/v2/realtime/ws'), { authorization: KEY });
    await expect(probe.opened).rejects.toThrow(/404/);
    expect(server.violations).toHaveLength(1);
  });

  it('lets onConnection reject with 3009, and hands sessions out once each, in order', async () => {
    const server = await start({ onConnection: ({ index }) => (index === 1 ? { code: 3009, error: 'Unauthorized Connection: Too many concurrent sessions' } : undefined) });
    const first = connectProbe(server.url, { authorization: KEY });
    await first.waitFor((m) => m['type'] === 'Begin');
    const second = connectProbe(server.url, { authorization: KEY });
    expect(await second.closed).toEqual({ code: 3009, reason: 'Unauthorized Connection: Too many concurrent sessions' });
    const [a, b] = await Promise.all([server.nextSession(), server.nextSession()]);
    expect([a.index, a.accepted, b.index, b.accepted]).toEqual([0, true, 1, false]);
    expect(server.violations).toEqual([]);
  });

  it('closes with 3008 when the session expires', async () => {
    const server = await start({ sessionTtlS: 0.2 });
    const { probe } = await connect(server);
    expect(await probe.closed).toEqual({ code: 3008, reason: 'Session Expired: Maximum session duration exceeded' });
    expect(probe.messages.at(-1)).toEqual({ type: 'Error', error_code: 3008, error: 'Session Expired: Maximum session duration exceeded' });
  });
});

describe('client frame rules', () => {
  it.each([
    [640, 'Input duration violation: 20 ms. Expected between 50 and 1000 ms'],
    [1601, 'Input duration violation: 50.03 ms. Expected between 50 and 1000 ms'],
    [32_002, 'Input duration violation: 1000.06 ms. Expected between 50 and 1000 ms'],
  ])('rejects a %i-byte frame with 3007', async (bytes, error) => {
    const server = await start();
    const { probe, session } = await connect(server);
    probe.ws.send(Buffer.alloc(bytes));
    expect(await probe.closed).toEqual({ code: 3007, reason: error });
    expect(probe.messages.at(-1)).toEqual({ type: 'Error', error_code: 3007, error });
    expect(session.frameBytes).toEqual([bytes]);
    expect(server.violations).toHaveLength(1);
  });

  it('accepts frames of exactly 50 ms and 1000 ms', async () => {
    const server = await start();
    const { probe, session } = await connect(server);
    probe.ws.send(silence(50));
    probe.ws.send(silence(1000));
    probe.sendJson({ type: 'Terminate' });
    await probe.waitFor((m) => m['type'] === 'Termination');
    expect(session.frameBytes).toEqual([1600, 32_000]);
    expect(session.audioMs).toBe(1050);
    expect(server.violations).toEqual([]);
  });

  it('closes with 3007 when 10 s of audio arrive at once (default maxAudioAheadMs)', async () => {
    const server = await start();
    const { probe } = await connect(server);
    for (const frame of frames(silence(10_000), 100)) probe.ws.send(frame);
    const { code, reason } = await probe.closed;
    expect(code).toBe(3007);
    expect(reason).toMatch(/^Audio Transmission Rate Exceeded: Received \d+\.\d\d sec\. audio in \d+\.\d\d sec$/);
    expect(server.violations.join()).toContain('faster than real time');
  });

  it('accepts 10 s of audio at once when maxAudioAheadMs is null', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe, session } = await connect(server);
    const audio = Buffer.concat([tone(3000), silence(7000)]);
    for (const frame of frames(audio, 100)) probe.ws.send(frame);
    probe.sendJson({ type: 'Terminate' });
    const termination = await probe.waitFor((m) => m['type'] === 'Termination');
    expect(termination['audio_duration_seconds']).toBe(10);
    expect(session.pcm().equals(audio)).toBe(true);
    expect(server.violations).toEqual([]);
  });

  it.each([
    ['{nope', 'Invalid JSON: {nope'],
    ['[]', 'Invalid Message: []'],
    ['{"type":"Flush"}', 'Invalid Message Type: Flush'],
    ['{"type":"UpdateConfiguration","max_turn_silence":"long"}', 'Invalid Message: {"type":"UpdateConfiguration","max_turn_silence":"long"}'],
  ])('rejects the text frame %s with 3006', async (text, error) => {
    const server = await start();
    const { probe } = await connect(server);
    probe.ws.send(text);
    expect(await probe.closed).toEqual({ code: 3006, reason: error });
    expect(probe.messages.at(-1)).toEqual({ type: 'Error', error_code: 3006, error });
    expect(server.violations).toHaveLength(1);
  });

  it('answers Terminate with the final turn, Termination, then close 1000, and flags frames after it', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe, session } = await connect(server);
    for (const frame of frames(tone(500), 50)) probe.ws.send(frame);
    probe.sendJson({ type: 'Terminate' });
    probe.ws.send(tone(50));
    expect((await probe.closed).code).toBe(1000);
    const types = probe.messages.map((m) => m['type']);
    expect(types[0]).toBe('Begin');
    expect(types.at(-1)).toBe('Termination');
    expect(probe.messages.at(-2)).toMatchObject({ type: 'Turn', end_of_turn: true, transcript: 'Speech1.' });
    expect(session.terminated).toBe(true);
    expect(server.violations).toEqual(['session #0: binary frame of 1600 bytes after Terminate (not processed)']);
  });

  it('puts language_code and language_confidence on final turns only when language_detection=true', async () => {
    const spanish = () => [{ text: 'hola', start: 0, end: 200, language: 'es' }, { text: 'mundo', start: 200, end: 400, language: 'es' }, { text: 'okay', start: 400, end: 500 }];
    const server = await start({ maxAudioAheadMs: null, recognizer: spanish });
    const detected = await connect(server, { speech_model: 'universal-3-6-pro', language_detection: 'true', language_codes: '["es","en"]' });
    const plain = await connect(server);
    for (const { probe } of [detected, plain]) {
      for (const frame of frames(tone(500), 50)) probe.ws.send(frame);
      probe.sendJson({ type: 'Terminate' });
      expect((await probe.closed).code).toBe(1000);
    }
    expect(finals(detected.probe)).toEqual([expect.objectContaining({ transcript: 'Hola mundo okay.', language_code: 'es', language_confidence: 0.6667 })]);
    for (const partial of turns(detected.probe).filter((m) => m['end_of_turn'] !== true)) expect(partial).not.toHaveProperty('language_code');
    expect(finals(plain.probe)).toHaveLength(1);
    expect(finals(plain.probe)[0]).not.toHaveProperty('language_code');
    expect(server.violations).toEqual([]);
  });

  it('flags a client that closes without Terminate', async () => {
    const server = await start();
    const { probe, session } = await connect(server);
    await probe.waitFor((m) => m['type'] === 'Begin');
    probe.ws.close(1000);
    expect((await session.closed).code).toBe(1000);
    expect(server.violations.join()).toContain('without sending Terminate');
  });

  it('kill() drops the connection: the client sees 1006', async () => {
    const server = await start();
    const { probe, session } = await connect(server);
    await probe.waitFor((m) => m['type'] === 'Begin');
    session.kill();
    expect((await probe.closed).code).toBe(1006);
    expect((await session.closed).code).toBe(1006);
    expect(server.violations).toEqual([]);
  });
});

describe('account behaviours and faults (docs: Concurrency, Common session errors and closures; Python SDK models)', () => {
  it.each([1008, 3009] as const)('refuses sessions over the account limit with an Error frame and close %i, then admits again after the window', async (code) => {
    const server = await start({ sessionLimit: { perWindow: 2, windowMs: 300, code } });
    const a = connectProbe(server.url, { authorization: KEY });
    const b = connectProbe(server.url, { authorization: KEY });
    await Promise.all([a, b].map((p) => p.waitFor((m) => m['type'] === 'Begin')));
    const c = connectProbe(server.url, { authorization: KEY });
    expect(await c.closed).toEqual({ code, reason: 'Unauthorized Connection: Too many concurrent sessions' });
    expect(c.messages).toEqual([{ type: 'Error', error_code: code, error: 'Unauthorized Connection: Too many concurrent sessions' }]);
    expect(server.limitRefusals).toBe(1);
    // A refused attempt does not use up the limit; once the window has passed, a session is admitted.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const d = connectProbe(server.url, { authorization: KEY });
    await d.waitFor((m) => m['type'] === 'Begin');
    expect(server.violations).toEqual([]);
  });

  it('closes every session with the given code right after Begin', async () => {
    const server = await start({ closeAfterBegin: { code: 3007, error: 'Audio Transmission Rate Exceeded: Received 2.00 sec. audio in 1.00 sec' } });
    const probe = connectProbe(server.url, { authorization: KEY });
    expect(await probe.closed).toEqual({ code: 3007, reason: 'Audio Transmission Rate Exceeded: Received 2.00 sec. audio in 1.00 sec' });
    expect(probe.messages.map((m) => m['type'])).toEqual(['Begin', 'Error']);
  });

  it('refuses the upgrade with an HTTP status and body', async () => {
    const server = await start({ refuseUpgrade: { status: 400, body: '{"error":"bad request"}' } });
    const probe = connectProbe(server.url, { authorization: KEY });
    await expect(probe.opened).rejects.toThrow(/400/);
    expect(server.refusedUpgrades).toBe(1);
    expect(server.sessions).toEqual([]);
  });

  it('sends Warning messages after Begin, and configuration in Begin when asked', async () => {
    const server = await start({ warnings: [{ code: 7, warning: 'something to know' }], beginConfiguration: { model: 'universal-3-5-pro' } });
    const probe = connectProbe(server.url, { authorization: KEY });
    const [begin, warning] = await probe.waitForCount(2);
    expect(begin).toMatchObject({ type: 'Begin', configuration: { model: 'universal-3-5-pro' } });
    expect(warning).toEqual({ type: 'Warning', warning_code: 7, warning: 'something to know' });
  });

  it('goes half-open: no message, no pong and no close, and a client that then drops it breaks no rule', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe, session } = await connect(server);
    await probe.waitFor((m) => m['type'] === 'Begin');
    const pong = () => new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 300);
      probe.ws.once('pong', () => {
        clearTimeout(timer);
        resolve(true);
      });
      probe.ws.ping();
    });
    expect(await pong()).toBe(true);
    session.halfOpen();
    const before = probe.messages.length;
    for (const chunk of frames(tone(1_000), 100)) probe.ws.send(chunk);
    probe.sendJson({ type: 'ForceEndpoint' });
    expect(await pong()).toBe(false);
    expect(probe.messages.length).toBe(before);
    expect(probe.ws.readyState).toBe(probe.ws.OPEN);
    probe.ws.terminate();
    expect(server.violations).toEqual([]);
  });
});

describe('turns', () => {
  it('detects a turn on audio time: SpeechStarted, partials, words, final at max_turn_silence', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe } = await connect(server);
    const audio = Buffer.concat([silence(200), tone(300), silence(100), tone(200), silence(1100)]);
    for (const frame of frames(audio, 100)) probe.ws.send(frame);
    const final = await probe.waitFor((m) => m['type'] === 'Turn' && m['end_of_turn'] === true);
    expect(probe.messages.filter((m) => m['type'] === 'SpeechStarted')).toEqual([{ type: 'SpeechStarted', timestamp: 200, confidence: expect.any(Number) }]);
    expect(final).toMatchObject({ turn_order: 0, turn_is_formatted: true, transcript: 'Speech1 speech2.', utterance: 'Speech1 speech2.', end_of_turn_confidence: 1 });
    expect(wordsOf(final).map((w) => [w.text, w.start, w.end, w.word_is_final])).toEqual([['Speech1', 200, 500, true], ['speech2.', 600, 800, true]]);
    const partials = turns(probe).filter((m) => m['end_of_turn'] === false);
    expect(partials.length).toBeGreaterThanOrEqual(3);
    for (const partial of partials) expect(partial).toMatchObject({ turn_order: 0, turn_is_formatted: false, end_of_turn_confidence: 0, utterance: '' });
    // The partial sent at the min_turn_silence check after speech1 (500 + 100 ms) has speech1 as its only, final word.
    expect(wordsOf(partials[0] ?? {}).map((w) => [w.text, w.word_is_final])).toEqual([['speech1', true]]);
    probe.sendJson({ type: 'Terminate' });
    await probe.closed;
    expect(server.violations).toEqual([]);
  });

  it('ends the open turn at once on ForceEndpoint, then starts turn 1', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe, session } = await connect(server);
    for (const frame of frames(tone(1000), 50)) probe.ws.send(frame);
    await session.waitForAudioMs(1000);
    expect(session.sentMessages.filter((m) => m['end_of_turn'] === true)).toEqual([]);
    probe.sendJson({ type: 'ForceEndpoint' });
    const first = await probe.waitFor((m) => m['type'] === 'Turn' && m['end_of_turn'] === true);
    expect(wordsOf(first).map((w) => [w.text, w.start, w.end])).toEqual([['Speech1.', 0, 1000]]);
    for (const frame of frames(tone(200), 50)) probe.ws.send(frame);
    probe.sendJson({ type: 'Terminate' });
    await probe.waitFor((m) => m['type'] === 'Termination');
    expect(finals(probe).map((m) => [m['turn_order'], m['transcript']])).toEqual([[0, 'Speech1.'], [1, 'Speech1.']]);
    expect(probe.messages.filter((m) => m['type'] === 'SpeechStarted').map((m) => m['timestamp'])).toEqual([0, 1000]);
    expect(server.violations).toEqual([]);
  });

  it('ends a U3 turn at min_turn_silence when the transcript ends a sentence', async () => {
    const recognizer: FakeAssemblyAIOptions['recognizer'] = ({ startMs, endMs }) => [{ text: 'Hello.', start: startMs, end: Math.min(endMs, startMs + 500) }];
    const server = await start({ maxAudioAheadMs: null, recognizer });
    const { probe } = await connect(server, { min_turn_silence: '200', max_turn_silence: '5000' });
    for (const frame of frames(Buffer.concat([tone(500), silence(300)]), 100)) probe.ws.send(frame);
    const final = await probe.waitFor((m) => m['type'] === 'Turn' && m['end_of_turn'] === true);
    expect(final).toMatchObject({ transcript: 'Hello.', utterance: 'Hello.' });
    probe.sendJson({ type: 'Terminate' });
    await probe.closed;
    expect(server.violations).toEqual([]);
  });

  it('sends unformatted then formatted finals with the same turn_order for a Universal-Streaming model with format_turns', async () => {
    const server = await start({ maxAudioAheadMs: null });
    const { probe } = await connect(server, { speech_model: 'universal-streaming-english', format_turns: 'true' });
    for (const frame of frames(Buffer.concat([tone(500), silence(1400)]), 100)) probe.ws.send(frame);
    await probe.waitFor((m) => m['type'] === 'Turn' && m['turn_is_formatted'] === true);
    expect(finals(probe).map((m) => [m['turn_order'], m['turn_is_formatted'], m['transcript']])).toEqual([[0, false, 'speech1'], [0, true, 'Speech1.']]);
    expect(probe.messages.some((m) => m['type'] === 'SpeechStarted')).toBe(false);
    probe.sendJson({ type: 'Terminate' });
    await probe.closed;
    expect(server.violations).toEqual([]);
  });

  it('finds the turns of real speech (katiesteve.wav) where the manifest puts its segments', async () => {
    const manifest = speechManifest();
    const segments = (manifest.find((f) => f.file === 'katiesteve.wav')?.segments ?? []).map((s) => ({ start: s.start * 1000, end: s.end * 1000 }));
    expect(segments).toHaveLength(6);
    const decoded = await decode(readFileSync(speechFixture('katiesteve.wav')));
    expect(decoded.sampleRate).toBe(16_000);
    const samples = decoded.channelData[0] ?? new Float32Array(0);
    const audio = Buffer.alloc(samples.length * 2);
    samples.forEach((value, i) => audio.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(value * 32768))), i * 2));

    const server = await start({ maxAudioAheadMs: null });
    // Gaps between speakers are ~0.9–1.05 s, so max_turn_silence must be shorter to split them.
    const { probe } = await connect(server, { max_turn_silence: '600' });
    for (const frame of frames(audio, 50)) probe.ws.send(frame);
    probe.sendJson({ type: 'Terminate' });
    const termination = await probe.waitFor((m) => m['type'] === 'Termination');
    expect(termination['audio_duration_seconds']).toBe(Math.round(samples.length / 16_000));

    const spans = finals(probe).map((turn) => ({ order: turn['turn_order'], start: wordsOf(turn)[0]?.start ?? NaN, end: wordsOf(turn).at(-1)?.end ?? NaN, text: turn['transcript'] }));
    expect(spans.map((s) => s.order)).toEqual(spans.map((_, i) => i));
    for (const span of spans) expect(span.text).toMatch(/^Speech1( speech\d+)*\.$/);
    const tolerance = 400;
    const overlap = (a: { start: number; end: number }, b: { start: number; end: number }): number => Math.min(a.end, b.end) - Math.max(a.start, b.start);
    // Each turn belongs to one segment (speakers never share a turn) ...
    const owner = spans.map((span) => segments.findIndex((segment) => overlap(span, segment) > 0));
    spans.forEach((span, i) => {
      const segment = segments[owner[i] ?? -1];
      expect(segment, `turn ${i} ${JSON.stringify(span)} overlaps no segment`).toBeDefined();
      expect(segments.filter((s) => overlap(span, s) > 0)).toHaveLength(1);
      expect(span.start).toBeGreaterThanOrEqual((segment?.start ?? 0) - tolerance);
      expect(span.end).toBeLessThanOrEqual((segment?.end ?? 0) + tolerance);
    });
    // ... and every segment starts its first turn and ends its last, within the tolerance. A segment may hold more
    // than one turn when its speaker pauses longer than max_turn_silence.
    segments.forEach((segment, index) => {
      const own = spans.filter((_, i) => owner[i] === index);
      expect(own.length, `segment ${index} has no turn`).toBeGreaterThan(0);
      expect(Math.abs((own[0]?.start ?? NaN) - segment.start)).toBeLessThanOrEqual(tolerance);
      expect(Math.abs((own.at(-1)?.end ?? NaN) - segment.end)).toBeLessThanOrEqual(tolerance);
    });
    expect(probe.messages.filter((m) => m['type'] === 'SpeechStarted').map((m) => m['timestamp'])).toEqual(spans.map((s) => s.start));
    expect(server.violations).toEqual([]);
  });
});
