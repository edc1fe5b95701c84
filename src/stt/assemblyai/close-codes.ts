/**
 * What a WebSocket close from AssemblyAI Streaming v3 means for the session, and what to do next.
 *
 * Source: AssemblyAI "Common session errors and closures" (v3 close codes 1000, 1008, 3005–3009); 1006 is the
 * WebSocket code for a connection that dropped without a close frame (RFC 6455 §7.4.1).
 */

/**
 * - `normal`: closed after Terminate (or by the server normally); nothing to do.
 * - `fatal`: retrying cannot help (bad key, no balance); stop and tell people.
 * - `retry`: a server error or network drop; reconnect with backoff and resend unacknowledged audio.
 * - `backoff`: too many new sessions; wait longer before reconnecting.
 * - `rotate`: the session reached its maximum duration; open a new one at once.
 */
export type CloseAction = 'normal' | 'fatal' | 'retry' | 'backoff' | 'rotate';

/** A classified close: the action and a reason in plain words, fit to show in a channel. */
export interface CloseClassification {
  code: number;
  action: CloseAction;
  reason: string;
}

/**
 * Classifies a close code from the Streaming v3 endpoint.
 *
 * @param code - WebSocket close code (1006 when the socket dropped without one).
 * @param serverReason - the close reason or Error message the server sent, if any.
 */
export function classifyClose(code: number, serverReason = ''): CloseClassification {
  switch (code) {
    case 1000:
      return { code, action: 'normal', reason: 'session closed normally' };
    case 1008:
      return {
        code,
        action: 'fatal',
        reason:
          'AssemblyAI refused the connection (code 1008): the API key is wrong or the account has no balance left. Check ASSEMBLYAI_API_KEY and your AssemblyAI billing.',
      };
    case 3005:
      return { code, action: 'retry', reason: 'AssemblyAI had a server error (code 3005)' };
    case 3006:
      return { code, action: 'retry', reason: `AssemblyAI rejected a message as invalid (code 3006${detail(serverReason)})` };
    case 3007:
      return { code, action: 'retry', reason: `AssemblyAI rejected the audio timing (code 3007${detail(serverReason)})` };
    case 3008:
      return { code, action: 'rotate', reason: 'the AssemblyAI session reached its maximum duration (code 3008)' };
    case 3009:
      return { code, action: 'backoff', reason: 'too many new AssemblyAI sessions at once (code 3009)' };
    default:
      if (code >= 4000 && code < 4100) {
        // Legacy v2 codes: 4001 not authorised, 4002 insufficient funds, 4003 free-tier user.
        if (code <= 4003) return { ...classifyClose(1008), code };
        return { code, action: 'retry', reason: `AssemblyAI closed the session (code ${code}${detail(serverReason)})` };
      }
      return { code, action: 'retry', reason: `the connection to AssemblyAI dropped (code ${code}${detail(serverReason)})` };
  }
}

function detail(serverReason: string): string {
  const trimmed = serverReason.trim().slice(0, 200);
  return trimmed.length > 0 ? `: ${trimmed}` : '';
}
