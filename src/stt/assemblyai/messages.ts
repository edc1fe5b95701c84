/**
 * AssemblyAI Streaming v3 wire messages, and the one place where they become typed events.
 *
 * Source: AssemblyAI Streaming v3 API reference (messages Begin, SpeechStarted, Turn, Termination, Error, Warning) and the
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

/** Everything the server can send, as Parley sees it. */
export type ServerEvent =
  | { type: 'begin'; id: string; expiresAtMs: number; configuration?: Record<string, unknown> }
  | { type: 'warning'; code: number | undefined; warning: string }
  | { type: 'speechStarted'; timestampMs: number }
  | TurnMessage
  | { type: 'termination'; audioDurationS: number; sessionDurationS: number }
  | { type: 'error'; code: number | undefined; error: string }
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
    case undefined:
      // Some error frames carry only `{ "error": "…" }`.
      if (str(m.error) !== undefined) return { type: 'error', code: num(m.error_code), error: str(m.error) ?? '' };
      return { type: 'malformed', reason: 'message without a type' };
    default:
      return { type: 'unknown', messageType: type };
  }
}
