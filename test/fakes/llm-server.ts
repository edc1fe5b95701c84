/**
 * A fake AssemblyAI LLM Gateway for tests: an HTTP server on 127.0.0.1 (port chosen by the OS) that speaks
 * `POST /v1/chat/completions` and `GET /v1/models`, records every request, and answers from a queue of
 * scripted responses, a handler, or a deterministic default "translator".
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake received it. */
export interface RecordedRequest {
  /** 0-based arrival order. */
  index: number;
  method: string;
  /** Path without query, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-cased header names, as Node parses them. */
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or the raw text when it is not JSON (undefined when empty). */
  body: unknown;
  /** `Date.now()` when the body had fully arrived. */
  receivedAt: number;
  /** `Date.now()` when the fake finished answering; undefined until then (or when the client went away). */
  respondedAt?: number;
}

/** How to answer one request. Every field is optional. */
export interface ScriptedResponse {
  /** HTTP status; default 200. */
  status?: number;
  /** An object is sent as JSON; a string is sent verbatim (use it for malformed JSON). Default: the default handler's body. */
  body?: unknown;
  /** Extra response headers, e.g. `{ 'retry-after': '0.05' }`. */
  headers?: Record<string, string>;
  /** Wait this long before answering, in ms (use a gate for holding a request open instead, where possible). */
  delayMs?: number;
  /** Answer only once this settles: a gate the test opens when it wants the response to go out. */
  hold?: Promise<unknown>;
}

