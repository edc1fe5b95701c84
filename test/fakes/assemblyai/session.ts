/**
 * One connection to the fake AssemblyAI Streaming v3 server: rule checks on every client frame, turn detection on
 * audio time, and the server messages it causes. Protocol sources are cited in `protocol.ts` and `messages.ts`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { beginMessage, errorMessage, finalTurnMessages, round6, speechStartedMessage, terminationMessage, turnMessage, wireWords } from './messages.ts';
import { BYTES_PER_MS, checkFrame, checkRate, CLOSE, closeReason, isLegacyModel, parseClientMessage, SAMPLE_RATE_HZ, type Breach, type ClientMessage } from './protocol.ts';
import { hasTerminalPunctuation } from './recognizer.ts';
import type { FakeSession, RecognizedWord, Recognizer, SessionConfig } from './types.ts';
import { TurnDetector, type OpenTurn, type TurnEndReason } from './vad.ts';
import { askGateway, hasTurnPlaceholder, llmGatewayResponseMessage, parseLlmGateway } from './llm-gateway.ts';

/** Default `max_turn_silence`, ms: U3 1000, Universal-Streaming 1280. Source: the two AsyncAPI specs. */
const DEFAULT_MAX_TURN_SILENCE = { u3: 1000, legacy: 1280 } as const;
/** Default `min_turn_silence` for U3, ms. Source: usm-streaming-u3-pro.yml. */
const DEFAULT_MIN_TURN_SILENCE_MS = 100;
/** Audio (ms) after a word's end before a partial reports it `word_is_final` (the default recognizer's word gap). */
const WORD_SETTLE_MS = 60;

/** Server-wide settings and hooks a session uses. */
export interface SessionContext {
  maxAudioAheadMs: number | null;
  partialEveryMs: number;
  speechThresholdDbfs: number;
  sessionTtlS: number;
  recognizer: Recognizer;
  scripted: boolean;
  beginConfiguration: Record<string, unknown> | undefined;
  onAudio: ((session: FakeSession, audioMs: number) => void) | undefined;
  /** Wait between `Terminate` and the flush + `Termination`, ms. */
  terminationDelayMs: number;
  /** Runs `fn` after `ms` (at once when 0) unless the server is closed first. */
  later(ms: number, fn: () => void): void;
  /** Records a violation server-wide. */
  report(session: FakeSession, violation: string): void;
  /** See `FakeAssemblyAIOptions.llmGatewayUrl`. */
  llmGatewayUrl: string | undefined;
  /** See `FakeAssemblyAIOptions.llmGatewayTimeoutMs`. */
  llmGatewayTimeoutMs: number;
}

/** Growable store of 16-bit samples. */
class SampleStore {
  #samples = new Int16Array(SAMPLE_RATE_HZ);
  #length = 0;

