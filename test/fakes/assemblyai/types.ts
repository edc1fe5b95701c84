/**
 * Public types of the fake AssemblyAI Streaming v3 server (re-exported by `test/fakes/assemblyai-server.ts`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { SessionLimitOptions } from './account-faults.ts';
import type { AudioFault } from './faults.ts';
import type { LlmGatewayParam } from './llm-gateway.ts';

/** A word the recognizer heard. Times are ms of session audio (from the first audio byte of the session). */
export interface RecognizedWord {
  text: string;
  /** Start, ms of session audio. */
  start: number;
  /** End, ms of session audio. */
  end: number;
  /** 0–1; the fake sends 0.9 when omitted (an arbitrary constant: there is no acoustic model). */
  confidence?: number;
  /**
   * The language the word was spoken in (ISO 639-1, e.g. `es`); `en` when omitted. With `language_detection=true`
   * a final Turn reports its words' most common language as `language_code`, and that language's share of the
   * words as `language_confidence` (a deterministic stand-in: there is no language model).
   */
  language?: string;
}

/** What a {@link Recognizer} is given: the audio of one turn so far (a partial) or in full (the final). */
export interface RecognizerInput {
  session: FakeSession;
  /** The turn's `turn_order` (0, 1, … per session). */
  turnOrder: number;
  /** Turn start, ms of session audio (a 10 ms window boundary). */
  startMs: number;
  /** End of the audio given, ms of session audio: the current position for a partial, the end-of-turn point for a final. */
  endMs: number;
  /** 16-bit mono samples from `startMs` to `endMs`. */
  pcm: Int16Array;
  /** Always 16000 (Hz). */
  sampleRate: number;
  /** True when the result becomes the turn's final (`end_of_turn: true`) transcript. */
  isFinal: boolean;
}

/**
 * Turns a turn's audio into words, in order. Called for every partial and for the final. Word texts are taken as the
 * *unformatted* transcript; the fake formats finals itself (see `formatWords`). A last word ending in `.`, `?` or `!`
 * lets a U3 turn end at `min_turn_silence` instead of `max_turn_silence`.
 */
export type Recognizer = (turn: RecognizerInput) => RecognizedWord[];

/** Per-session settings the client chose (query, then UpdateConfiguration). */
export interface SessionConfig {
  speechModel: string;
  /** Universal-Streaming model (not U3): see `isLegacyModel`. */
  legacy: boolean;
  formatTurns: boolean;
  keytermsPrompt: string[] | undefined;
  prompt: string | undefined;
  /** ms; null for Universal-Streaming models (the parameter is U3's). */
  minTurnSilenceMs: number | null;
  /** ms. */
  maxTurnSilenceMs: number;
  /** The `llm_gateway` prompt run on each final turn, when the client sent one. */
  llmGateway: LlmGatewayParam | undefined;
}

