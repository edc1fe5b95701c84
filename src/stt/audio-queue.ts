/**
 * A speaker's audio waiting for an STT session: PCM frames in order, with `ForceEndpoint` markers between them so
 * an end of turn is sent after the audio it follows. Bounded: past `maxFrames`, the oldest frames are dropped.
 */
import type { PcmFrame } from '../audio/format.ts';

/** What waits to be sent. */
export type QueueItem = { kind: 'audio'; frame: PcmFrame } | { kind: 'forceEndpoint' };

/** A bounded FIFO of frames and markers. */
export class AudioQueue {
  readonly #maxFrames: number;
  #items: QueueItem[] = [];
  #frames = 0;

  /** @param maxFrames - most audio frames held; older ones are dropped first. */
  constructor(maxFrames: number) {
    this.#maxFrames = maxFrames;
  }

  /** Audio frames held. */
  get frames(): number {
    return this.#frames;
  }

  /** The next item, without taking it. */
  peek(): QueueItem | undefined {
    return this.#items[0];
  }

  /** Takes the next item. */
  shift(): QueueItem | undefined {
    const item = this.#items.shift();
    if (item?.kind === 'audio') this.#frames--;
    return item;
  }

  /**
   * Adds an item at the back (or the front, for audio to resend).
   *
   * @returns how many of the oldest frames were dropped to stay within the bound.
   */
  push(item: QueueItem, front = false): number {
    if (front) this.#items.unshift(item);
    else this.#items.push(item);
    if (item.kind !== 'audio') return 0;
    this.#frames++;
    let dropped = 0;
    while (this.#frames > this.#maxFrames) {
      const index = this.#items.findIndex((entry) => entry.kind === 'audio');
      if (index < 0) break;
      this.#items.splice(index, 1);
      this.#frames--;
      dropped++;
    }
    return dropped;
  }

  /** True if any queued frame carries speech (not just filled silence). */
  hasSpeech(): boolean {
    return this.#items.some((item) => item.kind === 'audio' && item.frame.speech);
  }

  /** Empties the queue; returns how many audio frames it held. */
  clear(): number {
    const frames = this.#frames;
    this.#items = [];
    this.#frames = 0;
    return frames;
  }
}
