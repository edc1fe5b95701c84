/**
 * Client for AssemblyAI's LLM Gateway, an OpenAI-compatible chat completions API
 * (`POST {baseUrl}/chat/completions`, AssemblyAI LLM Gateway docs).
 *
 * Plain `fetch` rather than the `openai` package: the gateway wants the raw key in `Authorization` (openai
 * sends `Bearer`), puts `request_id` in the body rather than `x-request-id`, and openai 7.x also retries
 * 408/409, reads `OPENAI_*` environment variables (extra headers, organisation) and logs to the console.
 *
 * Retry policy (one loop per model): 429, 5xx, timeouts and network errors are retried up to `maxRetries`
 * times, waiting as `retry-after-ms` / `Retry-After` say, else exponential backoff with jitter. Then the next
 * fallback model is tried (each model has its own rate limit). A 404, or a 400 saying the model "is not
 * supported" (how the gateway answers for a retired or unknown model, LLM Gateway troubleshooting page), moves
 * on to the next fallback at once. Other 4xx fail at once. A malformed 2xx body is not retried on the same model
 * but moves on to the next fallback.
 *
 * This is the only retry policy: every request carries `fallback_config: {retry: false}` (LLM Gateway fallback
 * page: the gateway otherwise retries 5xx by itself, so each of our attempts could cost two upstream calls), and
 * the gateway's own `fallbacks` are not used.
 */
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { LlmError, redactSecret, type LlmErrorKind } from './errors.ts';

/** Production endpoint, US region. EU: `https://llm-gateway.eu.assemblyai.com/v1` (Claude and Gemini only). */
export const DEFAULT_LLM_GATEWAY_URL = 'https://llm-gateway.assemblyai.com/v1';

/** One chat message, as in OpenAI's chat completions. */
export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What {@link LlmClient.complete} sends. */
export interface LlmRequest {
  /** Gateway model id, e.g. `gemini-2.5-flash-lite`, `claude-haiku-4-5-20251001`, `gpt-5-mini`. */
  model: string;
  /** Models tried in order once `model` has failed with a retryable error after its retries. */
  fallbackModels?: string[];
  messages: LlmMessage[];
  /** `max_tokens`; the gateway's default is 1000. */
  maxTokens?: number;
  /** `temperature`, 0–2. Omitted when undefined (some models accept only their default). */
  temperature?: number;
  /** Structured output: sent as `response_format: {type: 'json_schema', json_schema: {name, schema, strict: true}}`. */
  jsonSchema?: { name: string; schema: object };
  /** Per attempt, in ms; overrides the client's `timeoutMs` (a recap takes longer than a caption's translation). */
  timeoutMs?: number;
}

/** Token counts of one answer, from the response's `usage` (OpenAI chat completions shape). */
export interface LlmUsage {
  /** `usage.prompt_tokens`. */
  promptTokens: number;
  /** `usage.completion_tokens`. */
  completionTokens: number;
}

/** A successful completion. */
export interface LlmResponse {
  /** `choices[0].message.content`. */
  content: string;
  /** The model id that answered (the one requested: `model` or a fallback). */
  model: string;
  /** The gateway's `request_id`, when it sent one. */
  requestId?: string;
  /** `choices[0].finish_reason`, e.g. `stop` or `length` (answer cut off at `maxTokens`). */
  finishReason?: string;
  /** Tokens billed for this answer, when the gateway said. */
  usage?: LlmUsage;
}

/** A chat completions client bound to one gateway and key. */
export interface LlmClient {
  /**
   * Sends one chat completion, with retries and fallbacks as described in this module.
   * @throws {LlmError} after the last model failed, or at once on a non-retryable error.
   */
  complete(request: LlmRequest): Promise<LlmResponse>;
}

/** Options for {@link createLlmClient}. */
export interface LlmClientOptions {
  /** Base URL up to and including `/v1`; default {@link DEFAULT_LLM_GATEWAY_URL}. */
  baseUrl?: string;
  /** The AssemblyAI API key, sent raw as `Authorization`. Surrounding whitespace is trimmed. */
  apiKey: string;
  /** Per attempt, from sending to the end of the body, in ms. Default 30,000. */
  timeoutMs?: number;
  /** Retries per model after the first attempt. Default 2. */
  maxRetries?: number;
  /** Receives one `warn` line per failed attempt (model, status, request id; never content or key). */
  logger?: Logger;
  /** Backoff when the gateway gives no Retry-After: `initial × 2^attempt`, capped at `max`, minus up to 25 % jitter. Default {initial: 500, max: 8000} ms. */
  retryDelayMs?: { initial: number; max: number };
  /** A Retry-After longer than this (ms) skips to the next fallback model instead of waiting. Default 20,000. */
  maxRetryAfterMs?: number;
  /**
   * Called with the `usage` of every 2xx answer that carries one, including answers the caller later finds
   * malformed (they are billed too). Must not throw.
   */
  onUsage?: (usage: LlmUsage, model: string) => void;
}

