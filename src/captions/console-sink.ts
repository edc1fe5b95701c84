/**
 * Caption sink for the terminal (used by replay): one line per final caption, `[mm:ss.s] NAME: text`, on the
 * caption stream (stdout); notices on the notice stream (stderr). Partials are not printed: a pipe would keep
 * every superseded line.
 */
import type { Writable } from 'node:stream';
import type { CaptionEvent, CaptionSink, Notice } from './caption.ts';
import { formatClock } from '../transcript/formats.ts';
import type { TranslatedCaption } from '../translation/translation-sink.ts';

/** Writes final captions and notices as text lines. */
export class ConsoleSink implements CaptionSink {
  readonly #captions: Writable;
  readonly #notices: Writable;

  readonly #withTranslations: boolean;

  /**
   * @param withTranslations - when true, a final caption is printed once its translations are in (see
   *   {@link printTranslated}), so each caption's `↳ xx:` lines stay directly under it.
   */
  constructor(captions: Writable, notices: Writable, withTranslations = false) {
    this.#captions = captions;
    this.#notices = notices;
    this.#withTranslations = withTranslations;
  }

  caption(event: CaptionEvent): void {
    if (event.kind !== 'final' || this.#withTranslations) return;
    this.#captions.write(captionLine(event));
  }

  /** Prints a final caption with its translations beneath it: `  ↳ es: …`. */
  printTranslated(result: TranslatedCaption): void {
    const lines = [captionLine(result.event)];
    for (const [language, text] of Object.entries(result.translations)) lines.push(`  ↳ ${language}: ${text}\n`);
    for (const language of result.failed) lines.push(`  ↳ ${language}: (translation failed)\n`);
    this.#captions.write(lines.join(''));
  }

  notice(notice: Notice): void {
    this.#notices.write(`${notice.level}: ${notice.text}\n`);
  }
}

function captionLine(event: CaptionEvent): string {
  return `[${formatClock(event.startMs)}] ${event.speaker.name}: ${event.text}\n`;
}
