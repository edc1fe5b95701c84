/**
 * Sends each final caption to the translator (every target language in one request, coalesced under backlog by
 * {@link Translator}) and reports the outcome. The original caption is never held back: sinks post it at once,
 * and its translations follow, or are marked as failed.
 */
import type { CaptionEvent, CaptionSink, Notice } from '../captions/caption.ts';
import type { Logger } from '../log.ts';
import type { Translator } from './translator.ts';

/** The outcome of translating one final caption. */
export interface TranslatedCaption {
  event: CaptionEvent;
  /** Language code → translated text. */
  translations: Record<string, string>;
  /** Languages that could not be translated. */
  failed: string[];
}

/** Options for {@link TranslationSink}. */
export interface TranslationSinkOptions {
  translator: Translator;
  /** The target languages now (a guild can change them mid-meeting). */
  languages: () => readonly string[];
  logger: Logger;
  /** Receives every outcome, in caption order. */
  onTranslated: (result: TranslatedCaption) => void;
  /** Receives plain-words notices: translation stopped working, or works again. */
  onNotice: (notice: Notice) => void;
}

/** A caption sink that translates final captions. */
export class TranslationSink implements CaptionSink {
  readonly #o: TranslationSinkOptions;
  #pending = new Set<Promise<void>>();
  #down = false;

  constructor(options: TranslationSinkOptions) {
    this.#o = options;
  }

  caption(event: CaptionEvent): void {
    if (event.kind !== 'final') return;
    const languages = [...this.#o.languages()];
    if (languages.length === 0) return;
    const work = this.#o.translator
      .translate({ turnId: event.turnId, speakerName: event.speaker.name, text: event.text }, languages)
      .then(
        (translations) => {
          const failed = languages.filter((language) => translations[language] === undefined);
          if (this.#down && failed.length === 0) {
            this.#down = false;
            this.#o.onNotice({ level: 'info', text: 'Translations are working again.' });
          }
          this.#o.onTranslated({ event, translations, failed });
        },
        (error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          this.#o.logger.warn({ turnId: event.turnId, reason }, 'translation failed');
          if (!this.#down) {
            this.#down = true;
            this.#o.onNotice({
              level: 'warning',
              text: `Translations are unavailable right now (${reason}). Captions continue in the original language; failed translations are marked.`,
            });
          }
          this.#o.onTranslated({ event, translations: {}, failed: languages });
        },
      )
      .finally(() => this.#pending.delete(work));
    this.#pending.add(work);
  }

  notice(): void {}

  /** Resolves when every translation started so far has finished (or failed). */
  async flushed(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
