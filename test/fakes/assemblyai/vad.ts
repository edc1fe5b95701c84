/**
 * Energy-based turn detector for the fake AssemblyAI server. Like Universal-3 Pro, it runs on **audio time**, not
 * wall-clock time: if no audio arrives, nothing moves and an open turn stays open (source: NOTES.md, "U3 turn detection
 * runs on audio time"). Audio is cut into 10 ms windows (160 samples at 16 kHz); a window is *speech* when its RMS level
 * is at or above a threshold in dBFS.
 *
 * Turn rules (times in ms of session audio):
 * - A turn starts at the first speech window while no turn is open (→ `speechStarted`).
 * - While it is open, `partial` fires every `partialEveryMs` of audio after the turn start.
 * - Trailing silence = audio since the end of the last speech window. When it reaches `minTurnSilenceMs` (U3 only;
 *   once per pause), `silenceCheck` fires: the caller returns true to end the turn there (U3 ends the turn at
 *   min_turn_silence when the transcript has terminal punctuation, else emits a partial and waits; source:
 *   usm-streaming-u3-pro.yml `min_turn_silence`).
 * - When trailing silence reaches `maxTurnSilenceMs`, the turn ends (source: same file, `max_turn_silence`: "maximum
 *   silence in milliseconds before the turn is forced to end").
 * - {@link TurnDetector.end} ends the open turn at once (ForceEndpoint, Terminate).
 */

/** Window length, ms. */
export const WINDOW_MS = 10;
/** Samples per window at 16 kHz. */
export const SAMPLES_PER_WINDOW = 160;

/**
 * RMS level of `samples[start, end)` in dBFS, where 0 dBFS is the RMS of a full-scale square wave (RMS 32,768); a
 * full-scale sine is about −3 dBFS. Digital silence gives −Infinity.
 */
export function rmsDbfs(samples: Int16Array, start = 0, end = samples.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) {
    const s = samples[i] ?? 0;
    sum += s * s;
  }
  const count = end - start;
  if (count <= 0 || sum === 0) return -Infinity;
  return 20 * Math.log10(Math.sqrt(sum / count) / 32768);
}

/**
 * Whether each 10 ms window of `samples` is speech (RMS ≥ `thresholdDbfs`). A trailing part-window is ignored.
 * @returns one boolean per whole window, in order.
 */
export function speechWindows(samples: Int16Array, thresholdDbfs: number): boolean[] {
  const windows: boolean[] = [];
  for (let start = 0; start + SAMPLES_PER_WINDOW <= samples.length; start += SAMPLES_PER_WINDOW) {
    windows.push(rmsDbfs(samples, start, start + SAMPLES_PER_WINDOW) >= thresholdDbfs);
  }
  return windows;
}

/** The turn currently open. Times in ms of session audio. */
export interface OpenTurn {
  /** Start of the turn's first speech window. */
  readonly startMs: number;
  /** End of the turn's latest speech window. */
  readonly lastSpeechEndMs: number;
}

/** Why a turn ended. */
export type TurnEndReason = 'max_turn_silence' | 'min_turn_silence' | 'force_endpoint' | 'terminate';

/** Callbacks of {@link TurnDetector}; called synchronously from `push`/`end`. */
export interface TurnDetectorEvents {
  /** A turn opened at `atMs`; `levelDbfs` is the level of its first speech window. */
  speechStarted(atMs: number, levelDbfs: number): void;
  /** Periodic partial point: the turn is open and `atMs` of audio has been processed. */
  partial(turn: OpenTurn, atMs: number): void;
  /** Trailing silence reached `minTurnSilenceMs` at `atMs`. Return true to end the turn now, false to keep it open. */
  silenceCheck(turn: OpenTurn, atMs: number): boolean;
  /** The turn ended at `endMs`: the audio ms processed when the end was decided (a 10 ms window boundary). */
  ended(turn: OpenTurn, endMs: number, reason: TurnEndReason): void;
}

/** Settings of {@link TurnDetector}; the silence settings may change mid-session (UpdateConfiguration). */
export interface TurnDetectorSettings {
  /** RMS threshold for a speech window, dBFS. */
  thresholdDbfs: number;
  /** Audio ms between partials within a turn. */
  partialEveryMs: number;
  /** Trailing silence (ms) that triggers `silenceCheck`; null disables it (Universal-Streaming models). */
  minTurnSilenceMs: number | null;
  /** Trailing silence (ms) that ends the turn. */
  maxTurnSilenceMs: number;
}

