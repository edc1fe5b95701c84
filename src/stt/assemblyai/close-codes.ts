/**
 * What a refusal or close from AssemblyAI Streaming v3 means for the session, and what to do next.
 *
 * Sources, named per code below:
 * - [errors] AssemblyAI docs "Common session errors and closures" (docs/streaming/common-session-errors-and-closures;
 *   AssemblyAI/assemblyai-api-spec, changed by PR #660 in February 2026 to move "Too many concurrent sessions" from 1008
 *   to 3009).
 * - [concurrency] AssemblyAI docs "Concurrency" / "Rate limits" (docs/streaming/concurrency) and the FAQ "What happens
 *   if I reach my concurrency limit": over the new-sessions-per-minute limit, new sessions get **1008** "Unauthorized
 *   connection: Too many concurrent sessions".
 * - [sdk] AssemblyAI/assemblyai-python-sdk `assemblyai/streaming/v3/client.py` and `models.py`: HTTP rejections of the
 *   upgrade are never retried; only transient handshake failures (timeouts, network drops) are.
 * - RFC 6455 §7.4.1: 1006 is a connection that dropped without a close frame.
 */

/**
 * - `normal`: closed after Terminate (or by the server normally); nothing to do.
 * - `fatal`: retrying cannot help (bad key, no balance, a request the service refuses); stop and tell people.
 * - `retry`: a server error or a network drop; reconnect with backoff and resend unconfirmed audio.
 * - `limit`: the account's new-session limit was reached; keep the audio queued and try again after a backoff.
 * - `rotate`: the session reached its maximum duration; open a new one at once.
 */
export type CloseAction = 'normal' | 'fatal' | 'retry' | 'limit' | 'rotate';

/** A classified close: the action and a reason in plain words, fit to show in a channel. */
export interface CloseClassification {
  code: number;
  action: CloseAction;
  /** Plain words for people; names AssemblyAI's own text where it sent one. */
  reason: string;
  /** AssemblyAI's own text (the `Error` message or close reason), trimmed; empty when it sent none. */
  serverReason: string;
}

/**
 * True when AssemblyAI's text says the account's session limit was hit ("Too many concurrent sessions"). Source:
 * [concurrency] and [errors]: the same text is sent with 1008 and with 3009.
 */
export function isSessionLimitText(serverReason: string): boolean {
  return /too many (concurrent|new)? ?sessions|concurrency limit|rate limit/i.test(serverReason);
}

/**
 * Classifies a close code from the Streaming v3 endpoint.
 *
 * @param code - WebSocket close code (1006 when the socket dropped without one).
 * @param serverReason - the close reason or `Error` message the server sent, if any.
 */
export function classifyClose(code: number, serverReason = ''): CloseClassification {
  const said = serverReason.trim().slice(0, 200);
  const make = (action: CloseAction, reason: string): CloseClassification => ({ code, action, reason, serverReason: said });
  switch (code) {
    case 1000:
      return make('normal', 'session closed normally');
    case 1008:
      // [concurrency]: the session limit is answered with 1008; [errors]: 1008 otherwise means a missing or invalid
      // key or an account issue such as no balance. Only the text tells them apart.
      if (isSessionLimitText(said)) return limit(code, said);
      return make(
        'fatal',
        `AssemblyAI refused the connection (code 1008): the API key is wrong or the account has no balance left. Check ASSEMBLYAI_API_KEY and your AssemblyAI billing.${said.length > 0 ? ` AssemblyAI said: "${said}".` : ''}`,
      );
    case 3005:
      return make('retry', `AssemblyAI had a server error (code 3005${detail(said)})`);
    case 3006:
      return make('retry', `AssemblyAI rejected a message as invalid (code 3006${detail(said)})`);
    case 3007:
      return make('retry', `AssemblyAI rejected the audio timing (code 3007${detail(said)})`);
    case 3008:
      return make('rotate', 'the AssemblyAI session reached its maximum duration (code 3008)');
    case 3009:
      // [errors]: "Too many concurrent sessions".
      return limit(code, said);
    default:
      if (code >= 4000 && code < 4100) {
        // Legacy v2 codes ([sdk] StreamingErrorCodes): 4001 not authorised, 4002 insufficient funds, 4003 free tier.
        if (code >= 4001 && code <= 4003) return { ...classifyClose(1008, said), code };
        return make('retry', `AssemblyAI closed the session (code ${code}${detail(said)})`);
      }
      return make('retry', `the connection to AssemblyAI dropped (code ${code}${detail(said)})`);
  }
}

/**
 * Classifies an HTTP status that refused the WebSocket upgrade. Following [sdk], a refused upgrade is not retried,
 * except 429 (too many requests: the session limit) and 5xx (the service is failing, so it may recover).
 *
 * @param status - HTTP status code of the refusal.
 * @param body - start of the response body, if any (AssemblyAI's reason).
 */
export function classifyUpgradeRefusal(status: number, body = ''): CloseClassification {
  const said = body.trim().slice(0, 200);
  if (status === 401 || status === 403) return { ...classifyClose(1008, said), code: status };
  if (status === 429) return limit(status, said);
  if (status >= 500) return { code: status, action: 'retry', reason: `AssemblyAI answered HTTP ${status}${detail(said)}`, serverReason: said };
  return {
    code: status,
    action: 'fatal',
    reason: `AssemblyAI refused the connection with HTTP ${status}${detail(said)}; retrying would get the same answer. Check ASSEMBLYAI_STREAMING_URL and ASSEMBLYAI_SPEECH_MODEL.`,
    serverReason: said,
  };
}

function limit(code: number, said: string): CloseClassification {
  return {
    code,
    action: 'limit',
    reason: `the AssemblyAI account's limit on new sessions per minute was reached (code ${code}${detail(said)})`,
    serverReason: said,
  };
}

function detail(serverReason: string): string {
  return serverReason.length > 0 ? `: ${serverReason}` : '';
}
