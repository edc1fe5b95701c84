/**
 * Caption events: what the pipeline produces for every Turn, and the sink interface every output (console,
 * Discord, files) implements. Times are meeting time: ms since the meeting (or replay) started.
 */

/** A member whose audio is captioned. */
export interface Speaker {
  /** Stable id: the Discord user id, or the track name in replay. */
  id: string;
  /** Name shown with captions (Discord display name, or the replay track name). */
  name: string;
}

/** One partial or final transcript of a speaker's turn. */
export interface CaptionEvent {
  /** `partial`: the turn is still in progress and this text will be replaced; `final`: end of turn, text is settled. */
  kind: 'partial' | 'final';
  speaker: Speaker;
  /** Identifies the turn across its partials and its final; unique within a meeting. */
  turnId: string;
  /** Meeting time of the first word, in ms. */
  startMs: number;
  /** Meeting time of the last word's end, in ms. */
  endMs: number;
  /** Transcript text. User content: never log it above debug level. */
  text: string;
  /** BCP-47/ISO 639-1 code AssemblyAI detected, when language detection is on. */
  languageCode?: string;
}

/** How serious a notice is. */
export type NoticeLevel = 'info' | 'warning' | 'error';

/** A plain-words message for the people reading the captions (e.g. "Speech-to-text is unavailable: …"). */
export interface Notice {
  level: NoticeLevel;
  /** Plain words, escaped by each sink (untrusted names may be in it), unless {@link Notice.markdown} is set. */
  text: string;
  /**
   * Set only by code that builds Discord Markdown itself and has escaped every untrusted part of `text` with
   * `escapeDiscordText`; such text is posted as written.
   */
  markdown?: boolean;
}

/** Receives caption events and notices. Implementations must not throw; they handle their own failures. */
export interface CaptionSink {
  caption(event: CaptionEvent): void;
  notice(notice: Notice): void;
}
