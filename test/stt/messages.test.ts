import { describe, expect, it } from 'vitest';
import { parseServerMessage } from '../../src/stt/assemblyai/messages.ts';
import { classifyClose, classifyUpgradeRefusal } from '../../src/stt/assemblyai/close-codes.ts';
import { assemblyAiSequences } from '../support/fixtures.ts';

type Entry = { from: string; message: Record<string, unknown> };

describe('parseServerMessage on the documented sequences', () => {
  const sequences = assemblyAiSequences();

  it('parses every server message of the u3-rt-pro sequence into typed events', () => {
    const entries = (sequences.u3_rt_pro as Entry[]).filter((e) => e.from === 'server');
    const events = entries.map((e) => parseServerMessage(JSON.stringify(e.message)));
    expect(events.map((e) => e.type)).toEqual(['begin', 'speechStarted', 'turn', 'turn', 'termination']);
    const begin = events[0];
    expect(begin).toMatchObject({ type: 'begin', id: (entries[0]?.message as { id: string }).id, expiresAtMs: 1772570132000 });
    const final = events[3];
    expect(final).toMatchObject({ type: 'turn', turnOrder: 0, endOfTurn: true, turnIsFormatted: true, transcript: 'My name is Parley.' });
    if (final?.type !== 'turn') throw new Error('expected a turn');
    expect(final.words.map((w) => w.text)).toEqual(['My', 'name', 'is', 'Parley.']);
    expect(final.words[3]).toMatchObject({ start: 3016, end: 4155, wordIsFinal: true });
    expect(events[4]).toEqual({ type: 'termination', audioDurationS: 13, sessionDurationS: 13 });
  });

  it('uses the words of a young partial whose transcript is still empty', () => {
    const entries = (sequences.universal_streaming_formatted as Entry[]).filter((e) => e.from === 'server');
    const first = parseServerMessage(JSON.stringify(entries[1]?.message));
    expect(first).toMatchObject({ type: 'turn', endOfTurn: false, transcript: 'Hello' });
  });

  it('reads language_code from language-detection turns', () => {
    const [turn] = sequences.language_detection_turn as Array<Record<string, unknown>>;
    expect(parseServerMessage(JSON.stringify(turn))).toMatchObject({ type: 'turn', turnOrder: 1, languageCode: 'es' });
  });

  it('parses the documented Error frame', () => {
    const [error] = sequences.error_frame_then_close_with_same_code as Array<Record<string, unknown>>;
    expect(parseServerMessage(JSON.stringify(error))).toEqual({
      type: 'error',
      code: 3008,
      error: 'Session Expired: Maximum session duration exceeded',
    });
  });

  it('tolerates unknown types and fields, and reports malformed frames instead of throwing', () => {
    expect(parseServerMessage('{"type":"Shiny","x":1}')).toEqual({ type: 'unknown', messageType: 'Shiny' });
    expect(parseServerMessage('{"type":"Begin","id":"a","expires_at":1,"new_field":{}}')).toMatchObject({ type: 'begin', id: 'a' });
    expect(parseServerMessage('not json')).toEqual({ type: 'malformed', reason: 'not JSON' });
    expect(parseServerMessage('[1,2]')).toMatchObject({ type: 'malformed' });
    expect(parseServerMessage('{"type":"Turn","transcript":"x"}')).toMatchObject({ type: 'malformed' });
    expect(parseServerMessage('{"type":"Turn","turn_order":2,"words":[null,{"text":"ok","start":1,"end":2},{"text":5}]}')).toMatchObject({
      type: 'turn',
      transcript: 'ok',
      words: [{ text: 'ok', start: 1, end: 2 }],
    });
  });
});

