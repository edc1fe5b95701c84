/**
 * AssemblyAI Streaming v3 wire messages, and the one place where they become typed events.
 *
 * Source: AssemblyAI Streaming v3 API reference (messages Begin, SpeechStarted, Turn, Termination, Error, Warning,
 * and LLMGatewayResponse from the "Apply LLM Gateway to Streaming" tutorial) and the
 * documented sequences in AssemblyAI's API spec. Fields come and go between model versions, so parsing is
 * defensive: unknown fields are ignored, unknown message types are reported as `unknown`, and a message missing
 * a field we rely on is reported as `malformed` rather than thrown.
 */

/** One word of a Turn. Times are ms of session audio (from the session's first audio byte). */
export interface TurnWord {
  text: string;
  start: number;
  end: number;
  confidence: number;
  wordIsFinal: boolean;
}

/** A `Turn` message: the current transcript of turn `turnOrder`, partial until `endOfTurn`. */
export interface TurnMessage {
  type: 'turn';
  turnOrder: number;
  endOfTurn: boolean;
  turnIsFormatted: boolean;
  transcript: string;
  endOfTurnConfidence: number;
  words: TurnWord[];
  languageCode?: string;
}

/**
 * The `llm_gateway` connection parameter: a prompt AssemblyAI runs on each final turn server-side, `{{turn}}` in
 * a message's content standing for the turn's transcript. Only these three fields are documented ("Apply LLM
 * Gateway to Streaming" tutorial; assemblyai-python-sdk `LLMGatewayConfig`, assemblyai-node-sdk `LLMGatewayConfig`,
 * all three required); it is sent JSON-encoded in the query and cannot be changed with `UpdateConfiguration`.
 */
export interface LlmGatewayConfig {
  /** A LLM Gateway model id, e.g. `gemini-2.5-flash-lite`. */
  model: string;
  messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>;
  /** Most tokens the answer may have. */
  max_tokens: number;
}

/**
 * An `LLMGatewayResponse {turn_order, transcript, data}`: the answer to the `llm_gateway` prompt for final turn
 * `turnOrder` of this session. `data` is the gateway's body, typed `Any`/`unknown` by both SDKs: a chat completion
 * (`choices[0].message.content`, tutorial) or, when the gateway refused, its error body; exactly one of `content`
 * and `failure` is set.
 */
export interface LlmGatewayResponseMessage {
  type: 'llmGatewayResponse';
  turnOrder: number;
  /** The turn's transcript the prompt was run on. User content: never log it above debug level. */
  transcript: string;
  /** The model's answer (`data.choices[0].message.content`). */
  content?: string;
  /** Why there is no answer, in words (the gateway's error text when it sent one). */
  failure?: string;
  /** The gateway's `request_id`, when present. */
  requestId?: string;
  /** The model that answered (`data.model`), when present. */
  model?: string;
  /** `data.choices[0].finish_reason`, e.g. `length` when cut off at `max_tokens`. */
  finishReason?: string;
}

/** Everything the server can send, as Parley sees it. */
export type ServerEvent =
  | { type: 'begin'; id: string; expiresAtMs: number; configuration?: Record<string, unknown> }
  | { type: 'warning'; code: number | undefined; warning: string }
  | { type: 'speechStarted'; timestampMs: number }
  | TurnMessage
  | { type: 'termination'; audioDurationS: number; sessionDurationS: number }
  | { type: 'error'; code: number | undefined; error: string }
  | LlmGatewayResponseMessage
  | { type: 'unknown'; messageType: string }
  | { type: 'malformed'; reason: string };

/** Messages Parley sends. Audio goes separately, as binary frames of raw PCM. */
export type ClientMessage =
  | { type: 'Terminate' }
  | { type: 'ForceEndpoint' }
  | { type: 'KeepAlive' }
  | {
      type: 'UpdateConfiguration';
      keyterms_prompt?: string[];
      min_turn_silence?: number;
      max_turn_silence?: number;
    };

type Json = Record<string, unknown>;

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function parseWords(value: unknown): TurnWord[] {
  if (!Array.isArray(value)) return [];
  const words: TurnWord[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const w = item as Json;
    const text = str(w.text);
    const start = num(w.start);
    const end = num(w.end);
    if (text === undefined || start === undefined || end === undefined) continue;
    words.push({ text, start, end, confidence: num(w.confidence) ?? 0, wordIsFinal: w.word_is_final === true });
  }
  return words;
}

