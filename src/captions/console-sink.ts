/**
 * Caption sink for the terminal (used by replay): one line per final caption, `[mm:ss.s] NAME: text`, on the
 * caption stream (stdout); notices on the notice stream (stderr). Partials are not printed: a pipe would keep
 * every superseded line.
 */
import type { Writable } from 'node:stream';
import type { CaptionEvent, CaptionSink, Notice } from './caption.ts';
import { formatClock } from '../transcript/formats.ts';

/** Writes final captions and notices as text lines. */
export class ConsoleSink implements CaptionSink {
  readonly #captions: Writable;
  readonly #notices: Writable;

  constructor(captions: Writable, notices: Writable) {
    this.#captions = captions;
    this.#notices = notices;
  }

  caption(event: CaptionEvent): void {
    if (event.kind !== 'final') return;
    this.#captions.write(`[${formatClock(event.startMs)}] ${event.speaker.name}: ${event.text}\n`);
  }

  notice(notice: Notice): void {
    this.#notices.write(`${notice.level}: ${notice.text}\n`);
  }
}