describe('parseServerMessage on LLMGatewayResponse', () => {
  // The shape of the "Apply LLM Gateway to Streaming" tutorial (data.choices[0].message.content) and the SDKs'
  // LLMGatewayResponseEvent {turn_order, transcript, data}.
  const documented = {
    type: 'LLMGatewayResponse',
    turn_order: 3,
    transcript: 'Hi, my name is Sonny.',
    data: {
      request_id: 'req_123',
      model: 'gemini-2.5-flash-lite',
      choices: [{ index: 0, message: { role: 'assistant', content: '{"es":"Hola, me llamo Sonny."}' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 },
    },
  };

  it('reads the answer, the turn it belongs to and the request id', () => {
    expect(parseServerMessage(JSON.stringify(documented))).toEqual({
      type: 'llmGatewayResponse',
      turnOrder: 3,
      transcript: 'Hi, my name is Sonny.',
      content: '{"es":"Hola, me llamo Sonny."}',
      requestId: 'req_123',
      model: 'gemini-2.5-flash-lite',
      finishReason: 'stop',
    });
  });

  it('turns a gateway error body in data into a failure naming what the gateway said', () => {
    const refused = { ...documented, data: { message: 'Bad Request', request_id: 'req_9', metadata: { errors: ['model nope is not supported'] } } };
    expect(parseServerMessage(JSON.stringify(refused))).toEqual({
      type: 'llmGatewayResponse',
      turnOrder: 3,
      transcript: 'Hi, my name is Sonny.',
      failure: 'the LLM Gateway answered: Bad Request: model nope is not supported',
      requestId: 'req_9',
    });
    expect(parseServerMessage(JSON.stringify({ ...documented, data: { error: 'Internal error', status: 500 } }))).toMatchObject({ failure: 'the LLM Gateway answered: Internal error' });
    expect(parseServerMessage(JSON.stringify({ ...documented, data: null }))).toMatchObject({ type: 'llmGatewayResponse', failure: 'the response carried no data' });
    expect(parseServerMessage(JSON.stringify({ ...documented, data: { choices: [{ message: { content: 5 } }] } }))).toMatchObject({ failure: 'the answer had no text content' });
  });

  it('reports a response that names no turn as malformed', () => {
    const { turn_order: _dropped, ...noTurn } = documented;
    expect(parseServerMessage(JSON.stringify(noTurn))).toEqual({ type: 'malformed', reason: 'LLMGatewayResponse without a numeric turn_order' });
    expect(parseServerMessage(JSON.stringify({ ...documented, turn_order: '3' }))).toMatchObject({ type: 'malformed' });
  });
});

describe('classifyClose', () => {
  it('classifies the v3 close codes', () => {
    expect(classifyClose(1000).action).toBe('normal');
    expect(classifyClose(1008).action).toBe('fatal');
    expect(classifyClose(1008).reason).toMatch(/API key is wrong or the account has no balance/);
    expect(classifyClose(3005).action).toBe('retry');
    expect(classifyClose(1006).action).toBe('retry');
    expect(classifyClose(3008).action).toBe('rotate');
    expect(classifyClose(3009).action).toBe('limit');
    expect(classifyClose(4001).action).toBe('fatal');
    expect(classifyClose(4002).action).toBe('fatal');
  });
});

describe('refusals as AssemblyAI documents them', () => {
  it('tells the session limit from a bad key by the text of a 1008 (docs: Concurrency, FAQ, Common session errors)', () => {
    const limit = classifyClose(1008, 'Unauthorized Connection: Too many concurrent sessions');
    expect(limit).toMatchObject({ code: 1008, action: 'limit', serverReason: 'Unauthorized Connection: Too many concurrent sessions' });
    expect(limit.reason).not.toMatch(/key/i);
    expect(classifyClose(1008, 'Unauthorized connection: Too many concurrent sessions').action).toBe('limit');
    expect(classifyClose(3009, 'Unauthorized Connection: Too many concurrent sessions').action).toBe('limit');
    const key = classifyClose(1008, 'Unauthorized Connection: Invalid API key');
    expect(key.action).toBe('fatal');
    expect(key.reason).toMatch(/^AssemblyAI refused the connection \(code 1008\): the API key is wrong/);
    expect(classifyClose(1008, 'Unauthorized Connection: insufficient account balance').action).toBe('fatal');
  });

  it('retries a refused upgrade only for 429 and 5xx (Python SDK: HTTP rejections are never retried)', () => {
    expect(classifyUpgradeRefusal(400, '{"error":"bad sample_rate"}')).toMatchObject({ action: 'fatal', serverReason: '{"error":"bad sample_rate"}' });
    expect(classifyUpgradeRefusal(400).reason).not.toMatch(/key/i);
    expect(classifyUpgradeRefusal(404).action).toBe('fatal');
    expect(classifyUpgradeRefusal(401).action).toBe('fatal');
    expect(classifyUpgradeRefusal(401).reason).toMatch(/API key/);
    expect(classifyUpgradeRefusal(429).action).toBe('limit');
    expect(classifyUpgradeRefusal(500).action).toBe('retry');
    expect(classifyUpgradeRefusal(503).action).toBe('retry');
  });

  it('parses Warning and the configuration in Begin', () => {
    expect(parseServerMessage('{"type":"Warning","warning_code":1,"warning":"keyterms_prompt truncated"}')).toEqual({ type: 'warning', code: 1, warning: 'keyterms_prompt truncated' });
    expect(parseServerMessage('{"type":"Begin","id":"s1","expires_at":10,"configuration":{"model":"universal-3-5-pro","mode":"balanced"}}')).toEqual({
      type: 'begin',
      id: 's1',
      expiresAtMs: 10_000,
      configuration: { model: 'universal-3-5-pro', mode: 'balanced' },
    });
  });
});
