/**
 * A thin client for one AssemblyAI Streaming v3 session over `ws`.
 *
 * Protocol (AssemblyAI Streaming v3 API reference): connect to `wss://…/v3/ws?speech_model=…&sample_rate=16000&
 * encoding=pcm_s16le…` with the raw API key in the `Authorization` header; the server answers `Begin`; audio goes
 * as binary frames of 50–1000 ms; `Terminate` makes the server flush, send `Termination` and close with 1000; an
 * `Error` frame is followed by a close with the same code.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from '../../log.ts';
import { STT_SAMPLE_RATE } from '../../audio/format.ts';
import { classifyClose, classifyUpgradeRefusal, type CloseClassification } from './close-codes.ts';
import { parseServerMessage, type ClientMessage, type LlmGatewayConfig, type LlmGatewayResponseMessage, type TurnMessage } from './messages.ts';

/** What a session is opened with. */
export interface StreamingSessionOptions {
  /** e.g. `wss://streaming.assemblyai.com/v3/ws`; `ws://` for local servers. */
  url: string;
  /** Raw API key for the `Authorization` header. */
  apiKey: string;
  /** `speech_model`, e.g. `u3-rt-pro`. */
  speechModel: string;
  /** `keyterms_prompt`: at most 100 terms, each at most 50 characters. Omitted when empty. */
  keyterms: readonly string[];
  /** `min_turn_silence`, ms. */
  minTurnSilenceMs?: number | undefined;
  /** `max_turn_silence`, ms. */
  maxTurnSilenceMs?: number | undefined;
  /**
   * `inactivity_timeout`, s (the API accepts 5–3600): the server ends a session that gets no audio this long, a
   * backstop against a leaked session billing for hours. Omitted when undefined.
   */
  inactivityTimeoutS?: number | undefined;
  /** `language_detection=true`: final Turns carry `language_code` and `language_confidence`. */
  languageDetection?: boolean;
  /**
   * `language_codes`: the languages expected to be spoken, a JSON array like `["en","es"]` (the hint the
   * assemblyai-python-sdk streaming v3 `RealTimeParameters.language_codes` sends; it supersedes the deprecated
   * single `language_code`). Omitted when empty: the model detects any language it supports.
   */
  languageCodes?: readonly string[];
  /**
   * `llm_gateway`: a prompt AssemblyAI runs on each final turn, answered with `LLMGatewayResponse` messages on the
   * same socket. Sent JSON-encoded (as the tutorial's `json.dumps` and assemblyai-node-sdk's `JSON.stringify`);
   * fixed for the session's life. Omitted when undefined.
   */
  llmGateway?: LlmGatewayConfig;
  /** Give up on a connection that has not sent `Begin` within this many ms. Default 10,000. */
  connectTimeoutMs?: number;
  /**
   * WebSocket ping interval, ms (real time). A ping not answered by the next one marks the connection dead, so a
   * half-open connection is noticed within two intervals. Default 5,000; 0 disables pings.
   */
  pingIntervalMs?: number;
  /** Fields added to this session's log lines (e.g. the speaker id). */
  logContext?: Record<string, unknown>;
}

/** Typed events of a {@link StreamingSession}. */
export interface StreamingSessionEvents {
  turn: [TurnMessage];
  /** The answer to the `llm_gateway` prompt for one final turn (only with {@link StreamingSessionOptions.llmGateway}). */
  llmGatewayResponse: [LlmGatewayResponseMessage];
  speechStarted: [timestampMs: number];
  termination: [{ audioDurationS: number; sessionDurationS: number }];
  /** Any message from the server (for the no-reply watchdog). */
  heard: [];
  /** The socket closed; the classification carries the text of an `Error` frame received just before, if any. */
  close: [CloseClassification];
}

/** Raised when a session cannot be opened. `retryable` says whether trying again can help. */
export class SttConnectError extends Error {
  override name = 'SttConnectError';
  readonly close: CloseClassification;
  constructor(close: CloseClassification) {
    super(close.reason);
    this.close = close;
  }
  /** False for `fatal` refusals (bad key, no balance, a refused upgrade other than 429/5xx): retrying cannot help. */
  get retryable(): boolean {
    return this.close.action !== 'fatal';
  }
}