const DEFAULTS = { timeoutMs: 30_000, maxRetries: 2, retryDelayMs: { initial: 500, max: 8_000 }, maxRetryAfterMs: 20_000 };
const MAX_GATEWAY_MESSAGE = 200;

/**
 * Creates an {@link LlmClient}.
 * @throws {Error} when `apiKey` is empty or contains whitespace or control characters (the message never
 *   includes the key), or when `baseUrl` is not an http(s) URL.
 */
export function createLlmClient(options: LlmClientOptions): LlmClient {
  const apiKey = options.apiKey.trim();
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new Error('The AssemblyAI API key is empty or contains spaces, line breaks or other invalid characters: check its value in the configuration.');
  }
  const baseUrl = (options.baseUrl ?? DEFAULT_LLM_GATEWAY_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) throw new Error(`The LLM Gateway base URL must start with http:// or https:// (got ${JSON.stringify(baseUrl)}).`);
  return new GatewayClient({
    url: `${baseUrl}/chat/completions`,
    apiKey,
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    maxRetries: Math.max(0, Math.floor(options.maxRetries ?? DEFAULTS.maxRetries)),
    logger: options.logger ?? silentLogger(),
    retryDelayMs: options.retryDelayMs ?? DEFAULTS.retryDelayMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs,
    onUsage: options.onUsage ?? (() => {}),
  });
}

interface ResolvedOptions {
  url: string;
  apiKey: string;
  timeoutMs: number;
  maxRetries: number;
  logger: Logger;
  retryDelayMs: { initial: number; max: number };
  maxRetryAfterMs: number;
  onUsage: (usage: LlmUsage, model: string) => void;
}

type Attempt = { ok: true; response: LlmResponse } | { ok: false; error: LlmError; retryAfterMs?: number };

class GatewayClient implements LlmClient {
  readonly #options: ResolvedOptions;

  constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  async complete(request: LlmRequest): Promise<LlmResponse> {
    const models = [...new Set([request.model, ...(request.fallbackModels ?? [])].filter((model) => model.length > 0))];
    const first = models[0];
    if (first === undefined) throw new LlmError('No LLM model was configured.', { kind: 'rejected', retryable: false, model: '' });
    let lastError: LlmError | undefined;
    for (const [index, model] of models.entries()) {
      try {
        return await this.#completeWithRetries(model, request);
      } catch (error) {
        const nextModelMayHelp = error instanceof LlmError && (error.retryable || error.kind === 'model_unavailable');
        if (!nextModelMayHelp) throw error;
        lastError = error;
        const next = models[index + 1];
        if (next !== undefined) {
          this.#options.logger.warn({ model, next, kind: error.kind, status: error.status, requestId: error.requestId }, 'LLM Gateway model failed; trying the fallback model');
        }
      }
    }
    throw lastError ?? new LlmError('The LLM request failed.', { kind: 'network', retryable: true, model: first });
  }

