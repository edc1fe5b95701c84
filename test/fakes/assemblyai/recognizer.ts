/**
 * The fake's default "speech recognizer" and its formatting step. There is no acoustic model: a word is a voiced run
 * of audio, which lets tests count words and check their times against the audio they sent.
 */
import type { RecognizedWord, Recognizer } from './types.ts';
import { speechWindows, WINDOW_MS } from './vad.ts';

/** Confidence the fake reports for words whose recognizer gave none (an arbitrary constant, not a measurement). */
export const DEFAULT_WORD_CONFIDENCE = 0.9;

/** Options of {@link createVoicedRunRecognizer}. */
export interface VoicedRunOptions {
  /** RMS threshold for a speech window (10 ms), dBFS: use the server's `speechThresholdDbfs`. */
  thresholdDbfs: number;
  /** Non-speech (ms) that separates two words; shorter gaps stay inside a word. Default 60. */
  minGapMs?: number;
}

/**
 * Default recognizer: one word per *voiced run*, i.e. contiguous 10 ms speech windows (RMS ≥ threshold), split where
 * there are at least `minGapMs` (default 60 ms) of non-speech windows. Word texts are `speech1`, `speech2`, … numbered
 * from 1 within each turn; `start`/`end` are the run's first window start and last speech window end, in ms of
 * session audio. Deterministic: the same audio always yields the same words.
 */
export function createVoicedRunRecognizer(options: VoicedRunOptions): Recognizer {
  const minGapWindows = Math.max(1, Math.ceil((options.minGapMs ?? 60) / WINDOW_MS));
  return ({ pcm, startMs }) => {
    const windows = speechWindows(pcm, options.thresholdDbfs);
    const words: RecognizedWord[] = [];
    let runStart = -1;
    let runEnd = -1; // exclusive window index of the last speech window + 1
    const flush = (): void => {
      if (runStart < 0) return;
      words.push({ text: `speech${words.length + 1}`, start: startMs + runStart * WINDOW_MS, end: startMs + runEnd * WINDOW_MS });
      runStart = -1;
    };
    windows.forEach((speech, index) => {
      if (speech) {
        if (runStart < 0) runStart = index;
        runEnd = index + 1;
      } else if (runStart >= 0 && index + 1 - runEnd >= minGapWindows) {
        flush();
      }
    });
    flush();
    return words;
  };
}

/** Whether a word ends a sentence (`.`, `?`, `!`, `…`, optionally followed by closing quotes/brackets). */
export function hasTerminalPunctuation(text: string): boolean {
  return /[.?!…]["')\]]*$/.test(text);
}

/**
 * The fake's "formatting" of a final transcript (what U3 always does and `format_turns=true` does for Universal-
 * Streaming): the first letter of the first word is upper-cased and the last word gets a `.` unless it already ends a
 * sentence. Times are kept. E.g. `speech1 speech2` → `Speech1 speech2.`
 * @returns new word objects; the input is not modified.
 */
export function formatWords<T extends { text: string }>(words: readonly T[]): T[] {
  return words.map((word, index) => {
    let text = word.text;
    if (index === 0) text = text.charAt(0).toUpperCase() + text.slice(1);
    if (index === words.length - 1 && !hasTerminalPunctuation(text)) text = `${text}.`;
    return { ...word, text };
  });
}
