/**
 * Turns one session's `Turn` messages into caption events: partials while a turn is open, one final at its end,
 * with word times mapped to meeting time.
 *
 * A turn is final on `end_of_turn`. Universal-3 models always format final turns; older models with
 * `format_turns=true` send the unformatted end of turn first and the formatted copy after it with the same
 * `turn_order` (AssemblyAI's documented sequence), so for them the unformatted one is held until the formatted
 * copy, the next turn, or the session's end, and a turn is never final twice.
 */
import type { CaptionEvent, Speaker } from '../captions/caption.ts';
import { PCM_FRAME_MS } from '../audio/format.ts';
import type { TurnMessage } from './assemblyai/messages.ts';
import type { SessionTimeline } from './session-timeline.ts';

/** The caption `turnId` of turn `turnOrder` of a speaker's session number `sessionSeq`: unique within a meeting. */
export function turnIdOf(speakerId: string, sessionSeq: number, turnOrder: number): string {
  return `${speakerId}:${sessionSeq}:${turnOrder}`;
}

/** Options for {@link TurnTracker}. */
export interface TurnTrackerOptions {
  speaker: Speaker;
  /** Distinguishes this session's turns from the speaker's other sessions in turn ids. */
  sessionSeq: number;
  timeline: SessionTimeline;
  /** True when finals come unformatted first and formatted after (pre-U3 models with `format_turns`). */
  awaitFormatted: boolean;
  emit: (event: CaptionEvent) => void;
}

/** One session's turns. */
export class TurnTracker {
  readonly #o: TurnTrackerOptions;
  readonly #finalTurnOrders = new Set<number>();
  #pendingFinal: TurnMessage | null = null;
  #turnOpen = false;

  constructor(options: TurnTrackerOptions) {
    this.#o = options;
  }

  /** True while a turn has begun (speech started or a partial came) and has not ended. */
  get turnOpen(): boolean {
    return this.#turnOpen;
  }

  /** `SpeechStarted`: a turn has begun. */
  onSpeechStarted(): void {
    this.#turnOpen = true;
  }

  onTurn(turn: TurnMessage): void {
    if (this.#finalTurnOrders.has(turn.turnOrder)) return; // e.g. the formatted copy of a turn already final
    if (this.#pendingFinal !== null && turn.turnOrder !== this.#pendingFinal.turnOrder) this.flush();
    if (turn.endOfTurn && !(this.#o.awaitFormatted && !turn.turnIsFormatted)) {
      this.#pendingFinal = null;
      this.#emitFinal(turn);
      return;
    }
    if (turn.endOfTurn) this.#pendingFinal = turn;
    this.#turnOpen = true;
    if (turn.transcript.length > 0) this.#o.emit(this.#toCaption(turn, 'partial'));
  }

  /** Emits a final still waiting for its formatted copy (the session is ending, or the next turn began). */
  flush(): void {
    const pending = this.#pendingFinal;
    this.#pendingFinal = null;
    if (pending !== null && !this.#finalTurnOrders.has(pending.turnOrder)) this.#emitFinal(pending);
  }

  #emitFinal(turn: TurnMessage): void {
    this.#finalTurnOrders.add(turn.turnOrder);
    this.#turnOpen = false;
    const lastWord = turn.words.at(-1);
    if (lastWord !== undefined) this.#o.timeline.confirmUpTo(lastWord.end);
    if (turn.transcript.trim().length === 0) return;
    this.#o.emit(this.#toCaption(turn, 'final'));
  }

  #toCaption(turn: TurnMessage, kind: CaptionEvent['kind']): CaptionEvent {
    const { timeline, speaker } = this.#o;
    const first = turn.words[0];
    const last = turn.words.at(-1);
    const startAudio = first?.start ?? Math.max(0, timeline.audioMs - PCM_FRAME_MS);
    const endAudio = last?.end ?? timeline.audioMs;
    const event: CaptionEvent = {
      kind,
      speaker,
      turnId: turnIdOf(speaker.id, this.#o.sessionSeq, turn.turnOrder),
      startMs: Math.round(timeline.toMeetingMs(startAudio)),
      endMs: Math.round(timeline.toMeetingMs(endAudio)),
      text: turn.transcript,
    };
    if (turn.languageCode !== undefined) event.languageCode = turn.languageCode;
    return event;
  }
}