  append(samples: Int16Array): void {
    if (this.#length + samples.length > this.#samples.length) {
      const grown = new Int16Array(Math.max(this.#samples.length * 2, this.#length + samples.length));
      grown.set(this.#samples.subarray(0, this.#length));
      this.#samples = grown;
    }
    this.#samples.set(samples, this.#length);
    this.#length += samples.length;
  }

  /** Copy of samples in [start, end), clamped to what was received. */
  slice(start: number, end: number): Int16Array {
    return this.#samples.slice(Math.max(0, start), Math.min(end, this.#length));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Decodes s16le bytes (even length) into samples, independent of the host's byte order. */
function decodeS16le(bytes: Buffer): Int16Array {
  const samples = new Int16Array(bytes.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  return samples;
}

/** Implementation of {@link FakeSession}. */
export class Session implements FakeSession {
  readonly index: number;
  readonly id = randomUUID();
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  accepted = false;
  config: SessionConfig | undefined;
  readonly frameBytes: number[] = [];
  readonly clientMessages: Array<Record<string, unknown>> = [];
  readonly sentMessages: Array<Record<string, unknown>> = [];
  readonly violations: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  terminated = false;

  readonly #ws: WebSocket;
  readonly #socket: Duplex;
  readonly #context: SessionContext;
  readonly #chunks: Buffer[] = [];
  readonly #samples = new SampleStore();
  #bytes = 0;
  #openedAt = performance.now();
  /** Set once the server closes, fails or drops the connection: later client frames are ignored. */
  #serverEnded = false;
  #detector: TurnDetector | undefined;
  #turnOrder = 0;
  #expiry: NodeJS.Timeout | undefined;
  #isClosed = false;
  #halfOpen = false;
  /** Pending waits: each returns true once settled. */
  #waiters: Array<() => boolean> = [];
  /** `llm_gateway` answers being computed; `Terminate` waits for them before `Termination`. */
  readonly #llmPending = new Set<Promise<void>>();

  constructor(init: { index: number; ws: WebSocket; socket: Duplex; headers: IncomingHttpHeaders; query: URLSearchParams; context: SessionContext }) {
    this.index = init.index;
    this.#ws = init.ws;
    this.#socket = init.socket;
    this.headers = init.headers;
    this.query = init.query;
    this.#context = init.context;
    this.closed = new Promise((resolve) => {
      this.#ws.on('close', (code, reason) => {
        clearTimeout(this.#expiry);
        if (this.accepted && !this.#serverEnded && !this.terminated && !this.#halfOpen) {
          this.violate(`client closed the WebSocket (code ${code}) without sending Terminate: the open turn is never finalised`);
        }
        this.#serverEnded = true;
        this.#isClosed = true;
        this.#wake();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    this.#ws.on('error', (error) => this.violate(`WebSocket protocol error from the client: ${error.message}`));
    this.#ws.on('message', (data, isBinary) => this.#onFrame(toBuffer(data), isBinary));
  }

  get audioMs(): number {
    return this.#bytes / BYTES_PER_MS;
  }

  pcm(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Accepts the connection: settings from the query, turn detector, expiry timer, and `Begin` (unless scripted). */
  begin(): void {
    const speechModel = this.query.get('speech_model') ?? '';
    const legacy = isLegacyModel(speechModel);
    const queryMs = (name: string): number | undefined => (this.query.has(name) ? Number(this.query.get(name)) : undefined);
    const keyterms = this.query.get('keyterms_prompt');
    const llmGatewayText = this.query.get('llm_gateway');
    const llmGateway = llmGatewayText === null ? undefined : parseLlmGateway(llmGatewayText);
    if (llmGateway !== undefined && !hasTurnPlaceholder(llmGateway)) this.violate('llm_gateway has no {{turn}} placeholder in any message: the LLM never sees the turn');
    this.config = {
      llmGateway,
      speechModel,
      legacy,
      formatTurns: this.query.get('format_turns') === 'true',
      keytermsPrompt: keyterms === null ? undefined : (JSON.parse(keyterms) as string[]),
      prompt: this.query.get('prompt') ?? undefined,
      minTurnSilenceMs: legacy ? null : (queryMs('min_turn_silence') ?? DEFAULT_MIN_TURN_SILENCE_MS),
      maxTurnSilenceMs: queryMs('max_turn_silence') ?? (legacy ? DEFAULT_MAX_TURN_SILENCE.legacy : DEFAULT_MAX_TURN_SILENCE.u3),
    };
    this.accepted = true;
    this.#openedAt = performance.now();
    this.#detector = new TurnDetector(
      { thresholdDbfs: this.#context.speechThresholdDbfs, partialEveryMs: this.#context.partialEveryMs, minTurnSilenceMs: this.config.minTurnSilenceMs, maxTurnSilenceMs: this.config.maxTurnSilenceMs },
      {
        speechStarted: (atMs, levelDbfs) => this.#onSpeechStarted(atMs, levelDbfs),
        partial: (turn, atMs) => this.#sendPartial(turn, atMs, this.#recognize(turn, atMs, false)),
        silenceCheck: (turn, atMs) => this.#onSilenceCheck(turn, atMs),
        ended: (turn, endMs, reason) => this.#onTurnEnded(turn, endMs, reason),
      },
    );
    const ttlMs = this.#context.sessionTtlS * 1000;
    this.#expiry = setTimeout(() => this.fail(CLOSE.sessionExpired, 'Session Expired: Maximum session duration exceeded'), ttlMs);
    this.#expiry.unref();
    if (!this.#context.scripted) this.send(beginMessage(this.id, Math.floor((Date.now() + ttlMs) / 1000), this.#context.beginConfiguration));
  }

  /** Refuses the connection: Error frame then close. `violation` is recorded when the client is at fault. */
  reject(code: number, error: string, violation: string | undefined): void {
    if (violation !== undefined) this.violate(violation);
    this.fail(code, error);
  }

  send(message: Record<string, unknown>): void {
    if (this.#ws.readyState !== this.#ws.OPEN || this.#serverEnded) return;
    this.sentMessages.push(message);
    this.#ws.send(JSON.stringify(message));
  }

  sendRaw(text: string): void {
    if (this.#ws.readyState !== this.#ws.OPEN || this.#serverEnded) return;
    this.#ws.send(text);
  }

  /** `code` must be a valid WebSocket close code (1000–1003, 1007–1014, 3000–4999). */
  fail(code: number, error: string): void {
    this.sendThenClose(errorMessage(code, error), code, closeReason(error));
  }

  /** Sends `message` (recorded) then starts the close handshake with `code`; later client frames are ignored. */
  sendThenClose(message: Record<string, unknown>, code: number, reason: string): void {
    this.send(message);
    this.#endByServer();
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(code, reason);
  }

  kill(): void {
    this.#endByServer();
    this.#socket.destroy();
  }

  get isHalfOpen(): boolean {
    return this.#halfOpen;
  }

  halfOpen(): void {
    // Nothing more is read (so no pong is sent and no client frame processed) and nothing is sent or closed.
    this.#halfOpen = true;
    this.#endByServer();
    this.#socket.pause();
  }

  #endByServer(): void {
    this.#serverEnded = true;
    clearTimeout(this.#expiry);
  }

  /** Records a rule the client broke (session and server-wide). */
  violate(text: string): void {
    this.violations.push(text);
    this.#context.report(this, text);
  }

  #breach(breach: Breach): void {
    this.violate(breach.violation);
    this.fail(breach.code, breach.error);
  }

  waitForClientMessage(predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return this.#waitFor(() => this.clientMessages.find(predicate));
  }

  waitForAudioMs(ms: number): Promise<number> {
    return this.#waitFor(() => (this.audioMs >= ms ? this.audioMs : undefined));
  }

  /** Resolves with the first defined `probe()` result, checked now and after every client frame; rejects on close. */
  #waitFor<T>(probe: () => T | undefined): Promise<T> {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      this.#waiters.push(() => {
        const value = probe();
        if (value !== undefined) resolve(value);
        else if (this.#isClosed) reject(new Error(`session #${this.index} closed before the awaited client frame arrived`));
        else return false;
        return true;
      });
    });
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((waiter) => !waiter());
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    if (!this.accepted) return;
    if (this.terminated) {
      // Checked before #serverEnded: after our Termination close, a client frame is still the client's fault.
      if (isBinary) {
        this.frameBytes.push(data.length);
        this.#chunks.push(Buffer.from(data));
        this.#bytes += data.length;
      }
      this.violate(`${isBinary ? `binary frame of ${data.length} bytes` : `text frame ${data.toString('utf8').slice(0, 100)}`} after Terminate (not processed)`);
      return;
    }
    if (this.#serverEnded) return;
    if (isBinary) this.#onAudio(data);
    else this.#onText(data.toString('utf8'));
    this.#wake();
  }

  #onAudio(bytes: Buffer): void {
    this.frameBytes.push(bytes.length);
    this.#chunks.push(Buffer.from(bytes));
    this.#bytes += bytes.length;
    const frameBreach = checkFrame(bytes.length);
    if (frameBreach !== undefined) return this.#breach(frameBreach);
    const maxAhead = this.#context.maxAudioAheadMs;
    if (maxAhead !== null) {
      const rateBreach = checkRate(this.audioMs, performance.now() - this.#openedAt, maxAhead);
      if (rateBreach !== undefined) return this.#breach(rateBreach);
    }
    const samples = decodeS16le(bytes);
    this.#samples.append(samples);
    if (!this.#context.scripted) this.#detector?.push(samples);
    if (!this.#serverEnded) this.#context.onAudio?.(this, this.audioMs);
  }

  #onText(text: string): void {
    const parsed = parseClientMessage(text);
    if (parsed.json !== undefined) this.clientMessages.push(parsed.json);
    for (const warning of parsed.warnings) this.violate(warning);
    if (parsed.breach !== undefined) return this.#breach(parsed.breach);
    if (parsed.message !== undefined) this.#apply(parsed.message);
  }

  #apply(message: ClientMessage): void {
    const scripted = this.#context.scripted;
    switch (message.type) {
      case 'KeepAlive':
        return;
      case 'ForceEndpoint':
        if (!scripted) this.#detector?.end('force_endpoint');
        return;
      case 'Terminate':
        // Source: NOTES.md / u3-pro spec: the server flushes the open turn, sends Termination, closes 1000.
        this.terminated = true;
        if (scripted) return;
        this.#context.later(this.#context.terminationDelayMs, () => {
          this.#detector?.end('terminate');
          const close = () => this.sendThenClose(terminationMessage(this.audioMs, performance.now() - this.#openedAt), CLOSE.normal, '');
          // LLM answers still being computed go out first (assemblyai/llm-gateway.ts: modelled, not documented).
          if (this.#llmPending.size === 0) close();
          else void Promise.allSettled([...this.#llmPending]).then(close);
        });
        return;
      case 'UpdateConfiguration': {
        const config = this.config;
        if (config === undefined) return;
        // null means "leave unchanged" (the spec marks every field nullable).
        if (message.keyterms_prompt != null) config.keytermsPrompt = message.keyterms_prompt;
        if (message.prompt != null) config.prompt = message.prompt;
        if (message.max_turn_silence != null) config.maxTurnSilenceMs = message.max_turn_silence;
        if (message.min_turn_silence != null && !config.legacy) config.minTurnSilenceMs = message.min_turn_silence;
        if (this.#detector !== undefined) {
          this.#detector.settings = { ...this.#detector.settings, minTurnSilenceMs: config.minTurnSilenceMs, maxTurnSilenceMs: config.maxTurnSilenceMs };
        }
        return;
      }
    }
  }

  /** Runs the `llm_gateway` prompt on a final turn and sends the gateway's answer as `LLMGatewayResponse`. */
  #runLlm(param: NonNullable<SessionConfig['llmGateway']>, turnOrder: number, transcript: string): void {
    const authorization = String(this.headers.authorization ?? '');
    const work = askGateway(this.#context.llmGatewayUrl, authorization, param, transcript, this.#context.llmGatewayTimeoutMs)
      .then((data) => this.send(llmGatewayResponseMessage(turnOrder, transcript, data)))
      .finally(() => this.#llmPending.delete(work));
    this.#llmPending.add(work);
  }

  #recognize(turn: OpenTurn, endMs: number, isFinal: boolean): RecognizedWord[] {
    const perMs = SAMPLE_RATE_HZ / 1000;
    const pcm = this.#samples.slice(turn.startMs * perMs, endMs * perMs);
    return this.#context.recognizer({ session: this, turnOrder: this.#turnOrder, startMs: turn.startMs, endMs, pcm, sampleRate: SAMPLE_RATE_HZ, isFinal });
  }

  #onSpeechStarted(atMs: number, levelDbfs: number): void {
    if (this.config?.legacy !== false) return; // SpeechStarted is U3 only (NOTES.md)
    // Not a model confidence: a monotonic 0–1 function of how far the first window is above the threshold.
    const aboveDb = Math.max(0, levelDbfs - this.#context.speechThresholdDbfs);
    this.send(speechStartedMessage(atMs, 1 - 10 ** (-aboveDb / 20)));
  }

  /** Universal-Streaming's growing end-of-turn confidence: trailing silence ÷ max_turn_silence, at most 1. */
  #legacyEotConfidence(turn: OpenTurn, atMs: number): number {
    const max = this.config?.maxTurnSilenceMs ?? 1;
    return max <= 0 ? 1 : Math.min(1, (atMs - turn.lastSpeechEndMs) / max);
  }

  #sendPartial(turn: OpenTurn, atMs: number, words: RecognizedWord[]): void {
    const legacy = this.config?.legacy === true;
    this.send(turnMessage({
      turnOrder: this.#turnOrder,
      formatted: false,
      endOfTurn: false,
      words: wireWords(words, { final: false, positionMs: atMs, settleMs: WORD_SETTLE_MS }),
      // U3: 0.0 unless end_of_turn (u3-pro spec `end_of_turn_confidence`).
      endOfTurnConfidence: legacy ? round6(this.#legacyEotConfidence(turn, atMs)) : 0,
      utterance: '',
    }));
  }

  #onSilenceCheck(turn: OpenTurn, atMs: number): boolean {
    const words = this.#recognize(turn, atMs, false);
    const last = words.at(-1);
    if (last !== undefined && hasTerminalPunctuation(last.text)) return true;
    this.#sendPartial(turn, atMs, words);
    return false;
  }

  #onTurnEnded(turn: OpenTurn, endMs: number, reason: TurnEndReason): void {
    const config = this.config;
    if (config === undefined) return;
    const words = this.#recognize(turn, endMs, true);
    const eotConfidence = reason === 'max_turn_silence' ? 1 : this.#legacyEotConfidence(turn, endMs);
    const languageDetection = this.query.get('language_detection') === 'true';
    const messages = finalTurnMessages({ legacy: config.legacy, formatTurns: config.formatTurns, turnOrder: this.#turnOrder, words, eotConfidence, languageDetection });
    for (const message of messages) this.send(message);
    const transcript = String(messages.at(-1)?.['transcript'] ?? '');
    if (config.llmGateway !== undefined && transcript !== '') this.#runLlm(config.llmGateway, this.#turnOrder, transcript);
    this.#turnOrder += 1;
  }
}
