/**
 * The per-guild daily LLM request budget: counting per guild and per UTC day, the translator's gate (one count
 * per request, however many turns it carries; refused turns never reach the gateway), and recaps under it,
 * against the fake LLM Gateway.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLlmClient } from '../../src/llm/gateway-client.ts';
import { LlmError } from '../../src/llm/errors.ts';
import { budgetedRecap, budgetedTranslator, LlmBudget } from '../../src/meeting/llm-budget.ts';
import { Translator } from '../../src/translation/translator.ts';
import { buildMeetingReport } from '../../src/meeting/meeting-report.ts';
import { Transcript } from '../../src/transcript/transcript.ts';
import { silentLogger } from '../../src/log.ts';
import { createGate, startFakeLlmServer, translationPayload, type FakeLlmServer } from '../fakes/llm-server.ts';

const API_KEY = 'test-llm-key-0123456789';
let server: FakeLlmServer | undefined;
let translator: Translator | undefined;

afterEach(async () => {
  await translator?.close();
  await server?.close();
  translator = undefined;
  server = undefined;
});

const turn = (n: number) => ({ turnId: `t${n}`, speakerName: 'Ana', text: `caption number ${n}` });

describe('LlmBudget', () => {
  it('counts each guild apart and starts again on the next UTC day', () => {
    let now = Date.parse('2026-12-01T23:59:00Z');
    const budget = new LlmBudget(2, () => now);
    expect([budget.take('a'), budget.take('a'), budget.take('a')]).toEqual([true, true, false]);
    expect(budget.spent('a')).toBe(true);
    expect(budget.spent('b')).toBe(false);
    expect(budget.take('b')).toBe(true);
    now = Date.parse('2026-12-02T00:00:01Z');
    expect(budget.spent('a')).toBe(false);
    expect(budget.take('a')).toBe(true);
    expect(() => new LlmBudget(0)).toThrow(RangeError);
  });
});

describe('translations and recaps under the budget, against the fake gateway', () => {
  it('counts one per translation request, however many turns it carries; turns past the budget never reach the gateway and are marked not translated', async () => {
    server = await startFakeLlmServer();
    const client = createLlmClient({ baseUrl: server.baseUrl, apiKey: API_KEY, maxRetries: 0, timeoutMs: 5_000 });
    translator = new Translator({ client, model: 'gemini-2.5-flash-lite', maxRequestsPerMinute: 6_000 });
    const budget = new LlmBudget(2);
    const spent: string[] = [];
    const guildA = budgetedTranslator(translator.forMeeting(budget.gate('a')), () => spent.push('a'));
    const queuedA = budgetedTranslator(translator.forMeeting(budget.gate('a')), () => spent.push('a'), () => budget.spent('a'));
    const guildB = budgetedTranslator(translator.forMeeting(budget.gate('b')), () => spent.push('b'));

    // Request 1 carries turn 1; turns 2 and 3 arrive while it is held, so request 2 carries both.
    const hold = createGate();
    server.script({ hold: hold.promise });
    const first = guildA.translate(turn(1), ['es']);
    await server.waitForRequests(1);
    const second = guildA.translate(turn(2), ['es']);
    const third = guildA.translate(turn(3), ['es']);
    hold.open();
    expect(await Promise.all([first, second, third])).toEqual([{ es: '[es] caption number 1' }, { es: '[es] caption number 2' }, { es: '[es] caption number 3' }]);
    expect(server.requests.map((r) => translationPayload(r.body)?.turns.length)).toEqual([1, 2]);
    expect(budget.spent('a')).toBe(true);

    // Guild a's budget is used: no translation, no request, told once (by the meeting) per refusal.
    expect(await guildA.translate(turn(4), ['es'])).toEqual({});
    expect(spent).toEqual(['a']);
    // Known to be spent: not queued at all.
    const waitingBefore = translator.stats();
    expect(await queuedA.translate(turn(6), ['es'])).toEqual({});
    expect(translator.stats()).toEqual(waitingBefore);
    expect(spent).toEqual(['a', 'a']);
    // Guild b still has its own.
    expect(await guildB.translate(turn(5), ['es'])).toEqual({ es: '[es] caption number 5' });
    expect(server.requests).toHaveLength(3);
    expect(translationPayload(server.requests[2]?.body)?.turns.map((t) => t.text)).toEqual(['caption number 5']);
  });

  it('a recap is not asked for once the budget is spent, and a recap request past it is refused before it is sent', async () => {
    server = await startFakeLlmServer();
    const client = createLlmClient({ baseUrl: server.baseUrl, apiKey: API_KEY, maxRetries: 0, timeoutMs: 5_000 });
    const settings = { client, model: 'claude-sonnet-4-6', fallbackModels: [] };
    const budget = new LlmBudget(1);
    expect(budgetedRecap(settings, undefined, 'a')).toEqual({ recap: settings });

    const allowed = budgetedRecap(settings, budget, 'a');
    expect(allowed.refusal).toBeUndefined();
    const request = { model: 'claude-sonnet-4-6', fallbackModels: [], messages: [{ role: 'user' as const, content: 'hello' }], maxTokens: 50 };
    await allowed.recap?.client.complete(request);
    // Past the budget within the same recap: refused without a request.
    const refused = await allowed.recap?.client.complete(request).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmError);
    expect((refused as LlmError).kind).toBe('budget');
    expect(server.requests).toHaveLength(1);

    const later = budgetedRecap(settings, budget, 'a');
    expect(later.recap).toBeUndefined();
    expect(later.refusal).toBe("This server has used today's budget of 1 LLM request, so captions are not translated and no recap is made until midnight UTC.");
    expect(budgetedRecap(settings, budget, 'b').recap).toBeDefined();
  });

  it('a recap the budget runs out on mid-way is reported as refused, not as a failed recap to retry with /recap', async () => {
    server = await startFakeLlmServer();
    const client = createLlmClient({ baseUrl: server.baseUrl, apiKey: API_KEY, maxRetries: 0, timeoutMs: 5_000 });
    const budget = new LlmBudget(1);
    const allowed = budgetedRecap({ client, model: 'claude-sonnet-4-6', fallbackModels: [] }, budget, 'a');
    budget.take('a'); // a translation spends the last request after the recap was allowed
    const transcript = new Transcript();
    transcript.add({ kind: 'final', speaker: { id: 'ana', name: 'Ana' }, turnId: 't0', startMs: 0, endMs: 2_000, text: 'We ship on Friday.' });
    const report = await buildMeetingReport({ title: 'T', transcript, durationMs: 2_000, headline: '⏹️ Ended.', recap: allowed.recap, logger: silentLogger() });
    expect(report.recapFailed).toBe(false);
    expect(report.content).toContain("This server has used today's budget of 1 LLM request");
    expect(report.content).not.toContain('/recap later');
    expect(server.requests).toHaveLength(0);
  });
});
