/**
 * Builders for the server messages of AssemblyAI Streaming v3, with the field order of AssemblyAI's documented
 * examples (mirrored in test/fixtures/assemblyai/streaming-v3-messages.json) and the field rules of the AsyncAPI specs
 * (AssemblyAI/assemblyai-api-spec `usm-streaming-u3-pro.yml`, `usm-streaming.yml`).
 */
import { DEFAULT_WORD_CONFIDENCE, formatWords } from './recognizer.ts';
import type { RecognizedWord } from './types.ts';

/** A word as sent in `Turn.words`. Times in ms of session audio (integers). */
export interface WireWord {
  start: number;
  end: number;
  text: string;
  confidence: number;
  word_is_final: boolean;
}

/** Rounds to 6 decimals, as the service's confidences are. */
export function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** `Begin {type, id, expires_at}`; `expires_at` in unix seconds (integer). Source: u3-pro spec `SessionBeginsPayload`. */
export function beginMessage(id: string, expiresAtS: number): Record<string, unknown> {
  return { type: 'Begin', id, expires_at: expiresAtS };
}

/** `SpeechStarted {type, timestamp, confidence}`; `timestamp` in ms of session audio. U3 only (NOTES.md). */
export function speechStartedMessage(timestampMs: number, confidence: number): Record<string, unknown> {
  return { type: 'SpeechStarted', timestamp: timestampMs, confidence: round6(confidence) };
}

/** `Termination {type, audio_duration_seconds, session_duration_seconds}`; both integers (s). Source: spec `TerminationPayload`. */
export function terminationMessage(audioMs: number, sessionMs: number): Record<string, unknown> {
  return { type: 'Termination', audio_duration_seconds: Math.round(audioMs / 1000), session_duration_seconds: Math.round(sessionMs / 1000) };
}

/** `Error {type, error_code, error}`, sent just before a close with the same code. Source: docs "Common session errors and closures". */
export function errorMessage(code: number, error: string): Record<string, unknown> {
  return { type: 'Error', error_code: code, error };
}

/**
 * Words for the wire. `final` marks every word final (end-of-turn Turn); otherwise a word is final when another word
 * follows it or at least `settleMs` of audio follows its end (it can no longer grow), as `word_is_final` in the
 * documented partials: earlier words final, the word being spoken not.
 */
export function wireWords(words: readonly RecognizedWord[], options: { final: boolean; positionMs: number; settleMs: number }): WireWord[] {
  return words.map((word, index) => ({
    start: Math.round(word.start),
    end: Math.round(word.end),
    text: word.text,
    confidence: round6(word.confidence ?? DEFAULT_WORD_CONFIDENCE),
    word_is_final: options.final || index < words.length - 1 || options.positionMs - word.end >= options.settleMs,
  }));
}

/** Fields of {@link turnMessage}. */
export interface TurnFields {
  turnOrder: number;
  formatted: boolean;
  endOfTurn: boolean;
  words: WireWord[];
  endOfTurnConfidence: number;
  utterance: string;
}

/**
 * `Turn` message. `transcript` is the words' texts joined by spaces. Field order as in the documented examples:
 * turn_order, turn_is_formatted, end_of_turn, transcript, end_of_turn_confidence, words, utterance, type.
 */
export function turnMessage(fields: TurnFields): Record<string, unknown> {
  return {
    turn_order: fields.turnOrder,
    turn_is_formatted: fields.formatted,
    end_of_turn: fields.endOfTurn,
    transcript: transcriptOf(fields.words),
    end_of_turn_confidence: round6(fields.endOfTurnConfidence),
    words: fields.words,
    utterance: fields.utterance,
    type: 'Turn',
  };
}

/** Words' texts joined by single spaces. */
export function transcriptOf(words: ReadonlyArray<{ text: string }>): string {
  return words.map((word) => word.text).join(' ');
}

/**
 * The end-of-turn message(s) for a turn.
 * - Universal-3 Pro: one Turn, `end_of_turn: true`, `turn_is_formatted: true` (U3 always formats finals),
 *   `end_of_turn_confidence: 1` ("1.0 when end_of_turn is true", u3-pro spec), `utterance` = transcript (fixture u3_rt_pro).
 * - Universal-Streaming: an unformatted end-of-turn Turn (`utterance` = transcript), then, when `format_turns=true`, a
 *   formatted Turn with the same `turn_order` and `utterance: ""` (fixture universal_streaming_legacy_with_format_message).
 * @param words the recognizer's (unformatted) words. @param eotConfidence confidence for Universal-Streaming finals.
 */
export function finalTurnMessages(options: { legacy: boolean; formatTurns: boolean; turnOrder: number; words: readonly RecognizedWord[]; eotConfidence: number }): Array<Record<string, unknown>> {
  const wire = (words: readonly RecognizedWord[]): WireWord[] => wireWords(words, { final: true, positionMs: 0, settleMs: 0 });
  if (!options.legacy) {
    const words = wire(formatWords(options.words));
    return [turnMessage({ turnOrder: options.turnOrder, formatted: true, endOfTurn: true, words, endOfTurnConfidence: 1, utterance: transcriptOf(words) })];
  }
  const plain = wire(options.words);
  const messages = [turnMessage({ turnOrder: options.turnOrder, formatted: false, endOfTurn: true, words: plain, endOfTurnConfidence: options.eotConfidence, utterance: transcriptOf(plain) })];
  if (options.formatTurns) {
    messages.push(turnMessage({ turnOrder: options.turnOrder, formatted: true, endOfTurn: true, words: wire(formatWords(options.words)), endOfTurnConfidence: options.eotConfidence, utterance: '' }));
  }
  return messages;
}
