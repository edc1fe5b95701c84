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
import { classifyClose, type CloseClassification } from './close-codes.ts';
import { parseServerMessage, type ClientMessage, type TurnMessage } from './messages.ts';

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
  /** `language_detection=true`: final Turns carry `language_code` and `language_confidence`. */
  languageDetection?: boolean;
  /**
   * `language_codes`: the languages expected to be spoken, a JSON array like `["en","es"]` (the hint the
   * assemblyai-python-sdk streaming v3 `RealTimeParameters.language_codes` sends; it supersedes the deprecated
   * single `language_code`). Omitted when empty: the model detects any language it supports.
   */
  languageCodes?: readonly string[];
  /** Give up on a connection that has not sent `Begin` within this many ms. Default 10,000. */
  connectTimeoutMs?: number;
}

/** Typed events of a {@link StreamingSession}. */
export interface StreamingSessionEvents {
  turn: [TurnMessage];
  speechStarted: [timestampMs: number];
  termination: [{ audioDurationS: number; sessionDurationS: number }];
  /** The socket closed; `serverError` holds the text of an `Error` frame received just before, if any. */
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
  /** False for `fatal` closes (bad key, no balance): retrying cannot help. */
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
  if (options.languageDetection === true) url.searchParams.set('language_detection', 'true');
  if (options.languageCodes !== undefined && options.languageCodes.length > 0) url.searchParams.set('language_codes', JSON.stringify(options.languageCodes));
  return url.toString();
}

/** True for Universal-3 streaming models, which always send formatted final turns. */
export function isU3Model(speechModel: string): boolean {
  return speechModel.startsWith('u3') || speechModel.startsWith('universal-3');
}

/** HTTP status of a refused WebSocket upgrade, mapped to the v3 close code with the same meaning. */
function upgradeStatusToCode(status: number): number {
  if (status === 401 || status === 403) return 1008;
  if (status === 429) return 3009;
  return 3005;
}

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

  private constructor(socket: WebSocket, id: string, expiresAtMs: number, logger: Logger) {
    super();
    this.#socket = socket;
    this.id = id;
    this.expiresAtMs = expiresAtMs;
    this.#logger = logger;
  }

  /**
   * Opens a session and waits for `Begin`.
   *
   * @throws {SttConnectError} when the server refuses (Error frame and close, or HTTP status on upgrade), the
   *   network fails, or `Begin` does not come within `connectTimeoutMs`.
   */
  static open(options: StreamingSessionOptions, logger: Logger): Promise<StreamingSession> {
    return new Promise((resolve, reject) => {
      // PCM does not compress: skip permessage-deflate rather than spend CPU on every frame.
      const socket = new WebSocket(buildSessionUrl(options), { headers: { Authorization: options.apiKey }, perMessageDeflate: false });
      let serverError = '';
      let settled = false;
      const fail = (code: number, reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.terminate();
        reject(new SttConnectError(classifyClose(code, reason)));
      };
      const timer = setTimeout(() => fail(1006, 'no Begin message within the connect timeout'), options.connectTimeoutMs ?? 10_000);
      socket.on('unexpected-response', (_request, response) => fail(upgradeStatusToCode(response.statusCode ?? 500), `HTTP ${response.statusCode}`));
      socket.on('error', (error) => fail(1006, error.message));
      socket.on('close', (code, reason) => fail(code, serverError || reason.toString()));
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const event = parseServerMessage(data.toString());
        if (event.type === 'error') {
          serverError = event.error;
          return;
        }
        if (event.type !== 'begin') {
          logger.warn({ event: event.type }, 'AssemblyAI sent a message before Begin; ignored');
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        const session = new StreamingSession(socket, event.id, event.expiresAtMs, logger);
        session.#attach();
        resolve(session);
      });
    });
  }

  #attach(): void {
    let serverError = '';
    this.#socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.#logger.warn({ sessionId: this.id }, 'AssemblyAI sent a binary frame; ignored');
        return;
      }
      const event = parseServerMessage(data.toString());
      switch (event.type) {
        case 'turn':
          this.emit('turn', event);
          break;
        case 'speechStarted':
          this.emit('speechStarted', event.timestampMs);
          break;
        case 'termination':
          this.emit('termination', { audioDurationS: event.audioDurationS, sessionDurationS: event.sessionDurationS });
          break;
        case 'error':
          serverError = event.error;
          this.#logger.warn({ sessionId: this.id, code: event.code, error: event.error }, 'AssemblyAI sent an Error');
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
    this.#socket.on('error', (error) => {
      this.#logger.warn({ sessionId: this.id, err: error.message }, 'AssemblyAI socket error');
    });
    this.#socket.on('close', (code, reason) => {
      this.#closed = true;
      this.emit('close', classifyClose(code, serverError || reason.toString()));
    });
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