/** Builds the session URL with the query parameters Parley sends. */
export function buildSessionUrl(options: StreamingSessionOptions): string {
  const url = new URL(options.url);
  url.searchParams.set('speech_model', options.speechModel);
  url.searchParams.set('sample_rate', String(STT_SAMPLE_RATE));
  url.searchParams.set('encoding', 'pcm_s16le');
  // u3 models always format final turns; older models need format_turns to get punctuation and casing.
  if (!isU3Model(options.speechModel)) url.searchParams.set('format_turns', 'true');
  if (options.keyterms.length > 0) url.searchParams.set('keyterms_prompt', JSON.stringify(options.keyterms));
  if (options.minTurnSilenceMs !== undefined) url.searchParams.set('min_turn_silence', String(options.minTurnSilenceMs));
  if (options.maxTurnSilenceMs !== undefined) url.searchParams.set('max_turn_silence', String(options.maxTurnSilenceMs));
  if (options.inactivityTimeoutS !== undefined) url.searchParams.set('inactivity_timeout', String(options.inactivityTimeoutS));
  if (options.languageDetection === true) url.searchParams.set('language_detection', 'true');
  if (options.languageCodes !== undefined && options.languageCodes.length > 0) url.searchParams.set('language_codes', JSON.stringify(options.languageCodes));
  if (options.llmGateway !== undefined) url.searchParams.set('llm_gateway', JSON.stringify(options.llmGateway));
  return url.toString();
}

/** True for Universal-3 streaming models, which always send formatted final turns. */
export function isU3Model(speechModel: string): boolean {
  return speechModel.startsWith('u3') || speechModel.startsWith('universal-3');
}

/** Most of a refused upgrade's body read for its reason, bytes. */
const MAX_REFUSAL_BODY_BYTES = 512;

/** One open Streaming v3 session. Create with {@link StreamingSession.open}. */
export class StreamingSession extends EventEmitter<StreamingSessionEvents> {
  /** Session id from `Begin`. */
  readonly id: string;
  /** When AssemblyAI will end the session (`expires_at`), epoch ms. */
  readonly expiresAtMs: number;
  readonly #socket: WebSocket;
  readonly #logger: Logger;
  #closed = false;
  #audioBytes = 0;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongPending = false;
  /** Why Parley dropped the connection itself (dead connection), reported with the close. */
  #deadReason = '';

  private constructor(socket: WebSocket, id: string, expiresAtMs: number, logger: Logger) {
    super();
    this.#socket = socket;
    this.id = id;
    this.expiresAtMs = expiresAtMs;
    this.#logger = logger;
  }

