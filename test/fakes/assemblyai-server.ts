/**
 * A local fake of AssemblyAI Streaming v3 (`wss://streaming.assemblyai.com/v3/ws`) for Parley's STT tests,
 * fault-injection tests and benchmarks. It speaks the documented protocol and enforces its rules; every rule a client
 * breaks is recorded in `violations` and answered as the service does (an `Error` frame, then a close with the same
 * code). Sources: AssemblyAI/assemblyai-api-spec AsyncAPI files, the docs page "Common session errors and closures",
 * and the documented message sequences mirrored in test/fixtures/assemblyai/ (details per rule in
 * `assemblyai/protocol.ts`).
 *
 * Behaviour summary:
 * - Path `/v3/ws` (else HTTP 404). `Authorization` must equal `apiKey` (else 1008). Query: `sample_rate=16000`,
 *   `encoding=pcm_s16le`, `speech_model` required; optional parameters are validated (else 3006). Undocumented query
 *   parameters are recorded as violations (likely typos) without closing.
 * - Accepted: `Begin {type, id, expires_at}` after `beginDelayMs`; the session closes with 3008 at `expires_at`.
 * - Binary frames: 50–1000 ms of 16 kHz s16le mono, not ahead of real time by more than `maxAudioAheadMs` (else 3007).
 * - Text frames: JSON objects of type Terminate, ForceEndpoint, KeepAlive, UpdateConfiguration (else 3006).
 * - Turns are detected on audio time (`assemblyai/vad.ts`); words come from the `recognizer` (default:
 *   `assemblyai/recognizer.ts`, one word `speechN` per voiced run). Messages per model family: `assemblyai/messages.ts`.
 * - Terminate: after `terminationDelayMs` the open turn is finalised, then `Termination`, then close 1000; later
 *   frames are violations.
 * - `audioFaults`: TCP drops, Error closes and stalls at a point in a session's audio (`assemblyai/faults.ts`).
 * - A client that closes the socket without Terminate is recorded as a violation (its open turn is lost).
 * - Account behaviours and faults, each off unless its option is set (`assemblyai/account-faults.ts`): the account's
 *   new-session limit refused with 1008 or 3009 (`sessionLimit`), sessions closed right after Begin
 *   (`closeAfterBegin`), upgrades refused with an HTTP status (`refuseUpgrade`), `Warning` messages after Begin
 *   (`warnings`), `configuration` in Begin (`beginConfiguration`); a session can go half-open (`FakeSession.halfOpen`).
 * - `llm_gateway` (`assemblyai/llm-gateway.ts`): validated at connection (else 3006); after each final turn the
 *   prompt goes to the LLM Gateway at `llmGatewayUrl` and its answer, success or error body, comes back as
 *   `LLMGatewayResponse`; answers still pending go out before `Termination`.
 * Not simulated: temporary tokens (`token=`), `inactivity_timeout` expiry, language detection fields, pcm_mulaw.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, checkQuery, closeReason, unknownQueryParams } from './assemblyai/protocol.ts';
import { createVoicedRunRecognizer } from './assemblyai/recognizer.ts';
import { Session, type SessionContext } from './assemblyai/session.ts';
import { AccountSessionLimit, refusedUpgradeResponse, warningMessage } from './assemblyai/account-faults.ts';
import { DEFAULT_BEGIN_DELAY_MS, DEFAULT_TERMINATION_DELAY_MS, FaultInjector } from './assemblyai/faults.ts';
import type { FakeAssemblyAI, FakeAssemblyAIOptions, FakeSession } from './assemblyai/types.ts';

export type { FakeAssemblyAI, FakeAssemblyAIOptions, FakeSession, RecognizedWord, Recognizer, RecognizerInput, SessionConfig } from './assemblyai/types.ts';
export { createVoicedRunRecognizer, formatWords, hasTerminalPunctuation } from './assemblyai/recognizer.ts';
export { CLOSE } from './assemblyai/protocol.ts';
export type { AudioFault } from './assemblyai/faults.ts';

/** The WebSocket path of Streaming v3. Source: AsyncAPI `channels.*.address`. */
export const STREAMING_PATH = '/v3/ws';

/**
 * Starts the fake on 127.0.0.1 with an OS-assigned port.
 * @returns the running fake; call `close()` when done.
 */
