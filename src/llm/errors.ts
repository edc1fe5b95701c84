/**
 * The one error type the LLM Gateway client (and the translator built on it) throws. Messages are plain words
 * fit for an operator's log, never contain the API key, and end by saying whether trying again may help.
 */

/**
 * Why a gateway call failed.
 * - `rate_limited`: HTTP 429 (AssemblyAI LLM Gateway: 30 requests per minute per model on paid accounts).
 * - `server_error`: HTTP 5xx from the gateway or the model provider behind it.
 * - `model_unavailable`: HTTP 404, or HTTP 400 saying the model "is not supported" (the gateway's answer for a
 *   retired or unknown model, AssemblyAI LLM Gateway troubleshooting page): the next fallback model may work,
 *   this one never will.
 * - `rejected`: any other HTTP 4xx (bad key, invalid request): retrying will not help.
 * - `timeout`: no complete answer within the client's `timeoutMs`.
 * - `network`: the connection failed (DNS, refused, reset).
 * - `malformed`: HTTP 2xx but the body is not JSON, has no `choices[0].message.content`, or (translator) the
 *   model's answer does not match the JSON schema.
 * - `cancelled`: the translator was closed before the request was sent.
 * - `skipped`: the translator never sent the turn: its meeting's backlog was full, or it waited longer than allowed.
 * - `budget`: never sent: the guild has used its daily budget of LLM requests (`DAILY_LLM_REQUESTS_PER_GUILD`).
 */
export type LlmErrorKind = 'rate_limited' | 'server_error' | 'model_unavailable' | 'rejected' | 'timeout' | 'network' | 'malformed' | 'cancelled' | 'skipped' | 'budget';

/** Fields of an {@link LlmError}; see the class for their meaning. */
export interface LlmErrorDetails {
  kind: LlmErrorKind;
  retryable: boolean;
  model: string;
  status?: number;
  requestId?: string;
  cause?: unknown;
}

/**
 * A failed LLM Gateway call.
 *
 * `retryable` tells the caller whether the same request may succeed later (rate limits, 5xx, timeouts, network
 * errors, malformed answers) or never will as sent (`model_unavailable`, `rejected`, `cancelled`, `skipped`). By the time a caller sees this
 * error the client has already used its retries and fallback models: retrying at once is pointless either way.
 */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  /** See {@link LlmErrorKind}. */
  readonly kind: LlmErrorKind;
  /** Whether sending the same request again later may succeed. */
  readonly retryable: boolean;
  /** HTTP status of the gateway's answer, when there was one. */
  readonly status?: number;
  /** The gateway's `request_id` (body field, or `x-request-id` header): quote it to AssemblyAI support. */
  readonly requestId?: string;
  /** The model id the failing request was sent to (the last one tried, after fallbacks). */
  readonly model: string;

  constructor(message: string, details: LlmErrorDetails) {
    super(`${message} ${details.retryable ? '(can be retried later)' : '(retrying will not help)'}`, {
      cause: details.cause,
    });
    this.kind = details.kind;
    this.retryable = details.retryable;
    this.model = details.model;
    if (details.status !== undefined) this.status = details.status;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }
}

/** Replaces every occurrence of `secret` in `text` with `[redacted]`; secrets shorter than 4 characters are ignored. */
export function redactSecret(text: string, secret: string): string {
  return secret.length >= 4 ? text.replaceAll(secret, '[redacted]') : text;
}
