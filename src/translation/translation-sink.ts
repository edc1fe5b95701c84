/**
 * Sends each final caption to the translator (every target language in one request, coalesced under backlog by
 * {@link Translator}) and reports the outcome. The original caption is never held back: sinks post it at once,
 * and its translations follow, or are marked as failed. A caption is not translated into the language it was
 * spoken in (as AssemblyAI detected it): that language gets the original.
 */
import type { CaptionEvent, CaptionSink, Notice } from '../captions/caption.ts';
import type { Logger } from '../log.ts';
import { LlmError } from '../llm/errors.ts';
import { isSameLanguage } from './languages.ts';
import type { TurnTranslator } from './translator.ts';

/** The outcome of translating one final caption. */
export interface TranslatedCaption {
  event: CaptionEvent;
  /** Language code → translated text. */
  translations: Record<string, string>;
  /** Languages that could not be translated. */
  failed: string[];
  /** Target languages the caption was spoken in (`event.languageCode`): not translated, the original stands. */
  alreadyIn?: string[];
}

/** Options for {@link TranslationSink}. */
export interface TranslationSinkOptions {
  /** The meeting's own queue ({@link Translator.forMeeting}), or a Translator for a single-meeting process. */
  translator: TurnTranslator;
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
    const wanted = [...this.#o.languages()];
    if (wanted.length === 0) return;
    const alreadyIn = wanted.filter((language) => isSameLanguage(event.languageCode, language));
    const languages = wanted.filter((language) => !alreadyIn.includes(language));
    const same = alreadyIn.length === 0 ? {} : { alreadyIn };
    if (languages.length === 0) {
      this.#o.onTranslated({ event, translations: {}, failed: [], ...same });
      return;
    }
    const turn = { turnId: event.turnId, speakerName: event.speaker.name, text: event.text, ...(event.languageCode !== undefined && { languageCode: event.languageCode }) };
    const work = this.#o.translator
      .translate(turn, languages)
      .then(
        (translations) => {
          const failed = languages.filter((language) => translations[language] === undefined);
          if (this.#down && failed.length === 0) {
            this.#down = false;
            this.#o.onNotice({ level: 'info', text: 'Translations are working again.' });
          }
          this.#o.onTranslated({ event, translations, failed, ...same });
        },
        (error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          this.#o.logger.warn({ turnId: event.turnId, reason }, 'translation failed');
          if (!this.#down) {
            this.#down = true;
            const behind = error instanceof LlmError && error.kind === 'skipped';
            this.#o.onNotice({
              level: 'warning',
              text: behind
                ? 'Translations are falling behind, so some captions are not being translated. Captions continue in the original language; untranslated ones are marked.'
                : `Translations are unavailable right now (${reason}). Captions continue in the original language; failed translations are marked.`,
            });
          }
          this.#o.onTranslated({ event, translations: {}, failed: languages, ...same });
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