/** Decides the answer to a request; may be async (e.g. to await a gate). */
export type FakeLlmHandler = (request: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>;

/** Options for {@link startFakeLlmServer}. */
export interface FakeLlmServerOptions {
  /** Answers consumed in order, one per `POST /v1/chat/completions`; after they run out, `handler` answers. */
  responses?: ScriptedResponse[];
  /** Answers chat completions once `responses` is empty; default: {@link defaultCompletion}. */
  handler?: FakeLlmHandler;
  /**
   * Ids listed by `GET /v1/models`. When set, a chat completion for any other model is answered as the gateway
   * answers a retired or unknown model (LLM Gateway troubleshooting page): HTTP 400,
   * `{message, request_id, metadata: {errors: ["model <id> is not supported"]}}`, before scripted responses
   * are consulted. Unset: every model is served and `GET /v1/models` lists `fake-model`.
   */
  models?: string[];
}

/** A running fake gateway. */
export interface FakeLlmServer {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:41234/v1`: pass it as the client's `baseUrl`. */
  baseUrl: string;
  /** Every chat completion request so far, in arrival order (GET /v1/models is not recorded). */
  requests: RecordedRequest[];
  /**
   * Calls the gateway made to model providers so far. The gateway retries a 5xx once by itself unless the request
   * says `fallback_config: {retry: false}` (LLM Gateway quickstart "Automatic retries" and fallback pages), so a
   * 5xx answer costs 2 calls without that and 1 with it; any other answer costs 1.
   */
  upstreamCalls(): number;
  /** Appends scripted answers to the queue. */
  script(...responses: ScriptedResponse[]): void;
  /** Resolves with the recorded requests once at least `count` chat completion requests have arrived. */
  waitForRequests(count: number): Promise<RecordedRequest[]>;
  /** Stops listening and drops open connections (held requests are answered with nothing). */
  close(): Promise<void>;
}

/** A gate: a promise the test resolves when it chooses, for {@link ScriptedResponse.hold}. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** Creates a {@link Gate}. */
export function createGate(): Gate {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: () => resolve() };
}

/** Starts the fake gateway on 127.0.0.1 with an OS-assigned port. */
export async function startFakeLlmServer(options: FakeLlmServerOptions = {}): Promise<FakeLlmServer> {
  const queue: ScriptedResponse[] = [...(options.responses ?? [])];
  const handler = options.handler ?? defaultCompletion;
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ count: number; resolve: (requests: RecordedRequest[]) => void }> = [];
  const timers = new Set<NodeJS.Timeout>();
  let upstream = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'GET' && path === '/v1/models') {
        const data = (options.models ?? ['fake-model']).map((id) => ({ id, object: 'model', owned_by: 'fake' }));
        send(res, 200, { object: 'list', data }, {});
        return;
      }
      if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        send(res, 404, { message: `No route for ${req.method} ${path}`, request_id: 'req_404' }, {});
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = { index: requests.length, method: req.method, path, headers: req.headers, body: parseBody(text), receivedAt: Date.now() };
      requests.push(recorded);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(requests.slice());
        }
      }
      const model = isRecord(recorded.body) && typeof recorded.body['model'] === 'string' ? recorded.body['model'] : '';
      if (options.models !== undefined && !options.models.includes(model)) {
        send(res, 400, { message: 'Bad Request', request_id: `req_${recorded.index}`, metadata: { errors: [`model ${model} is not supported`] } }, {});
        recorded.respondedAt = Date.now();
        return;
      }
      respond(recorded, res).catch(() => res.destroy());
    });
  });

  async function respond(recorded: RecordedRequest, res: ServerResponse): Promise<void> {
    const scripted = queue.shift() ?? (await handler(recorded));
    if (scripted.hold !== undefined) await scripted.hold;
    if (scripted.delayMs !== undefined && scripted.delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, scripted.delayMs);
        timers.add(timer);
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
          resolve();
        });
      });
    }
    if (res.destroyed || res.writableEnded) return;
    const status = scripted.status ?? 200;
    const config = isRecord(recorded.body) && isRecord(recorded.body['fallback_config']) ? recorded.body['fallback_config'] : {};
    upstream += status >= 500 && config['retry'] !== false ? 2 : 1;
    const body = scripted.body !== undefined ? scripted.body : status === 200 ? (await defaultCompletion(recorded)).body : { message: 'Scripted error', request_id: `req_${recorded.index}` };
    send(res, status, body, scripted.headers ?? {});
    recorded.respondedAt = Date.now();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    upstreamCalls: () => upstream,
    script: (...responses) => void queue.push(...responses),
    waitForRequests(count) {
      if (requests.length >= count) return Promise.resolve(requests.slice());
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A gateway-shaped success body around `content`. `usage` counts tokens as about four characters each (the
 * prompt is given as its character count), so tests can check that usage is read from each answer.
 */
export function completionBody(model: string, content: string, requestId = 'req_fake', promptChars = 0): Record<string, unknown> {
  const prompt_tokens = Math.ceil(promptChars / 4);
  const completion_tokens = Math.ceil(content.length / 4);
  return {
    id: `chatcmpl-${requestId}`,
    object: 'chat.completion',
    created: 0,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    request_id: requestId,
  };
}

/**
 * The JSON document the translator's user message carries: the text between the first `{` and the last `}`
 * of the last user message, parsed. Undefined when there is none.
 */
export function translationPayload(body: unknown): { turns: Array<{ id: string; text: string; translate_to: string[] }> } | undefined {
  if (!isRecord(body) || !Array.isArray(body['messages'])) return undefined;
  const users = body['messages'].filter((message): message is { content: string } => isRecord(message) && message['role'] === 'user' && typeof message['content'] === 'string');
  const content = users.at(-1)?.content ?? '';
  const start = content.indexOf('{');
  const end = content.lastIndexOf('}');
  if (start < 0 || end < start) return undefined;
  try {
    const payload: unknown = JSON.parse(content.slice(start, end + 1));
    return isRecord(payload) && Array.isArray(payload['turns']) ? (payload as { turns: Array<{ id: string; text: string; translate_to: string[] }> }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What Parley's in-stream translation prompt holds once AssemblyAI put the turn in: the `languages:` JSON line and
 * the text between `<turn-NONCE>` and `</turn-NONCE>` of the last user message. Undefined for any other prompt.
 */
export function inStreamPayload(messages: unknown[]): { languages: string[]; text: string } | undefined {
  const users = messages.filter((message): message is { content: string } => isRecord(message) && message['role'] === 'user' && typeof message['content'] === 'string');
  const content = users.at(-1)?.content ?? '';
  const fence = /<(turn-[0-9a-f]+)>\n([\s\S]*?)\n<\/\1>/.exec(content);
  const line = /^languages: (.*)$/m.exec(content);
  if (fence === null || line === null) return undefined;
  try {
    const languages: unknown = JSON.parse(line[1] ?? '');
    if (!Array.isArray(languages) || !languages.every((code) => typeof code === 'string')) return undefined;
    return { languages: languages as string[], text: fence[2] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * The default answer. With a JSON schema `response_format`: for every property the schema requires (a turn id)
 * and every language that turn's object requires, `[<lang>] <original text>`, taking the text from the
 * translator's payload. Parley's in-stream prompt: `{<lang>: "[<lang>] <turn text>"}` for each language it lists.
 * Anything else: `Echo: <last user message>`. Deterministic, no delay.
 */
export function defaultCompletion(request: RecordedRequest): ScriptedResponse {
  const body = isRecord(request.body) ? request.body : {};
  const model = typeof body['model'] === 'string' ? body['model'] : 'unknown';
  const requestId = `req_${request.index}`;
  const promptChars = (Array.isArray(body['messages']) ? body['messages'] : []).reduce((sum: number, message: unknown) => sum + (isRecord(message) && typeof message['content'] === 'string' ? message['content'].length : 0), 0);
  const format = body['response_format'];
  const jsonSchema = isRecord(format) && isRecord(format['json_schema']) ? format['json_schema'] : undefined;
  const schema = jsonSchema?.['schema'];
  if (jsonSchema?.['name'] === 'meeting_recap') return { body: completionBody(model, JSON.stringify(recapAnswer(body)), requestId, promptChars) };
  if (isRecord(schema) && isRecord(schema['properties'])) {
    const texts = new Map((translationPayload(body)?.turns ?? []).map((turn) => [turn.id, turn.text]));
    const answer: Record<string, Record<string, string>> = {};
    for (const [turnId, turnSchema] of Object.entries(schema['properties'])) {
      const languages = isRecord(turnSchema) && Array.isArray(turnSchema['required']) ? turnSchema['required'].map(String) : [];
      answer[turnId] = Object.fromEntries(languages.map((language) => [language, `[${language}] ${texts.get(turnId) ?? ''}`]));
    }
    return { body: completionBody(model, JSON.stringify(answer), requestId, promptChars) };
  }
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  const inStream = inStreamPayload(messages);
  if (inStream !== undefined) {
    // Parley's in-stream prompt (run by AssemblyAI on one turn): the same `[<lang>] <original text>` as batched.
    const answer = Object.fromEntries(inStream.languages.map((language) => [language, `[${language}] ${inStream.text}`]));
    return { body: completionBody(model, JSON.stringify(answer), requestId, promptChars) };
  }
  const last: unknown = messages.at(-1);
  const said = isRecord(last) && typeof last['content'] === 'string' ? last['content'] : '';
  return { body: completionBody(model, `Echo: ${said}`, requestId, promptChars) };
}

/**
 * A deterministic recap of what the request's fence holds (the transcript lines or the partial recaps): the
 * summary counts the lines and names the first, each line becomes a key point. Asked for coaching feedback with
 * exact quotes (the coaching template), it quotes lines word for word. No language model is involved.
 */
function recapAnswer(body: Record<string, unknown>): Record<string, unknown> {
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  // User messages only: the system prompt names the fence tags too ("between <transcript> and </transcript>").
  const user = messages.map((m: unknown) => (isRecord(m) && m['role'] === 'user' && typeof m['content'] === 'string' ? m['content'] : '')).join('\n');
  const fenced = /<(transcript|partial_recaps)>([\s\S]*?)<\/\1>/.exec(user)?.[2] ?? '{}';
  let data: unknown;
  try {
    data = JSON.parse(fenced);
  } catch {
    data = {};
  }
  const lines = isRecord(data) && Array.isArray(data['lines']) ? data['lines'].map(String) : [];
  const system = messages.map((m: unknown) => (isRecord(m) && m['role'] === 'system' && typeof m['content'] === 'string' ? m['content'] : '')).join('\n');
  if (/helpful coach/.test(system) && /exact quote/.test(system)) {
    // As a model following the coaching template would: feedback per speaker, each backed by a verbatim quote.
    const said = lines.map((line) => /^\[[\d:]+\] ([^:]+): (.*)$/.exec(line)).filter((m) => m !== null);
    return {
      summary: `Feedback on ${said.length} things said.`,
      key_points: said.slice(0, 3).map((m) => `${m[1]}: spoke clearly — "${m[2]}"`),
      decisions: said.slice(-2).map((m) => `${m[1]}: could be more concise — "${m[2]}"`),
      action_items: [],
      open_questions: [],
    };
  }
  return {
    summary: `A meeting of ${lines.length} transcript lines, starting with: ${lines[0] ?? 'nothing'}`,
    key_points: lines.slice(0, 5),
    decisions: [],
    action_items: [],
    open_questions: [],
  };
}