  /** The retry loop: one model, up to `maxRetries` retries. */
  async #completeWithRetries(model: string, request: LlmRequest): Promise<LlmResponse> {
    const { maxRetries, maxRetryAfterMs, logger } = this.#options;
    const body = JSON.stringify(requestBody(model, request));
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.#attempt(model, body, request.timeoutMs ?? this.#options.timeoutMs);
      if (outcome.ok) return outcome.response;
      const { error } = outcome;
      const log = { model, kind: error.kind, status: error.status, requestId: error.requestId, attempt: attempt + 1 };
      const sameModelMayHelp = error.retryable && error.kind !== 'malformed';
      if (!sameModelMayHelp || attempt >= maxRetries) {
        logger.warn(log, `LLM Gateway request failed: ${error.message}`);
        throw error;
      }
      const retryInMs = outcome.retryAfterMs ?? this.#backoffMs(attempt);
      if (retryInMs > maxRetryAfterMs) {
        logger.warn({ ...log, retryAfterMs: retryInMs }, 'LLM Gateway asked to wait longer than allowed; giving up on this model');
        throw error;
      }
      logger.warn({ ...log, retryInMs }, `LLM Gateway request failed; retrying: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }

  #backoffMs(attempt: number): number {
    const { initial, max } = this.#options.retryDelayMs;
    return Math.min(initial * 2 ** attempt, max) * (1 - Math.random() * 0.25);
  }

  /** One HTTP exchange, never throwing: failures come back as an LlmError plus any Retry-After. */
  async #attempt(model: string, body: string, timeoutMs: number): Promise<Attempt> {
    const { url, apiKey } = this.#options;
    let status: number | undefined;
    let headers: Headers | undefined;
    let text: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: apiKey, 'Content-Type': 'application/json', Accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      headers = response.headers;
      text = await response.text();
    } catch (cause) {
      const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
      const message = timedOut
        ? `The LLM Gateway did not answer within ${timeoutMs} ms (model ${model}).`
        : `Could not reach the LLM Gateway (model ${model}): ${this.#clean(describeNetworkError(cause))}.`;
      const kind: LlmErrorKind = timedOut ? 'timeout' : 'network';
      return { ok: false, error: new LlmError(message, { kind, retryable: true, model, ...(status !== undefined && { status }), cause: timedOut ? undefined : cause }) };
    }
    const json = parseJson(text);
    const requestId = findRequestId(json) ?? headers.get('x-request-id') ?? undefined;
    const ids = { model, status, ...(requestId !== undefined && { requestId }) };
    if (status < 200 || status > 299) {
      const detail = this.#clean(gatewayMessage(json, text));
      if (status === 429) {
        const error = new LlmError(`The LLM Gateway rate limit was reached for model ${model} (HTTP 429: ${detail}).`, { kind: 'rate_limited', retryable: true, ...ids });
        return { ok: false, error, ...optionalRetryAfter(headers) };
      }
      if (status >= 500) {
        const error = new LlmError(`The LLM Gateway failed for model ${model} (HTTP ${status}: ${detail}).`, { kind: 'server_error', retryable: true, ...ids });
        return { ok: false, error, ...optionalRetryAfter(headers) };
      }
      if (status === 404 || (status === 400 && isModelRefusal(json, text))) {
        const hint = status === 404 ? 'the model is not served there, or the gateway URL is wrong' : 'check the model id against its list of models';
        const error = new LlmError(`The LLM Gateway does not serve model ${model} (HTTP ${status}: ${detail}); ${hint}.`, { kind: 'model_unavailable', retryable: false, ...ids });
        return { ok: false, error };
      }
      return { ok: false, error: new LlmError(`The LLM Gateway refused the request for model ${model} (HTTP ${status}: ${detail}).`, { kind: 'rejected', retryable: false, ...ids }) };
    }
    // Billed whether or not the answer is usable.
    const usage = findUsage(json);
    if (usage !== undefined) this.#options.onUsage(usage, model);
    const choice = firstChoice(json);
    if (choice === undefined) {
      const what = json === undefined ? 'a body that is not JSON' : 'no choices[0].message.content';
      return { ok: false, error: new LlmError(`The LLM Gateway answered with ${what} (model ${model}).`, { kind: 'malformed', retryable: true, ...ids }) };
    }
    const response: LlmResponse = { content: choice.content, model };
    if (usage !== undefined) response.usage = usage;
    if (requestId !== undefined) response.requestId = requestId;
    if (choice.finishReason !== undefined) response.finishReason = choice.finishReason;
    this.#options.logger.debug({ model, requestId, finishReason: choice.finishReason }, 'LLM Gateway request succeeded');
    return { ok: true, response };
  }

  /** Gateway text may echo request data: strip the key, shorten it to one readable line. */
  #clean(text: string): string {
    const line = redactSecret(text, this.#options.apiKey).replace(/\s+/g, ' ').trim();
    return line.length > MAX_GATEWAY_MESSAGE ? `${line.slice(0, MAX_GATEWAY_MESSAGE)}…` : line || 'no details';
  }
}