export async function startFakeAssemblyAI(options: FakeAssemblyAIOptions): Promise<FakeAssemblyAI> {
  const speechThresholdDbfs = options.speechThresholdDbfs ?? -45;
  const sessions: Session[] = [];
  const violations: string[] = [];
  const waiting: Array<(session: FakeSession) => void> = [];
  let taken = 0;
  const sessionLimit = options.sessionLimit === undefined ? undefined : new AccountSessionLimit(options.sessionLimit);
  let refusedUpgrades = 0;
  const faults = new FaultInjector(options.audioFaults ?? []);
  const beginDelayMs = options.scripted === true ? 0 : (options.beginDelayMs ?? DEFAULT_BEGIN_DELAY_MS);

  const context: SessionContext = {
    maxAudioAheadMs: options.maxAudioAheadMs === undefined ? 2000 : options.maxAudioAheadMs,
    partialEveryMs: options.partialEveryMs ?? 400,
    speechThresholdDbfs,
    sessionTtlS: options.sessionTtlS ?? 10_800,
    recognizer: options.recognizer ?? createVoicedRunRecognizer({ thresholdDbfs: speechThresholdDbfs }),
    scripted: options.scripted ?? false,
    beginConfiguration: options.beginConfiguration,
    onAudio: (session, audioMs) => {
      faults.onAudio(session, audioMs);
      options.onAudio?.(session, audioMs);
    },
    terminationDelayMs: options.terminationDelayMs ?? DEFAULT_TERMINATION_DELAY_MS,
    later: (ms, fn) => faults.later(ms, fn),
    report: (session, violation) => violations.push(`session #${session.index}: ${violation}`),
    llmGatewayUrl: options.llmGatewayUrl,
    llmGatewayTimeoutMs: options.llmGatewayTimeoutMs ?? 30_000,
  };

  const server = createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });

  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => {}); // a client may drop mid-handshake; nothing to report
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== STREAMING_PATH) {
      violations.push(`connection to path ${url.pathname}, expected ${STREAMING_PATH} (answered HTTP 404)`);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (options.refuseUpgrade !== undefined) {
      refusedUpgrades += 1;
      socket.end(refusedUpgradeResponse(options.refuseUpgrade.status, options.refuseUpgrade.body));
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const session = new Session({ index: sessions.length, ws, socket, headers: request.headers, query: url.searchParams, context });
      sessions.push(session);
      faults.attach({ session, ws, socket });
      const waiter = waiting.shift();
      if (waiter !== undefined) {
        taken += 1;
        waiter(session);
      }
      admit(session, ws, request.headers, url.searchParams);
    });
  });

  function admit(session: Session, ws: WebSocket, headers: IncomingHttpHeaders, query: URLSearchParams): void {
    // Source: docs "Common session errors and closures": 1008 "Unauthorized Connection: …". The key is never echoed.
    const authorization = headers.authorization;
    if (authorization === undefined) {
      session.reject(CLOSE.unauthorized, 'Unauthorized Connection: Missing Authorization header', 'no Authorization header');
      return;
    }
    if (authorization !== options.apiKey) {
      session.reject(CLOSE.unauthorized, 'Unauthorized Connection: Invalid API key', 'Authorization header is not the API key (the raw key, no "Bearer")');
      return;
    }
    const breach = checkQuery(query);
    if (breach !== undefined) {
      session.reject(breach.code, breach.error, breach.violation);
      return;
    }
    const rejection = options.onConnection?.({ index: session.index, headers, query });
    if (rejection !== undefined) {
      session.reject(rejection.code, rejection.error, undefined);
      return;
    }
    const overLimit = sessionLimit?.admit();
    if (overLimit !== undefined) {
      session.reject(overLimit.code, overLimit.error, undefined);
      return;
    }
    for (const name of unknownQueryParams(query)) session.violate(`undocumented query parameter ${name} (the service ignores it: a typo?)`);
    // The session is set up before Begin; what the client sends meanwhile waits, unread, in TCP buffers.
    if (beginDelayMs > 0) ws.pause();
    faults.later(beginDelayMs, () => {
      if (ws.readyState !== ws.OPEN) return; // the client gave up waiting
      session.begin();
      for (const warning of options.warnings ?? []) session.send(warningMessage(warning.code, warning.warning));
      if (options.closeAfterBegin !== undefined) session.fail(options.closeAfterBegin.code, options.closeAfterBegin.error);
      ws.resume();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}${STREAMING_PATH}`,
    sessions,
    violations,
    get limitRefusals() {
      return sessionLimit?.refused ?? 0;
    },
    get refusedUpgrades() {
      return refusedUpgrades;
    },
    nextSession() {
      const ready = sessions[taken];
      if (ready !== undefined && waiting.length === 0) {
        taken += 1;
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    playSequence(session, messages) {
      if (!(session instanceof Session)) throw new TypeError('playSequence needs a session of this server');
      for (const message of messages) {
        if (message['type'] === 'Error' && typeof message['error_code'] === 'number') {
          // Source: docs: the Error frame is followed by a close with the same code.
          session.sendThenClose(message, message['error_code'], closeReason(String(message['error'] ?? '')));
          return;
        }
        if (message['type'] === 'Termination') {
          session.sendThenClose(message, CLOSE.normal, '');
          return;
        }
        session.send(message);
      }
    },
    async close() {
      faults.dispose();
      for (const session of sessions) session.kill();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
