/**
 * Account-level behaviours and faults of the fake AssemblyAI server, kept apart from the protocol rules: the
 * account's limit on new sessions, sessions closed right after `Begin`, refused upgrades, `Warning` messages and the
 * `configuration` newer `Begin` messages carry. Each is off unless its option is set.
 *
 * Sources:
 * - [concurrency] AssemblyAI docs "Concurrency" (docs/streaming/concurrency) and FAQ "What happens if I reach my
 *   concurrency limit": the limit counts **new sessions per minute** (free 5, paid 100+) and a session over it gets
 *   1008 "Unauthorized connection: Too many concurrent sessions".
 * - [errors] AssemblyAI docs "Common session errors and closures": the same refusal listed as 3009 "Unauthorized
 *   Connection: Too many concurrent sessions"; every error close is preceded by an `Error` frame with the same code.
 * - [sdk] AssemblyAI/assemblyai-python-sdk `streaming/v3/models.py`: `WarningEvent {warning_code, warning}`,
 *   `BeginEvent.configuration {model, mode, api_version}`; `client.py` reports a refused upgrade as its HTTP status.
 */

/** The refusal text for the session limit, as [errors] and [concurrency] word it. */
export const SESSION_LIMIT_ERROR = 'Unauthorized Connection: Too many concurrent sessions';

/** Options for the account's new-session limit. */
export interface SessionLimitOptions {
  /** New sessions accepted per window (the account's limit). */
  perWindow: number;
  /** Window, ms of real time. Default 60,000 (the documented "per minute"); tests shorten it. */
  windowMs?: number;
  /** Close code of the refusal: 1008 ([concurrency], the FAQ) or 3009 ([errors]). */
  code: 1008 | 3009;
}

/** Counts accepted sessions in a sliding window of real time and says when a new one is over the limit. */
export class AccountSessionLimit {
  readonly #o: Required<SessionLimitOptions>;
  #accepted: number[] = [];
  /** Connections refused for the limit. */
  refused = 0;

  constructor(options: SessionLimitOptions) {
    this.#o = { windowMs: 60_000, ...options };
  }

  /** Records a new session if within the limit; otherwise returns the refusal to send (Error frame, then close). */
  admit(now = performance.now()): { code: number; error: string } | undefined {
    this.#accepted = this.#accepted.filter((at) => at > now - this.#o.windowMs);
    if (this.#accepted.length >= this.#o.perWindow) {
      this.refused++;
      return { code: this.#o.code, error: SESSION_LIMIT_ERROR };
    }
    this.#accepted.push(now);
    return undefined;
  }
}

/** A refused WebSocket upgrade: the HTTP response the fake writes instead of switching protocols. */
export function refusedUpgradeResponse(status: number, body: string): string {
  const reason = status === 400 ? 'Bad Request' : status === 429 ? 'Too Many Requests' : status >= 500 ? 'Server Error' : 'Refused';
  const bytes = Buffer.byteLength(body, 'utf8');
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n${body}`;
}

/** `Warning {type, warning_code, warning}`. Source: [sdk]. */
export function warningMessage(code: number, warning: string): Record<string, unknown> {
  return { type: 'Warning', warning_code: code, warning };
}
