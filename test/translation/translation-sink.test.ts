import { afterEach, describe, expect, it } from 'vitest';
import type { CaptionEvent, Notice } from '../../src/captions/caption.ts';
import { createLlmClient } from '../../src/llm/gateway-client.ts';
import { silentLogger } from '../../src/log.ts';
import { TranslationSink, type TranslatedCaption } from '../../src/translation/translation-sink.ts';
import { Translator, type TranslatorOptions } from '../../src/translation/translator.ts';
import { createGate, defaultCompletion, startFakeLlmServer, translationPayload, type FakeLlmServer, type Gate } from '../fakes/llm-server.ts';

let server: FakeLlmServer | undefined;
const gates: Gate[] = [];
const translators: Translator[] = [];

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.open();
  for (const translator of translators.splice(0)) await translator.close();
  await server?.close();
  server = undefined;
});

function final(n: number, text: string, languageCode?: string): CaptionEvent {
  return { kind: 'final', speaker: { id: 'u1', name: 'Ana' }, turnId: `t${n}`, startMs: n * 1000, endMs: n * 1000 + 500, text, ...(languageCode !== undefined && { languageCode }) };
}

async function setUp(languages: string[], options: Partial<TranslatorOptions> = {}) {
  server ??= await startFakeLlmServer();
  const client = createLlmClient({ baseUrl: server.baseUrl, apiKey: 'aai-sink-key-0123456789', maxRetries: 0 });
  const translator = new Translator({ client, model: 'gemini-2.5-flash-lite', maxRequestsPerMinute: 6_000, ...options });
  translators.push(translator);
  const results: TranslatedCaption[] = [];
  const notices: Notice[] = [];
  const sink = new TranslationSink({
    translator: translator.forMeeting(),
    languages: () => languages,
    logger: silentLogger(),
    onTranslated: (result) => results.push(result),
    onNotice: (notice) => notices.push(notice),
  });
  return { sink, results, notices };
}

describe('TranslationSink', () => {
  it('does not translate a caption into the language it was spoken in, and says which languages it was already in', async () => {
    const { sink, results } = await setUp(['es', 'en', 'pt-BR']);
    sink.caption(final(1, 'Hola a todos.', 'es'));
    sink.caption(final(2, 'Olá a todos.', 'pt'));
    sink.caption(final(3, 'Hello.'));
    await sink.flushed();
    expect(results.map((result) => ({ turn: result.event.turnId, translated: Object.keys(result.translations), alreadyIn: result.alreadyIn ?? [] }))).toEqual([
      { turn: 't1', translated: ['en', 'pt-BR'], alreadyIn: ['es'] },
      { turn: 't2', translated: ['es', 'en'], alreadyIn: ['pt-BR'] },
      { turn: 't3', translated: ['es', 'en', 'pt-BR'], alreadyIn: [] },
    ]);
    const sent = (server?.requests ?? []).flatMap((request) => translationPayload(request.body)?.turns ?? []);
    expect(sent.map((turn) => turn.translate_to)).toEqual([['en', 'pt-BR'], ['es', 'en'], ['es', 'en', 'pt-BR']]);
  });

  it('sends no request when every target language is the one spoken', async () => {
    const { sink, results } = await setUp(['es']);
    sink.caption(final(1, 'Hola.', 'es'));
    await sink.flushed();
    expect(results).toEqual([{ event: final(1, 'Hola.', 'es'), translations: {}, failed: [], alreadyIn: ['es'] }]);
    expect(server?.requests).toEqual([]);
  });

  it('marks captions skipped for a full backlog as failed and tells the channel once, in plain words, that translation is behind', async () => {
    const held = createGate();
    gates.push(held);
    let calls = 0;
    server = await startFakeLlmServer({ handler: (request) => (calls++ === 0 ? { ...defaultCompletion(request), hold: held.promise } : defaultCompletion(request)) });
    const { sink, results, notices } = await setUp(['de'], { maxBacklogPerMeeting: 1 });
    sink.caption(final(1, 'One.'));
    await server.waitForRequests(1);
    for (const n of [2, 3, 4]) sink.caption(final(n, `Number ${n}.`));
    held.open();
    await sink.flushed();
    expect(results.map((result) => [result.event.turnId, result.failed])).toEqual([
      ['t2', ['de']],
      ['t3', ['de']],
      ['t1', []],
      ['t4', []],
    ]);
    expect(notices).toEqual([
      { level: 'warning', text: 'Translations are falling behind, so some captions are not being translated. Captions continue in the original language; untranslated ones are marked.' },
      { level: 'info', text: 'Translations are working again.' },
    ]);
  });
});
