import { describe, expect, it } from 'vitest';
import { parseServerMessage } from '../../src/stt/assemblyai/messages.ts';
import { classifyClose } from '../../src/stt/assemblyai/close-codes.ts';
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

describe('classifyClose', () => {
  it('classifies the v3 close codes', () => {
    expect(classifyClose(1000).action).toBe('normal');
    expect(classifyClose(1008).action).toBe('fatal');
    expect(classifyClose(1008).reason).toMatch(/API key is wrong or the account has no balance/);
    expect(classifyClose(3005).action).toBe('retry');
    expect(classifyClose(1006).action).toBe('retry');
    expect(classifyClose(3008).action).toBe('rotate');
    expect(classifyClose(3009).action).toBe('backoff');
    expect(classifyClose(4001).action).toBe('fatal');
    expect(classifyClose(4002).action).toBe('fatal');
  });
});