function parseTurn(m: Json): ServerEvent {
  const turnOrder = num(m.turn_order);
  if (turnOrder === undefined) return { type: 'malformed', reason: 'Turn without a numeric turn_order' };
  const words = parseWords(m.words);
  // `transcript` holds finalised words only; while a turn is young it can be empty while `words` already has
  // non-final ones, so fall back to the words for the text of a partial.
  const transcript = str(m.transcript) ?? '';
  const text = transcript.length > 0 ? transcript : words.map((w) => w.text).join(' ');
  const turn: TurnMessage = {
    type: 'turn',
    turnOrder,
    endOfTurn: m.end_of_turn === true,
    turnIsFormatted: m.turn_is_formatted === true,
    transcript: text,
    endOfTurnConfidence: num(m.end_of_turn_confidence) ?? 0,
    words,
  };
  const languageCode = str(m.language_code);
  if (languageCode !== undefined) turn.languageCode = languageCode;
  return turn;
}

const record = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

/** The gateway's error text in either of its two body shapes (`{message, metadata.errors}`, `{error, status}`). */
function gatewayFailure(data: Json): string {
  const errors = record(data.metadata)?.errors;
  const detail = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string').join('; ') : '';
  const error = data.error;
  const said = str(error) ?? str(record(error)?.message) ?? str(data.message) ?? '';
  const text = [said, detail].filter((part) => part.length > 0).join(': ');
  return text.length > 0 ? `the LLM Gateway answered: ${text.slice(0, 300)}` : 'the LLM Gateway sent no answer';
}

function parseLlmGatewayResponse(m: Json): ServerEvent {
  const turnOrder = num(m.turn_order);
  if (turnOrder === undefined) return { type: 'malformed', reason: 'LLMGatewayResponse without a numeric turn_order' };
  const event: LlmGatewayResponseMessage = { type: 'llmGatewayResponse', turnOrder, transcript: str(m.transcript) ?? '' };
  const data = record(m.data);
  if (data === undefined) return { ...event, failure: 'the response carried no data' };
  const requestId = str(data.request_id);
  if (requestId !== undefined) event.requestId = requestId;
  const model = str(data.model);
  if (model !== undefined) event.model = model;
  const choice = Array.isArray(data.choices) ? record(data.choices[0]) : undefined;
  const content = str(record(choice?.message)?.content);
  const finishReason = str(choice?.finish_reason);
  if (finishReason !== undefined) event.finishReason = finishReason;
  if (content === undefined) return { ...event, failure: choice === undefined ? gatewayFailure(data) : 'the answer had no text content' };
  return { ...event, content };
}

/**
 * Turns one text frame from the server into a typed event. Never throws.
 *
 * @param text - the frame's UTF-8 text.
 */
export function parseServerMessage(text: string): ServerEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { type: 'malformed', reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { type: 'malformed', reason: 'not a JSON object' };
  }
  const m = value as Json;
  const type = str(m.type);
  switch (type) {
    case 'Begin': {
      const id = str(m.id);
      const expiresAt = num(m.expires_at);
      if (id === undefined || expiresAt === undefined) return { type: 'malformed', reason: 'Begin without id or expires_at' };
      // Newer Begin messages carry `configuration` (the model actually used, mode, api_version): kept as sent, for the log.
      const configuration = m.configuration;
      if (typeof configuration === 'object' && configuration !== null && !Array.isArray(configuration)) {
        return { type: 'begin', id, expiresAtMs: expiresAt * 1000, configuration: configuration as Record<string, unknown> };
      }
      return { type: 'begin', id, expiresAtMs: expiresAt * 1000 };
    }
    case 'Warning':
      // Source: AssemblyAI/assemblyai-python-sdk `streaming/v3/models.py` WarningEvent {warning_code, warning}.
      return { type: 'warning', code: num(m.warning_code), warning: str(m.warning) ?? '' };
    case 'SpeechStarted':
      return { type: 'speechStarted', timestampMs: num(m.timestamp) ?? 0 };
    case 'Turn':
      return parseTurn(m);
    case 'Termination':
      return {
        type: 'termination',
        audioDurationS: num(m.audio_duration_seconds) ?? 0,
        sessionDurationS: num(m.session_duration_seconds) ?? 0,
      };
    case 'Error':
      return { type: 'error', code: num(m.error_code), error: str(m.error) ?? 'unknown error' };
    case 'LLMGatewayResponse':
      // Source: "Apply LLM Gateway to Streaming" tutorial; assemblyai-python-sdk `LLMGatewayResponseEvent`.
      return parseLlmGatewayResponse(m);
    case undefined:
      // Some error frames carry only `{ "error": "…" }`.
      if (str(m.error) !== undefined) return { type: 'error', code: num(m.error_code), error: str(m.error) ?? '' };
      return { type: 'malformed', reason: 'message without a type' };
    default:
      return { type: 'unknown', messageType: type };
  }
}