/** One WebSocket connection to the fake, accepted or rejected. */
export interface FakeSession {
  /** 0-based connection number, in arrival order. */
  index: number;
  /** Session id (UUID) sent in `Begin`. */
  id: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Whether the connection got past auth, query checks and `onConnection` (`Begin` is sent unless `scripted`). */
  accepted: boolean;
  /** Current settings (undefined until accepted). */
  config: SessionConfig | undefined;
  /** Every audio byte received, in order (including a frame that broke a rule). */
  pcm(): Buffer;
  /** Byte length of each binary frame, in order. */
  frameBytes: number[];
  /** Parsed JSON objects of the client's text frames (valid or not), in order. */
  clientMessages: Array<Record<string, unknown>>;
  /** Every JSON message the server sent, in order (including Error frames). */
  sentMessages: Array<Record<string, unknown>>;
  /** Rules this session's client broke (also in `FakeAssemblyAI.violations`). */
  violations: string[];
  /** Total audio received, ms (bytes ÷ 32). */
  readonly audioMs: number;
  /** Resolves when the socket closes: the close code and reason (1006 when the TCP connection dropped). */
  closed: Promise<{ code: number; reason: string }>;
  /** The client sent Terminate. */
  terminated: boolean;
  /** Sends a JSON message as-is and records it. No-op once the socket is not open. */
  send(message: Record<string, unknown>): void;
  /** Sends raw text (e.g. malformed JSON). Not recorded in `sentMessages`. No-op once the socket is not open. */
  sendRaw(text: string): void;
  /** Sends `{type:'Error', error_code: code, error}` then closes with the same code (documented behaviour). */
  fail(code: number, error: string): void;
  /** Destroys the TCP socket with no close frame (network drop): the client sees 1006. */
  kill(): void;
  /**
   * Goes half-open, as behind a NAT that forgot the connection or a server that hung: from now on nothing is read
   * or answered (no messages, no pongs) and nothing is closed. A client that drops the connection then is right to.
   */
  halfOpen(): void;
  /** True once {@link FakeSession.halfOpen} was called. */
  readonly isHalfOpen: boolean;
  /** Resolves with the first client JSON message matching `predicate` (already received or to come); rejects if the socket closes first. */
  waitForClientMessage(predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves (with `audioMs`) once at least `ms` of audio has been received; rejects if the socket closes first. */
  waitForAudioMs(ms: number): Promise<number>;
}

/** Options of `startFakeAssemblyAI`. */
export interface FakeAssemblyAIOptions {
  /** The only accepted `Authorization` header value (the raw key, no "Bearer"). */
  apiKey: string;
  /** Audio ms received may lead wall-clock ms since the session opened by at most this; default 2000; null: no check. */
  maxAudioAheadMs?: number | null;
  /** Audio ms between partial Turn messages within a turn; default 400. */
  partialEveryMs?: number;
  /** RMS threshold for a speech window (10 ms), dBFS; default −45. */
  speechThresholdDbfs?: number;
  /** `expires_at` = Begin time + this (s); the session closes with 3008 then; default 10800 (3 h). */
  sessionTtlS?: number;
  /** Turns audio into words; default: `createVoicedRunRecognizer` with `speechThresholdDbfs`. */
  recognizer?: Recognizer;
  /** When true the server sends nothing by itself (no Begin, Turn, Termination): tests script it with `send`/`playSequence`. Rule checks still answer with Error frames. Default false. */
  scripted?: boolean;
  /** Called for each connection that passed auth; return a rejection to send Error + close (e.g. 1008, 3009) instead of Begin. */
  onConnection?: (info: { index: number; headers: IncomingHttpHeaders; query: URLSearchParams }) => { code: number; error: string } | undefined;
  /** Called after each accepted binary frame is processed, with the session's total audio ms (fault injection). */
  onAudio?: (session: FakeSession, audioMs: number) => void;
  /**
   * The account's limit on new sessions (see `assemblyai/account-faults.ts`): sessions over it are refused with an
   * Error frame "Unauthorized Connection: Too many concurrent sessions" and a close with `code` (1008 or 3009).
   */
  sessionLimit?: SessionLimitOptions;
  /** Every accepted session is closed with this Error code and text right after `Begin` (e.g. 3007). */
  closeAfterBegin?: { code: number; error: string };
  /** Every upgrade is refused with this HTTP status and body (e.g. 400), before any WebSocket exists. */
  refuseUpgrade?: { status: number; body: string };
  /** `Warning` messages sent right after `Begin`, in order. */
  warnings?: Array<{ code: number; warning: string }>;
  /** `configuration` added to `Begin`, as newer service versions send it (e.g. `{ model: 'universal-3-5-pro' }`). */
  beginConfiguration?: Record<string, unknown>;
  /** Wait between the WebSocket upgrade and `Begin`, ms; default 300 (`assemblyai/faults.ts`). Ignored when `scripted`. */
  beginDelayMs?: number;
  /** Wait between `Terminate` and the last final turn and `Termination`, ms; default 200 (`assemblyai/faults.ts`). */
  terminationDelayMs?: number;
  /** Drops, error closes and stalls injected at a point in a session's audio (`assemblyai/faults.ts`). */
  audioFaults?: AudioFault[];
  /**
   * Base URL (`…/v1`) of the LLM Gateway that sessions with `llm_gateway` call after each final turn (e.g. the fake
   * LLM server's `baseUrl`); unset: their `LLMGatewayResponse` carries an error (`assemblyai/llm-gateway.ts`).
   */
  llmGatewayUrl?: string;
  /** Per-request timeout of those calls, ms; default 30,000. */
  llmGatewayTimeoutMs?: number;
}

/** A running fake server. */
export interface FakeAssemblyAI {
  /** `ws://127.0.0.1:PORT/v3/ws` */
  url: string;
  /** Every connection, in arrival order. */
  sessions: FakeSession[];
  /** Every rule any client broke, in words, prefixed with the session index. Tests assert it is empty. */
  violations: string[];
  /** Connections refused for the account's session limit (option `sessionLimit`). */
  readonly limitRefusals: number;
  /** Upgrades refused with an HTTP status (option `refuseUpgrade`). */
  readonly refusedUpgrades: number;
  /** The next session not yet taken by an earlier call (already connected, or the next to connect). Each session is handed out once. */
  nextSession(): Promise<FakeSession>;
  /** Sends documented server messages in order. An `Error` message is followed by a close with its `error_code`, a `Termination` by a close 1000; later messages are not sent. */
  playSequence(session: FakeSession, messages: Array<Record<string, unknown>>): void;
  /** Destroys all sockets and closes the server. */
  close(): Promise<void>;
}