  /**
   * Opens a session and waits for `Begin`. Logs the model and configuration `Begin` reports, once, at info.
   *
   * @throws {SttConnectError} when the server refuses (Error frame and close, or an HTTP status on the upgrade),
   *   the network fails, or `Begin` does not come within `connectTimeoutMs`.
   */
  static open(options: StreamingSessionOptions, baseLogger: Logger): Promise<StreamingSession> {
    const logger = options.logContext === undefined ? baseLogger : baseLogger.child(options.logContext);
    return new Promise((resolve, reject) => {
      // PCM does not compress: skip permessage-deflate rather than spend CPU on every frame.
      const socket = new WebSocket(buildSessionUrl(options), { headers: { Authorization: options.apiKey }, perMessageDeflate: false });
      let serverError = '';
      let settled = false;
      const fail = (close: CloseClassification) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.terminate();
        reject(new SttConnectError(close));
      };
      const timer = setTimeout(() => fail(classifyClose(1006, 'no Begin message within the connect timeout')), options.connectTimeoutMs ?? 10_000);
      socket.on('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 500;
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          if (bytes < MAX_REFUSAL_BODY_BYTES) chunks.push(chunk);
          bytes += chunk.length;
        });
        const done = () => fail(classifyUpgradeRefusal(status, Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY_BYTES).toString('utf8')));
        response.on('end', done);
        response.on('error', done);
        response.on('close', done);
      });
      socket.on('error', (error) => fail(classifyClose(1006, error.message)));
      socket.on('close', (code, reason) => fail(classifyClose(code, serverError || reason.toString())));
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const event = parseServerMessage(data.toString());
        if (event.type === 'error') {
          serverError = event.error;
          return;
        }
        if (event.type === 'warning') {
          logger.warn({ warningCode: event.code, warning: event.warning }, 'AssemblyAI sent a Warning');
          return;
        }
        if (event.type !== 'begin') {
          logger.warn({ event: event.type }, 'AssemblyAI sent a message before Begin; ignored');
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        logger.info(
          { sessionId: event.id, speechModel: options.speechModel, configuration: event.configuration ?? null },
          'AssemblyAI session began',
        );
        const session = new StreamingSession(socket, event.id, event.expiresAtMs, logger);
        session.#attach(options.pingIntervalMs ?? 5_000);
        resolve(session);
      });
    });
  }

  #attach(pingIntervalMs: number): void {
    let serverError = '';
    this.#socket.on('message', (data, isBinary) => {
      this.#pongPending = false; // anything from the server shows the connection is alive
      if (isBinary) {
        this.#logger.warn({ sessionId: this.id }, 'AssemblyAI sent a binary frame; ignored');
        return;
      }
      this.emit('heard');
      const event = parseServerMessage(data.toString());
      switch (event.type) {
        case 'turn':
          this.emit('turn', event);
          break;
        case 'speechStarted':
          this.emit('speechStarted', event.timestampMs);
          break;
        case 'llmGatewayResponse':
          this.emit('llmGatewayResponse', event);
          break;
        case 'termination':
          this.emit('termination', { audioDurationS: event.audioDurationS, sessionDurationS: event.sessionDurationS });
          break;
        case 'error':
          serverError = event.error;
          this.#logger.warn({ sessionId: this.id, code: event.code, error: event.error }, 'AssemblyAI sent an Error');
          break;
        case 'warning':
          this.#logger.warn({ sessionId: this.id, warningCode: event.code, warning: event.warning }, 'AssemblyAI sent a Warning');
          break;
        case 'begin':
          this.#logger.warn({ sessionId: this.id }, 'AssemblyAI sent a second Begin; ignored');
          break;
        case 'unknown':
          this.#logger.debug({ sessionId: this.id, messageType: event.messageType }, 'unknown AssemblyAI message type; ignored');
          break;
        case 'malformed':
          this.#logger.warn({ sessionId: this.id, reason: event.reason }, 'malformed AssemblyAI message; ignored');
          break;
      }
    });
    this.#socket.on('pong', () => {
      this.#pongPending = false;
    });
    this.#socket.on('error', (error) => {
      this.#logger.warn({ sessionId: this.id, err: error.message }, 'AssemblyAI socket error');
    });
    this.#socket.on('close', (code, reason) => {
      this.#closed = true;
      clearInterval(this.#pingTimer);
      this.emit('close', classifyClose(code, this.#deadReason || serverError || reason.toString()));
    });
    if (pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => {
        if (this.#pongPending) {
          this.markDead(`no answer to a WebSocket ping within ${Math.round(pingIntervalMs / 1000)} s`);
          return;
        }
        this.#pongPending = true;
        if (this.#socket.readyState === WebSocket.OPEN) this.#socket.ping();
      }, pingIntervalMs);
      this.#pingTimer.unref();
    }
  }

  /**
   * Drops a connection found dead (no pong, or no message while speech was sent): the socket is destroyed and
   * `close` is emitted with code 1006 and `reason`, which is then handled like any other drop.
   */
  markDead(reason: string): void {
    if (this.#closed || this.#deadReason !== '') return;
    this.#deadReason = reason;
    this.#logger.warn({ sessionId: this.id, reason }, 'AssemblyAI connection looks dead; dropping it');
    this.#socket.terminate();
  }

  /** True once the socket has closed (for any reason). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Audio sent so far, bytes. */
  get audioBytes(): number {
    return this.#audioBytes;
  }

  /**
   * Sends one binary frame of 16 kHz s16le mono PCM (50–1000 ms: 1,600–32,000 bytes). Ignored once closed.
   */
  sendAudio(pcm: Buffer): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    this.#audioBytes += pcm.length;
    this.#socket.send(pcm, { binary: true });
  }

  /** Sends a JSON control message (`ForceEndpoint`, `UpdateConfiguration`, `KeepAlive`, `Terminate`). */
  sendMessage(message: ClientMessage): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify(message));
  }

  /**
   * Sends `Terminate` and resolves when the server has closed the socket (after flushing its last turn and
   * sending `Termination`). If the server does not close within `timeoutMs`, the socket is closed from our side.
   */
  terminate(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#socket.terminate(), timeoutMs);
      this.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.sendMessage({ type: 'Terminate' });
    });
  }

  /** Drops the connection at once, without `Terminate`. */
  destroy(): void {
    this.#socket.terminate();
  }
}