interface TurnState {
  startMs: number;
  lastSpeechEndMs: number;
  nextPartialMs: number;
  silenceChecked: boolean;
}

/** Streaming turn detector over 16 kHz s16le mono samples; see the module comment for the rules. */
export class TurnDetector {
  /** Current settings; assign to change them (applies from the next window). */
  settings: TurnDetectorSettings;
  readonly #events: TurnDetectorEvents;
  #pending = new Int16Array(0);
  #positionMs = 0;
  #turn: TurnState | undefined;

  constructor(settings: TurnDetectorSettings, events: TurnDetectorEvents) {
    this.settings = { ...settings };
    this.#events = events;
  }

  /** Audio processed so far, ms (whole windows only). */
  get positionMs(): number {
    return this.#positionMs;
  }

  /** The open turn, if any. */
  get openTurn(): OpenTurn | undefined {
    return this.#turn === undefined ? undefined : { startMs: this.#turn.startMs, lastSpeechEndMs: this.#turn.lastSpeechEndMs };
  }

  /** Feeds samples; a part-window at the end waits for the next call. */
  push(samples: Int16Array): void {
    let buffer = samples;
    if (this.#pending.length > 0) {
      buffer = new Int16Array(this.#pending.length + samples.length);
      buffer.set(this.#pending, 0);
      buffer.set(samples, this.#pending.length);
    }
    let offset = 0;
    for (; offset + SAMPLES_PER_WINDOW <= buffer.length; offset += SAMPLES_PER_WINDOW) {
      const level = rmsDbfs(buffer, offset, offset + SAMPLES_PER_WINDOW);
      this.#step(level);
    }
    this.#pending = buffer.slice(offset);
  }

  /** Ends the open turn now (at {@link positionMs}); does nothing when no turn is open. */
  end(reason: 'force_endpoint' | 'terminate'): void {
    if (this.#turn !== undefined) this.#close(this.#positionMs, reason);
  }

  #close(endMs: number, reason: TurnEndReason): void {
    const turn = this.#turn;
    if (turn === undefined) return;
    this.#turn = undefined;
    this.#events.ended({ startMs: turn.startMs, lastSpeechEndMs: turn.lastSpeechEndMs }, endMs, reason);
  }

  #step(levelDbfs: number): void {
    const startMs = this.#positionMs;
    const endMs = startMs + WINDOW_MS;
    this.#positionMs = endMs;
    const speech = levelDbfs >= this.settings.thresholdDbfs;
    const { partialEveryMs, minTurnSilenceMs, maxTurnSilenceMs } = this.settings;

    if (this.#turn === undefined) {
      if (!speech) return;
      this.#turn = { startMs, lastSpeechEndMs: endMs, nextPartialMs: startMs + partialEveryMs, silenceChecked: false };
      this.#events.speechStarted(startMs, levelDbfs);
    }
    const turn = this.#turn;
    if (speech) {
      turn.lastSpeechEndMs = endMs;
      turn.silenceChecked = false;
    }
    const silenceMs = endMs - turn.lastSpeechEndMs;
    if (silenceMs >= maxTurnSilenceMs) {
      this.#close(endMs, 'max_turn_silence');
      return;
    }
    const view: OpenTurn = { startMs: turn.startMs, lastSpeechEndMs: turn.lastSpeechEndMs };
    let partialSent = false;
    if (minTurnSilenceMs !== null && !turn.silenceChecked && silenceMs > 0 && silenceMs >= minTurnSilenceMs) {
      turn.silenceChecked = true;
      if (this.#events.silenceCheck(view, endMs)) {
        this.#close(endMs, 'min_turn_silence');
        return;
      }
      partialSent = true; // the caller answers a failed check with a partial
    }
    if (endMs >= turn.nextPartialMs) {
      while (turn.nextPartialMs <= endMs) turn.nextPartialMs += Math.max(WINDOW_MS, partialEveryMs);
      if (!partialSent) this.#events.partial(view, endMs);
    }
  }
}
