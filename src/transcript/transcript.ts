/**
 * The meeting transcript: the final transcripts of every speaker's turns, ordered by meeting time.
 */
import type { CaptionEvent, Speaker } from '../captions/caption.ts';

/** One final turn. Times are meeting time, ms. */
export interface TranscriptTurn {
  turnId: string;
  speaker: Speaker;
  startMs: number;
  endMs: number;
  text: string;
  /** Language code → translated text, when translation is on. */
  translations?: Record<string, string>;
  /** The language AssemblyAI detected for the turn (e.g. `es`), when language detection is on. */
  languageCode?: string;
}

/** Collects final turns; partials are ignored. */
export class Transcript {
  readonly #turns: TranscriptTurn[] = [];
  readonly #speakers = new Map<string, Speaker>();

  /** Adds a final caption event; partials are ignored. Keeps turns ordered by start time (stable for ties). */
  add(event: CaptionEvent): TranscriptTurn | undefined {
    if (event.kind !== 'final') return undefined;
    const turn: TranscriptTurn = {
      turnId: event.turnId,
      speaker: event.speaker,
      startMs: event.startMs,
      endMs: event.endMs,
      text: event.text,
      ...(event.languageCode !== undefined && { languageCode: event.languageCode }),
    };
    this.#speakers.set(event.speaker.id, event.speaker);
    // Finals arrive nearly in order; insert from the end.
    let index = this.#turns.length;
    while (index > 0 && (this.#turns[index - 1]?.startMs ?? 0) > turn.startMs) index--;
    this.#turns.splice(index, 0, turn);
    return turn;
  }

  /** Notes a speaker even before their first final turn (so they appear in the speaker list). */
  addSpeaker(speaker: Speaker): void {
    if (!this.#speakers.has(speaker.id)) this.#speakers.set(speaker.id, speaker);
  }

  /** Records a translation of a turn already added. */
  setTranslation(turnId: string, language: string, text: string): void {
    const turn = this.#turns.find((t) => t.turnId === turnId);
    if (turn === undefined) return;
    turn.translations = { ...turn.translations, [language]: text };
  }

  /** Final turns ordered by `startMs`. */
  get turns(): readonly TranscriptTurn[] {
    return this.#turns;
  }

  /** Everyone who spoke (or was captioned), in order of first appearance. */
  get speakers(): Speaker[] {
    return [...this.#speakers.values()];
  }
}
