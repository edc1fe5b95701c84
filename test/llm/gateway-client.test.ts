import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLlmClient, parseRetryAfterMs, type LlmClientOptions } from '../../src/llm/gateway-client.ts';
import { createLogger } from '../../src/log.ts';
import { completionBody, createGate, startFakeLlmServer, type FakeLlmServer, type Gate } from '../fakes/llm-server.ts';
import { llmRejection } from '../support/llm-error.ts';

const API_KEY = 'aai-test-key-0123456789abcdef';
const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];

let server: FakeLlmServer | undefined;
const gates: Gate[] = [];

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.open();
  await server?.close();
  server = undefined;
});

async function start(...args: Parameters<typeof startFakeLlmServer>): Promise<FakeLlmServer> {
  server = await startFakeLlmServer(...args);
  return server;
}

/** A pino logger (without the secret scrubbing `createLogger` adds) whose lines land in `lines`. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[]; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', secrets: [], destination });
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

function client(fake: FakeLlmServer, options: Partial<LlmClientOptions> = {}) {
  return createLlmClient({ baseUrl: fake.baseUrl, apiKey: API_KEY, timeoutMs: 5_000, maxRetries: 2, retryDelayMs: { initial: 1, max: 2 }, ...options });
}

function modelsOf(fake: FakeLlmServer): unknown[] {
  return fake.requests.map((request) => (request.body as { model: unknown }).model);
}

describe('createLlmClient', () => {
  it('sends the raw key as Authorization, the model and the OpenAI-style body, and returns content, model and request_id', async () => {
    const fake = await start();
    const result = await client(fake).complete({
      model: 'gemini-2.5-flash-lite',
      messages: MESSAGES,
      maxTokens: 100,
      temperature: 0.2,
      jsonSchema: { name: 'greeting', schema: { type: 'object' } },
    });
    expect(result).toEqual({ content: 'Echo: Say hello.', model: 'gemini-2.5-flash-lite', requestId: 'req_0', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 4 } });
    const [request] = fake.requests;
    expect(request?.headers.authorization).toBe(API_KEY);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.body).toEqual({
      model: 'gemini-2.5-flash-lite',
      messages: MESSAGES,
      max_tokens: 100,
      temperature: 0.2,
      response_format: { type: 'json_schema', json_schema: { name: 'greeting', schema: { type: 'object' }, strict: true } },
      fallback_config: { retry: false },
    });
  });

  it('omits optional fields it was not given', async () => {
    const fake = await start();
    await client(fake).complete({ model: 'm', messages: MESSAGES });
    expect(fake.requests[0]?.body).toEqual({ model: 'm', messages: MESSAGES, fallback_config: { retry: false } });
  });

  it('retries a 429 after the Retry-After the gateway asked for, then succeeds', async () => {
    const fake = await start({ responses: [{ status: 429, headers: { 'retry-after': '0.05' }, body: { message: 'Rate limit exceeded', request_id: 'req_rl' } }] });
    const { logger, records } = capturingLogger();
    const result = await client(fake, { logger, retryDelayMs: { initial: 60_000, max: 60_000 } }).complete({ model: 'm', messages: MESSAGES });
    expect(result.content).toBe('Echo: Say hello.');
    expect(fake.requests).toHaveLength(2);
    const [first, second] = fake.requests;
    expect(first?.respondedAt).toBeDefined();
    expect(second?.receivedAt).toBeGreaterThanOrEqual(first?.respondedAt ?? Infinity);
    const retry = records().find((record) => record['retryInMs'] !== undefined);
    expect(retry).toMatchObject({ level: 40, model: 'm', status: 429, requestId: 'req_rl', attempt: 1, retryInMs: 50 });
  });

  it('prefers retry-after-ms over Retry-After', async () => {
    const fake = await start();
    fake.script({ status: 429, headers: { 'retry-after-ms': '20', 'retry-after': '30' }, body: { error: 'slow down', status: 429 } });
    const { logger, records } = capturingLogger();
    await client(fake, { logger }).complete({ model: 'm', messages: MESSAGES });
    expect(fake.requests).toHaveLength(2);
    expect(records().find((record) => record['retryInMs'] !== undefined)).toMatchObject({ retryInMs: 20 });
  });

  it('moves on to the fallback model once 500s have used up the retries', async () => {
    const fake = await start({
      responses: [
        { status: 500, body: { message: 'Internal error', request_id: 'req_a1', metadata: {} } },
        { status: 503, body: { error: 'Service unavailable', status: 503 } },
      ],
    });
    const result = await client(fake, { maxRetries: 1 }).complete({ model: 'primary', fallbackModels: ['backup', 'third'], messages: MESSAGES });
    expect(modelsOf(fake)).toEqual(['primary', 'primary', 'backup']);
    expect(result.model).toBe('backup');
  });

  it('is the only retry policy: a 5xx costs one upstream call per attempt, the gateway being told not to retry', async () => {
    const fake = await start({ handler: () => ({ status: 503, body: { error: 'Service unavailable', status: 503 } }) });
    await llmRejection(client(fake, { maxRetries: 2 }).complete({ model: 'a', messages: MESSAGES }));
    expect(fake.requests).toHaveLength(3);
    expect(fake.upstreamCalls()).toBe(3);
    for (const request of fake.requests) expect(request.body).toMatchObject({ fallback_config: { retry: false } });
    expect(fake.requests.some((request) => 'fallbacks' in (request.body as object))).toBe(false);
  });

  it('throws the last model’s retryable LlmError when every model failed', async () => {
    const fake = await start({ handler: () => ({ status: 502, body: { error: { message: 'Bad gateway', request_id: 'req_nested' } } }) });
    const error = await llmRejection(client(fake, { maxRetries: 1 }).complete({ model: 'a', fallbackModels: ['b'], messages: MESSAGES }));
    expect(modelsOf(fake)).toEqual(['a', 'a', 'b', 'b']);
    expect(error).toMatchObject({ kind: 'server_error', retryable: true, status: 502, model: 'b', requestId: 'req_nested' });
    expect(error.message).toContain('Bad gateway');
    expect(error.message).toContain('can be retried');
  });

  it('fails at once on a 4xx other than 429 that is not about the model: no retry, no fallback', async () => {
    const fake = await start({ responses: [{ status: 400, body: { message: 'messages: field required', request_id: 'req_400', metadata: { errors: ['messages must not be empty'] } } }] });
    const error = await llmRejection(client(fake).complete({ model: 'a', fallbackModels: ['b'], messages: MESSAGES }));
    expect(fake.requests).toHaveLength(1);
    expect(error).toMatchObject({ kind: 'rejected', retryable: false, status: 400, model: 'a', requestId: 'req_400' });
    expect(error.message).toContain('messages: field required: messages must not be empty');
    expect(error.message).toContain('retrying will not help');
  });

  it('moves on to the next fallback at once when the gateway answers 400 "model … is not supported"', async () => {
    const fake = await start({ models: ['backup'] });
    const { logger, records } = capturingLogger();
    const result = await client(fake, { logger }).complete({ model: 'retired-model', fallbackModels: ['backup'], messages: MESSAGES });
    expect(modelsOf(fake)).toEqual(['retired-model', 'backup']);
    expect(result).toMatchObject({ model: 'backup', content: 'Echo: Say hello.' });
    const failed = records().find((record) => record['kind'] === 'model_unavailable');
    expect(failed).toMatchObject({ level: 40, model: 'retired-model', status: 400, requestId: 'req_0' });
  });

  it('treats a 404 as a model the gateway does not serve: the fallback is tried, the same model is not retried', async () => {
    const fake = await start({ responses: [{ status: 404, body: { error: 'Not Found', status: 404 } }] });
    const result = await client(fake).complete({ model: 'gone', fallbackModels: ['backup'], messages: MESSAGES });
    expect(modelsOf(fake)).toEqual(['gone', 'backup']);
    expect(result.model).toBe('backup');
  });

  it('rejects with model_unavailable, naming the model, when no configured model is served', async () => {
    const fake = await start({ models: ['other'] });
    const error = await llmRejection(client(fake).complete({ model: 'old-a', fallbackModels: ['old-b'], messages: MESSAGES }));
    expect(modelsOf(fake)).toEqual(['old-a', 'old-b']);
    expect(error).toMatchObject({ kind: 'model_unavailable', retryable: false, status: 400, model: 'old-b' });
    expect(error.message).toContain('model old-b is not supported');
  });

  it('uses a request’s own timeout over the client’s', async () => {
    const gate = createGate();
    gates.push(gate);
    const fake = await start({ handler: () => ({ hold: gate.promise }) });
    const error = await llmRejection(client(fake, { timeoutMs: 60_000, maxRetries: 0 }).complete({ model: 'm', messages: MESSAGES, timeoutMs: 50 }));
    expect(error).toMatchObject({ kind: 'timeout' });
    expect(error.message).toContain('did not answer within 50 ms');
  });

  it('reports the usage of every answer, malformed ones included, to onUsage', async () => {
    const fake = await start({ responses: [{ status: 200, body: { id: 'x', choices: [], usage: { prompt_tokens: 7, completion_tokens: 2 } } }] });
    const seen: Array<{ model: string; promptTokens: number; completionTokens: number }> = [];
    const result = await client(fake, { onUsage: (usage, model) => seen.push({ model, ...usage }) }).complete({ model: 'a', fallbackModels: ['b'], messages: MESSAGES });
    expect(result.usage).toEqual({ promptTokens: 3, completionTokens: 4 });
    expect(seen).toEqual([
      { model: 'a', promptTokens: 7, completionTokens: 2 },
      { model: 'b', promptTokens: 3, completionTokens: 4 },
    ]);
  });

  it('reads the {error, status} error shape and takes the request id from x-request-id when the body has none', async () => {
    const fake = await start({ responses: [{ status: 401, headers: { 'x-request-id': 'hdr_1' }, body: { error: 'Invalid API key', status: 401 } }] });
    const error = await llmRejection(client(fake).complete({ model: 'm', messages: MESSAGES }));
    expect(error).toMatchObject({ kind: 'rejected', status: 401, requestId: 'hdr_1' });
    expect(error.message).toContain('Invalid API key');
  });

  it('treats a non-JSON 200 body as malformed and tries the fallback without retrying the same model', async () => {
    const fake = await start({ responses: [{ status: 200, body: '{"choices": [ oops' }] });
    const result = await client(fake).complete({ model: 'a', fallbackModels: ['b'], messages: MESSAGES });
    expect(modelsOf(fake)).toEqual(['a', 'b']);
    expect(result).toMatchObject({ model: 'b', content: 'Echo: Say hello.' });
  });

  it('rejects a 200 body without choices as a retryable malformed answer', async () => {
    const fake = await start({ responses: [{ status: 200, body: { id: 'x', choices: [], request_id: 'req_empty' } }] });
    const error = await llmRejection(client(fake).complete({ model: 'a', messages: MESSAGES }));
    expect(fake.requests).toHaveLength(1);
    expect(error).toMatchObject({ kind: 'malformed', retryable: true, status: 200, model: 'a', requestId: 'req_empty' });
  });

  it('joins content given as an array of text parts', async () => {
    const body = completionBody('m', 'x');
    body['choices'] = [{ index: 0, message: { role: 'assistant', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] }, finish_reason: 'stop' }];
    const fake = await start({ responses: [{ body }] });
    expect((await client(fake).complete({ model: 'm', messages: MESSAGES })).content).toBe('Hello');
  });

  it('rejects with a retryable timeout error when the gateway does not answer in time, after retrying', async () => {
    const gate = createGate();
    gates.push(gate);
    const fake = await start({ handler: () => ({ hold: gate.promise }) });
    const error = await llmRejection(client(fake, { timeoutMs: 100, maxRetries: 1 }).complete({ model: 'slow', messages: MESSAGES }));
    expect(fake.requests).toHaveLength(2);
    expect(error).toMatchObject({ kind: 'timeout', retryable: true, model: 'slow' });
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('did not answer within 100 ms');
  });

  it('rejects with a retryable network error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const llm = createLlmClient({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, maxRetries: 0 });
    const error = await llmRejection(llm.complete({ model: 'm', messages: MESSAGES }));
    expect(error).toMatchObject({ kind: 'network', retryable: true, model: 'm' });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('never writes the key to a log line or an error message, even when the gateway echoes it', async () => {
    const gate = createGate();
    gates.push(gate);
    const fake = await start({
      responses: [
        { status: 429, headers: { 'retry-after': '0' }, body: { message: `Too many requests for key ${API_KEY}`, request_id: 'req_k1' } },
        { status: 500, body: { error: `upstream said: Authorization: ${API_KEY}`, status: 500 } },
        { status: 200, body: `not json ${API_KEY}` },
        { status: 401, body: { message: `Invalid API key ${API_KEY}`, request_id: 'req_k4', metadata: { authorization: API_KEY } } },
        { hold: gate.promise },
        { hold: gate.promise },
      ],
    });
    const { logger, lines } = capturingLogger();
    const llm = client(fake, { logger, maxRetries: 1, timeoutMs: 100 });
    const errors = [
      await llmRejection(llm.complete({ model: 'a', fallbackModels: ['b'], messages: MESSAGES })), // 429, 500 → b: malformed
      await llmRejection(llm.complete({ model: 'c', messages: MESSAGES })), // 401
      await llmRejection(llm.complete({ model: 'd', messages: MESSAGES })), // timeout
    ];
    expect(errors.map((error) => error.kind)).toEqual(['malformed', 'rejected', 'timeout']);
    expect(errors[1]?.message).toContain('Invalid API key [redacted]');
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.join('\n')).toContain('req_k1');
    for (const line of lines) expect(line).not.toContain(API_KEY);
    for (const error of errors) {
      expect(error.message).not.toContain(API_KEY);
      expect(JSON.stringify(error)).not.toContain(API_KEY);
      expect(String(error.stack)).not.toContain(API_KEY);
    }
  });

  it('refuses an empty or multi-line key without echoing it', () => {
    expect(() => createLlmClient({ apiKey: '   ' })).toThrow(/API key is empty/);
    let message = '';
    try {
      createLlmClient({ apiKey: 'secret-part-one\nsecret-part-two' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('API key');
    expect(message).not.toContain('secret-part');
  });

  it('trims whitespace around the key (as read from a .env file)', async () => {
    const fake = await start();
    await createLlmClient({ baseUrl: fake.baseUrl, apiKey: `  ${API_KEY}\n` }).complete({ model: 'm', messages: MESSAGES });
    expect(fake.requests[0]?.headers.authorization).toBe(API_KEY);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads milliseconds, seconds and HTTP dates, and ignores nonsense', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '250' }), now)).toBe(250);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '1.5' }), now)).toBe(1500);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'Sun, 22 Nov 2026 10:00:03 GMT' }), now)).toBe(3000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '-1' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(new Headers(), now)).toBeUndefined();
  });
});

describe('fake LLM gateway', () => {
  it('lists models like GET /v1/models', async () => {
    const fake = await start({ models: ['gemini-2.5-flash-lite', 'gpt-5-mini'] });
    const response = await fetch(`${fake.baseUrl}/models`, { headers: { Authorization: API_KEY } });
    expect(await response.json()).toEqual({
      object: 'list',
      data: [
        { id: 'gemini-2.5-flash-lite', object: 'model', owned_by: 'fake' },
        { id: 'gpt-5-mini', object: 'model', owned_by: 'fake' },
      ],
    });
    expect(fake.requests).toHaveLength(0);
  });
});
