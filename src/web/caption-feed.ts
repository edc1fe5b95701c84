/**
 * One meeting's captions for the caption page: a caption sink beside the Discord one, fed the same caption,
 * notice and translation events. Finals, translations and notices are kept in order, each with a sequence number
 * (the Server-Sent Events `id`), so a page that opens late gets the whole meeting and one that reconnects with
 * `Last-Event-ID` gets exactly what it missed. Partials are not kept: only each speaker's newest one, sent live.
 *
 * Bounds: at most {@link MAX_FEED_ENTRIES} entries (oldest dropped first: scrollback shortens, live text does not
 * stop) and {@link MAX_SUBSCRIBERS} listeners per meeting.
 */
import type { CaptionEvent, CaptionSink, Notice } from '../captions/caption.ts';
import type { TranslatedCaption } from '../translation/translation-sink.ts';

/** Most entries a meeting keeps (finals + translations + notices): about 3 h of a lively call in 5 languages. */
export const MAX_FEED_ENTRIES = 50_000;
/** Most live listeners (open pages) per meeting. */
export const MAX_SUBSCRIBERS = 500;

/** A kept entry: what the page's scrollback is built from. `seq` starts at 1 and grows by 1. */
export type FeedEntry =
  | { seq: number; kind: 'final'; turnId: string; speakerId: string; name: string; text: string; language?: string; endMs: number }
  /** `failed`: the language could not be translated; `text` is then the original, shown as it is. */
  | { seq: number; kind: 'translation'; turnId: string; language: string; text: string; failed?: true }
  | { seq: number; kind: 'notice'; level: Notice['level']; text: string }
  | { seq: number; kind: 'end' };

/** A speaker's in-progress turn. */
export interface FeedPartial {
  speakerId: string;
  name: string;
  turnId: string;
  text: string;
}

/** What a listener is told, as it happens. */
export type FeedMessage = { type: 'entry'; entry: FeedEntry } | { type: 'partial'; partial: FeedPartial } | { type: 'clear'; speakerId: string };

/** A live listener; must not throw. */
export type FeedListener = (message: FeedMessage) => void;

/** Options for {@link CaptionFeed}. */
export interface CaptionFeedOptions {
  guildId: string;
  /** The meeting's translation languages (ISO 639-1), read when a page connects. */
  languages: () => readonly string[];
  /** Wall-clock ms now; defaults to `Date.now`. */
  now?: () => number;
}

/** Thrown by {@link CaptionFeed.subscribe} when {@link MAX_SUBSCRIBERS} pages are open. */
export class FeedFullError extends Error {
  override name = 'FeedFullError';
}

/** One meeting's caption feed. */
export class CaptionFeed implements CaptionSink {
  readonly guildId: string;
  /** Set once the meeting's id is known (it is stored after the pipeline is built). */
  meetingId: number | null = null;
  readonly #languages: () => readonly string[];
  readonly #now: () => number;
  readonly #entries: FeedEntry[] = [];
  readonly #partials = new Map<string, FeedPartial>();
  readonly #listeners = new Set<FeedListener>();
  #seq = 0;
  #endedAt: number | null = null;

  constructor(options: CaptionFeedOptions) {
    this.guildId = options.guildId;
    this.#languages = options.languages;
    this.#now = options.now ?? Date.now;
  }

  caption(event: CaptionEvent): void {
    if (this.#endedAt !== null) return;
    if (event.kind === 'partial') {
      const partial = { speakerId: event.speaker.id, name: event.speaker.name, turnId: event.turnId, text: event.text };
      this.#partials.set(partial.speakerId, partial);
      this.#emit({ type: 'partial', partial });
      return;
    }
    this.#partials.delete(event.speaker.id);
    this.#append({
      kind: 'final',
      turnId: event.turnId,
      speakerId: event.speaker.id,
      name: event.speaker.name,
      text: event.text,
      endMs: event.endMs,
      ...(event.languageCode === undefined ? {} : { language: event.languageCode }),
    });
  }

  notice(notice: Notice): void {
    // Markdown notices are built for Discord (channel mentions, command names in code spans): the page shows
    // only the plain-words ones, rendered as text.
    if (this.#endedAt !== null || notice.markdown === true) return;
    this.#append({ kind: 'notice', level: notice.level, text: notice.text });
  }

  /** A caption's translations, as the translation sink produced them for the Discord threads. */
  translated(result: TranslatedCaption): void {
    if (this.#endedAt !== null) return;
    for (const [language, text] of Object.entries(result.translations)) this.#append({ kind: 'translation', turnId: result.event.turnId, language, text });
    for (const language of result.failed) this.#append({ kind: 'translation', turnId: result.event.turnId, language, text: result.event.text, failed: true });
  }

  /** A speaker left: their partial is no longer shown. */
  clearSpeaker(speakerId: string): void {
    if (this.#partials.delete(speakerId)) this.#emit({ type: 'clear', speakerId });
  }

  /** The meeting ended: listeners are told, and the feed takes nothing more. Idempotent. */
  end(): void {
    if (this.#endedAt !== null) return;
    for (const speakerId of [...this.#partials.keys()]) this.clearSpeaker(speakerId);
    this.#append({ kind: 'end' });
    this.#endedAt = this.#now();
  }

  /** Wall-clock ms when the meeting ended, or null while it runs. */
  get endedAt(): number | null {
    return this.#endedAt;
  }

  /** Translation languages offered on the page. */
  get languages(): readonly string[] {
    return this.#languages();
  }

  /** Kept entries after `afterSeq` (0 for all), oldest first. */
  entriesAfter(afterSeq: number): FeedEntry[] {
    const first = this.#entries[0]?.seq ?? this.#seq + 1;
    return this.#entries.slice(Math.max(0, afterSeq + 1 - first));
  }

  /** Each speaker's current partial. */
  partials(): FeedPartial[] {
    return [...this.#partials.values()];
  }

  /**
   * Adds a live listener; returns the function that removes it.
   *
   * @throws {FeedFullError} when {@link MAX_SUBSCRIBERS} listeners are attached.
   */
  subscribe(listener: FeedListener): () => void {
    if (this.#listeners.size >= MAX_SUBSCRIBERS) throw new FeedFullError('too many pages are open for this meeting');
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Number of live listeners. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  #append(entry: DistributiveOmit<FeedEntry, 'seq'>): void {
    const kept = { ...entry, seq: ++this.#seq } as FeedEntry;
    this.#entries.push(kept);
    if (this.#entries.length > MAX_FEED_ENTRIES) this.#entries.shift();
    this.#emit({ type: 'entry', entry: kept });
  }

  #emit(message: FeedMessage): void {
    for (const listener of this.#listeners) listener(message);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