function requestBody(model: string, request: LlmRequest): Record<string, unknown> {
  // Parley retries and falls back itself (see the module comment): the gateway must not retry as well.
  const body: Record<string, unknown> = { model, messages: request.messages, fallback_config: { retry: false } };
  if (request.maxTokens !== undefined) body['max_tokens'] = request.maxTokens;
  if (request.temperature !== undefined) body['temperature'] = request.temperature;
  if (request.jsonSchema !== undefined) {
    body['response_format'] = { type: 'json_schema', json_schema: { name: request.jsonSchema.name, schema: request.jsonSchema.schema, strict: true } };
  }
  return body;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `request_id` at the top level (success and `{message, request_id, metadata}` errors) or inside `error`. */
function findRequestId(json: unknown): string | undefined {
  if (!isRecord(json)) return undefined;
  const candidates = [json['request_id'], isRecord(json['error']) ? json['error']['request_id'] : undefined];
  const found = candidates.find((value) => typeof value === 'string' || typeof value === 'number');
  return found === undefined ? undefined : String(found);
}

/**
 * Whether a 400 is about the model itself: the gateway puts `"model {model} is not supported"` in
 * `metadata.errors` (LLM Gateway troubleshooting page); other providers' wordings ("model … not found",
 * "unknown model", "does not exist") are accepted too.
 */
function isModelRefusal(json: unknown, text: string): boolean {
  const said = `${gatewayMessage(json, text)} ${text}`;
  return /\bmodel\b[^.]*\b(is not supported|not supported|not found|does not exist|is unknown|unavailable)\b|\b(unknown|unsupported|invalid) model\b/i.test(said);
}

/** `usage.prompt_tokens` and `usage.completion_tokens`, when both are non-negative numbers. */
function findUsage(json: unknown): LlmUsage | undefined {
  if (!isRecord(json) || !isRecord(json['usage'])) return undefined;
  const prompt = json['usage']['prompt_tokens'];
  const completion = json['usage']['completion_tokens'];
  if (typeof prompt !== 'number' || typeof completion !== 'number' || !(prompt >= 0) || !(completion >= 0)) return undefined;
  return { promptTokens: prompt, completionTokens: completion };
}

/**
 * The human part of an error body: `{message}`, `{error: "…"}`, `{error: {message}}`, else the raw text; the
 * gateway's `metadata.errors` list (which names the reason, e.g. an unsupported model) is appended.
 */
function gatewayMessage(json: unknown, text: string): string {
  const main = mainMessage(json, text);
  const metadata = isRecord(json) && isRecord(json['metadata']) ? json['metadata']['errors'] : undefined;
  const errors = Array.isArray(metadata) ? metadata.filter((item): item is string => typeof item === 'string') : [];
  return errors.length === 0 ? main : `${main}: ${errors.join('; ')}`;
}

function mainMessage(json: unknown, text: string): string {
  if (isRecord(json)) {
    const error = json['error'];
    const candidates = [json['message'], typeof error === 'string' ? error : undefined, isRecord(error) ? error['message'] : undefined, json['detail']];
    const found = candidates.find((value) => typeof value === 'string' && value.trim().length > 0);
    if (typeof found === 'string') return found;
  }
  return text;
}

/** `choices[0].message.content` as text (string, or an array of `{type: 'text', text}` parts). */
function firstChoice(json: unknown): { content: string; finishReason?: string } | undefined {
  if (!isRecord(json) || !Array.isArray(json['choices'])) return undefined;
  const choice: unknown = json['choices'][0];
  if (!isRecord(choice) || !isRecord(choice['message'])) return undefined;
  const raw = choice['message']['content'];
  let content: string | undefined;
  if (typeof raw === 'string') content = raw;
  else if (Array.isArray(raw)) {
    const parts = raw.filter((part): part is { text: string } => isRecord(part) && typeof part['text'] === 'string');
    if (parts.length > 0) content = parts.map((part) => part.text).join('');
  }
  if (content === undefined) return undefined;
  const finishReason = choice['finish_reason'];
  return typeof finishReason === 'string' ? { content, finishReason } : { content };
}

/** `retry-after-ms` (ms, a de-facto header openai also reads), else `Retry-After` (seconds or an HTTP date; RFC 9110). */
export function parseRetryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

function optionalRetryAfter(headers: Headers): { retryAfterMs?: number } {
  const retryAfterMs = parseRetryAfterMs(headers);
  return retryAfterMs === undefined ? {} : { retryAfterMs };
}

/** undici says "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
  }
  return error.message;
}
