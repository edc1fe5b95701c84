/**
 * The fake AssemblyAI server's `llm_gateway` parameter (test/fakes/assemblyai/llm-gateway.ts), driven by a bare
 * WebSocket client: validation at connection, one LLM Gateway request per final turn with `{{turn}}` filled in,
 * the gateway's answer or error body relayed as `LLMGatewayResponse`, and answers flushed before `Termination`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAssemblyAI, type FakeAssemblyAI } from './assemblyai-server.ts';
import { createGate, startFakeLlmServer, type FakeLlmServer } from './llm-server.ts';
import { connectProbe, frames, silence, tone, type Probe } from './assemblyai/probe-client.ts';

const KEY = 'fake-key-llm-gateway';
const MODEL = 'gemini-2.5-flash-lite';
const config = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Summarise: {{turn}}' }], max_tokens: 100, ...overrides });

/** One turn of tone, then silence past `max_turn_silence` (1 s for u3-rt-pro), sent at once. */
function sayOneTurn(probe: Probe): void {
  for (const frame of frames(Buffer.concat([tone(600), silence(1_400)]), 100)) probe.ws.send(frame);
}

describe('fake AssemblyAI: llm_gateway', () => {
  let llm: FakeLlmServer;
  let server: FakeAssemblyAI;

  beforeAll(async () => {
    llm = await startFakeLlmServer({ models: [MODEL] });
    server = await startFakeAssemblyAI({ apiKey: KEY, maxAudioAheadMs: null, beginDelayMs: 0, terminationDelayMs: 0, llmGatewayUrl: llm.baseUrl });
  });

  afterAll(async () => {
    await server?.close();
    await llm?.close();
  });

  it('runs the prompt on each final turn and relays the answer as LLMGatewayResponse; Terminate waits for it', async () => {
    const before = llm.requests.length;
    const gate = createGate();
    llm.script({ hold: gate.promise });
    const probe = connectProbe(server.url, { authorization: KEY, query: { llm_gateway: config() } });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sayOneTurn(probe);
    const final = await probe.waitFor((m) => m['type'] === 'Turn' && m['end_of_turn'] === true);
    const [request] = (await llm.waitForRequests(before + 1)).slice(before);
    probe.sendJson({ type: 'Terminate' });
    gate.open();
    const answer = await probe.waitFor((m) => m['type'] === 'LLMGatewayResponse');
    await probe.waitFor((m) => m['type'] === 'Termination');
    expect((await probe.closed).code).toBe(1000);

    // The gateway got the model, max_tokens and the prompt with the turn in place of {{turn}}, with the account's key.
    expect(request?.body).toEqual({ model: MODEL, messages: [{ role: 'user', content: `Summarise: ${String(final['transcript'])}` }], max_tokens: 100 });
    expect(request?.headers.authorization).toBe(KEY);
    expect(answer).toMatchObject({ type: 'LLMGatewayResponse', turn_order: final['turn_order'], transcript: final['transcript'] });
    expect((answer['data'] as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe(`Echo: Summarise: ${String(final['transcript'])}`);
    // The answer came after its Turn and before Termination.
    const types = probe.messages.map((m) => m['type']);
    expect(types.indexOf('LLMGatewayResponse')).toBeGreaterThan(probe.messages.indexOf(final));
    expect(types.indexOf('LLMGatewayResponse')).toBeLessThan(types.indexOf('Termination'));
  });

  it("relays the gateway's refusal of an unknown model in data, and the session goes on", async () => {
    const probe = connectProbe(server.url, { authorization: KEY, query: { llm_gateway: config({ model: 'claude-3-5-sonnet-retired' }) } });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sayOneTurn(probe);
    const answer = await probe.waitFor((m) => m['type'] === 'LLMGatewayResponse');
    expect(answer['data']).toMatchObject({ message: 'Bad Request', metadata: { errors: ['model claude-3-5-sonnet-retired is not supported'] } });
    probe.sendJson({ type: 'Terminate' });
    expect((await probe.closed).code).toBe(1000);
  });

  it.each([
    ['not JSON', '{model:', 'is not JSON'],
    ['no model', config({ model: undefined }), 'needs "model"'],
    ['no messages', config({ messages: [] }), 'needs "messages"'],
    ['a message without a role', config({ messages: [{ content: '{{turn}}' }] }), 'each message needs a "role"'],
    ['max_tokens of 0', config({ max_tokens: 0 }), 'needs "max_tokens"'],
  ])('refuses an llm_gateway with %s at connection (Error, then close 3006)', async (_what, value, problem) => {
    const violationsBefore = server.violations.length;
    const probe = connectProbe(server.url, { authorization: KEY, query: { llm_gateway: value } });
    const error = await probe.waitFor((m) => m['type'] === 'Error');
    expect(error['error_code']).toBe(3006);
    expect(String(error['error'])).toContain(problem);
    expect((await probe.closed).code).toBe(3006);
    expect(server.violations.slice(violationsBefore).join('\n')).toContain('query parameter llm_gateway');
  });

  it('records a prompt with no {{turn}} placeholder as a violation (the LLM would never see the turn)', async () => {
    const violationsBefore = server.violations.length;
    const probe = connectProbe(server.url, { authorization: KEY, query: { llm_gateway: config({ messages: [{ role: 'user', content: 'Summarise the meeting.' }] }) } });
    await probe.waitFor((m) => m['type'] === 'Begin');
    probe.sendJson({ type: 'Terminate' });
    await probe.closed;
    expect(server.violations.slice(violationsBefore)).toEqual([expect.stringContaining('llm_gateway has no {{turn}} placeholder')]);
  });
});
