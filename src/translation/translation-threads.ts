/**
 * Per-language threads under the caption channel ("Captions · Español"): members follow the language they read.
 * Each thread is opened once per meeting and gets its own batched poster, so its messages follow the same
 * throttle as the main channel. The speaker and the original text stay visible with every translation.
 */
import { escapeDiscordText } from '../text/discord-markdown.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Notice } from '../captions/caption.ts';
import { DiscordSink, type CaptionChannel } from '../captions/discord-sink.ts';
import { languageName } from './languages.ts';
import type { TranslatedCaption } from './translation-sink.ts';

/** Opens (or finds) the thread for a language. */
export type ThreadOpener = (language: string, threadName: string) => Promise<CaptionChannel>;

/** Thread title for a language, e.g. `Captions · Español`. Discord allows 100 characters. */
export function threadName(language: string): string {
  return `Captions · ${languageName(language)}`.slice(0, 100);
}

/** Options for {@link TranslationThreads}. */
export interface TranslationThreadsOptions {
  open: ThreadOpener;
  clock: Clock;
  logger: Logger;
  /**
   * Told, once per language, that its thread could not be opened (e.g. Parley lacks Create Public Threads): the
   * language's translations are then not posted for the rest of the meeting, but they stay in the transcript.
   */
  onNotice?: (notice: Notice) => void;
}

/** Posts translations into one thread per language. */
export class TranslationThreads {
  readonly #o: TranslationThreadsOptions;
  readonly #sinks = new Map<string, Promise<DiscordSink | null>>();

  constructor(options: TranslationThreadsOptions) {
    this.#o = options;
  }

  /**
   * Posts one caption's translations (or failure marks) to their threads; under each translation, the original,
   * named by its language when AssemblyAI detected it (`-# Español: …`). A thread in the language the caption was
   * spoken in gets the original itself, marked `-# Español (original)`.
   */
  post(result: TranslatedCaption): void {
    const speaker = `**${escapeDiscordText(result.event.speaker.name)}:**`;
    const original = escapeDiscordText(result.event.text);
    const source = result.event.languageCode;
    const from = source === undefined ? '' : `${escapeDiscordText(languageName(source))}: `;
    for (const [language, text] of Object.entries(result.translations)) {
      void this.#line(language, `${speaker} ${escapeDiscordText(text)}\n-# ${from}${original}`);
    }
    for (const language of result.alreadyIn ?? []) {
      void this.#line(language, `${speaker} ${original}\n-# ${escapeDiscordText(languageName(language))} (original)`);
    }
    for (const language of result.failed) {
      void this.#line(language, `${speaker} ${original}\n-# ⚠️ Translation failed; this is the original.`);
    }
  }

  /** Sends everything queued in every thread. */
  async close(): Promise<void> {
    const sinks = await Promise.all(this.#sinks.values());
    await Promise.all(sinks.map((sink) => sink?.close()));
  }

  async #line(language: string, line: string): Promise<void> {
    const sink = await this.#sink(language);
    sink?.postLine(line);
  }

  #sink(language: string): Promise<DiscordSink | null> {
    let sink = this.#sinks.get(language);
    if (sink === undefined) {
      sink = this.#o.open(language, threadName(language)).then(
        (channel) => new DiscordSink({ channel, clock: this.#o.clock, logger: this.#o.logger }),
        (error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          this.#o.logger.warn({ language, err: reason }, 'could not open the translation thread');
          // Not retried for each caption: every refused request counts towards Discord's invalid-request limit.
          this.#o.onNotice?.({
            level: 'warning',
            markdown: true,
            text: `Parley could not open the thread "${threadName(language)}" (${escapeDiscordText(reason)}), so translations into ${languageName(language)} are not posted during this meeting; they are kept and come with the transcript when captioning ends. Parley needs **Create Public Threads** and **Send Messages in Threads** here.`,
          });
          return null;
        },
      );
      this.#sinks.set(language, sink);
    }
    return sink;
  }
}
