/**
 * Captions in a Discord text channel.
 *
 * - One live message per meeting, edited in place, shows the in-progress partial transcript of each current
 *   speaker. Edits are throttled to one per `liveEditIntervalMs` (sends and edits share per-channel rate limits,
 *   Discord docs "Rate Limits"); between edits only the newest text is kept, so the message never falls behind.
 * - Final captions are posted as messages. While one post is in flight, further finals accumulate and go out
 *   together in the next message, so a burst becomes one message instead of a queue behind the rate limit.
 * - Every message fits Discord's 2,000-character content limit and carries `allowedMentions: { parse: [] }`:
 *   transcript text is user content and must never ping anyone.
 */
import { escapeDiscordText } from '../text/discord-markdown.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionEvent, CaptionSink, Notice } from './caption.ts';

/** Discord's limit on a message's content, characters. */
export const MESSAGE_CONTENT_LIMIT = 2_000;

/** What every Parley message sets: no mention in it pings anyone. */
export const NO_MENTIONS = { parse: [] as never[] };

/** A message body Parley posts. */
export interface OutgoingMessage {
  content: string;
  allowedMentions: typeof NO_MENTIONS;
}

/** Where captions go: a text channel or thread. Implemented over discord.js in the bot, over REST in tests. */
export interface CaptionChannel {
  /** Posts a message; resolves with its id. */
  send(message: OutgoingMessage): Promise<{ id: string }>;
  /** Replaces the content of a message Parley posted. */
  edit(messageId: string, message: OutgoingMessage): Promise<void>;
}

/** Options for {@link DiscordSink}. */
export interface DiscordSinkOptions {
  channel: CaptionChannel;
  clock: Clock;
  logger: Logger;
  /** Least time between two edits of the live message, ms. Default 1,500. */
  liveEditIntervalMs?: number;
}

type Post = { kind: 'final'; line: string } | { kind: 'notice'; text: string };

const NOTICE_ICON: Record<Notice['level'], string> = { info: 'ℹ️', warning: '⚠️', error: '🛑' };
const IDLE_LIVE_TEXT = '🎙️ *Listening…*';

/** Posts captions to one Discord channel. */
export class DiscordSink implements CaptionSink {
  readonly #o: Required<DiscordSinkOptions>;
  readonly #partials = new Map<string, { name: string; text: string }>();
  #liveMessageId: string | null = null;
  #liveInFlight = false;
  #liveDirty = false;
  #liveTimer: TimerHandle | null = null;
  #lastLiveEditAt = -Infinity;
  /** Content of the last successful write of the live message: an edit that changes nothing is not sent. */
  #liveContent: string | null = null;
  #posts: Post[] = [];
  #postInFlight = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  /** Messages posted and edits made, for tests and metrics. */
  readonly counts = { posts: 0, edits: 0, failures: 0 };

  constructor(options: DiscordSinkOptions) {
    this.#o = { liveEditIntervalMs: 1_500, ...options };
  }

  caption(event: CaptionEvent): void {
    if (this.#closed) return;
    if (event.kind === 'partial') {
      this.#partials.set(event.speaker.id, { name: event.speaker.name, text: event.text });
    } else {
      this.#partials.delete(event.speaker.id);
      this.postLine(`**${escapeDiscordText(event.speaker.name)}:** ${escapeDiscordText(event.text)}`);
    }
    this.#liveDirty = true;
    this.#scheduleLive();
  }

  /**
   * Posts one caption line (already formatted and escaped), batched with other finals; a line over the content
   * limit is split across messages.
   */
  postLine(line: string): void {
    if (this.#closed) return;
    for (const part of splitForDiscord(line)) this.#posts.push({ kind: 'final', line: part });
    void this.#pumpPosts();
  }

  notice(notice: Notice): void {
    if (this.#closed) return;
    for (const part of splitForDiscord(`${NOTICE_ICON[notice.level]} ${notice.markdown === true ? notice.text : escapeDiscordText(notice.text)}`)) this.#posts.push({ kind: 'notice', text: part });
    void this.#pumpPosts();
  }

  /** Removes a speaker's partial from the live message (they left). */
  clearSpeaker(speakerId: string): void {
    if (this.#partials.delete(speakerId)) {
      this.#liveDirty = true;
      this.#scheduleLive();
    }
  }

  /** Resolves when every queued post and live edit has been sent (or failed). */
  flushed(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Sends what is queued, marks the live message as ended, and stops taking captions. The last edit keeps to the
   * edit interval too: the meeting's closing messages follow it under the same per-channel rate limit.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#liveTimer !== null) this.#o.clock.clearTimeout(this.#liveTimer);
    this.#liveTimer = null;
    this.#partials.clear();
    await this.flushed();
    if (this.#liveMessageId === null) return;
    const wait = this.#lastLiveEditAt + this.#o.liveEditIntervalMs - this.#o.clock.now();
    if (wait > 0) await new Promise<void>((resolve) => this.#o.clock.setTimeout(resolve, wait));
    await this.#editLive('⏹️ *Captioning has ended.*');
  }

  #isIdle(): boolean {
    return !this.#postInFlight && this.#posts.length === 0 && !this.#liveInFlight && !(this.#liveDirty && !this.#closed);
  }

  #settle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #scheduleLive(): void {
    if (this.#liveTimer !== null || this.#liveInFlight || this.#closed) return;
    const wait = Math.max(0, this.#lastLiveEditAt + this.#o.liveEditIntervalMs - this.#o.clock.now());
    this.#liveTimer = this.#o.clock.setTimeout(() => {
      this.#liveTimer = null;
      // Timers may fire up to a millisecond before the monotonic clock says they are due; never edit early.
      if (this.#o.clock.now() < this.#lastLiveEditAt + this.#o.liveEditIntervalMs) {
        this.#scheduleLive();
        return;
      }
      const content = this.#renderLive();
      if (!this.#liveDirty || content === this.#liveContent) {
        // Nothing visible changed (e.g. a partial repeated its text): keep the rate limit for real changes.
        this.#liveDirty = false;
        this.#settle();
        return;
      }
      void this.#editLive(content);
    }, wait);
  }

  #renderLive(): string {
    if (this.#partials.size === 0) return IDLE_LIVE_TEXT;
    const header = '🔴 **Live**';
    const budget = Math.floor((MESSAGE_CONTENT_LIMIT - header.length - 1) / this.#partials.size);
    const lines = [...this.#partials.values()].map(({ name, text }) => {
      const prefix = `**${escapeDiscordText(name)}:** `;
      const room = Math.max(0, budget - prefix.length - 2);
      const escaped = escapeDiscordText(text);
      // Keep the newest words: that is what a reader is waiting for.
      return prefix + (escaped.length > room ? `…${escaped.slice(escaped.length - room + 1)}` : escaped);
    });
    return [header, ...lines].join('\n');
  }

  async #editLive(content: string): Promise<void> {
    this.#liveInFlight = true;
    this.#liveDirty = false;
    this.#lastLiveEditAt = this.#o.clock.now();
    const message: OutgoingMessage = { content, allowedMentions: NO_MENTIONS };
    try {
      if (this.#liveMessageId === null) {
        this.#liveMessageId = (await this.#o.channel.send(message)).id;
        this.counts.posts++;
      } else {
        await this.#o.channel.edit(this.#liveMessageId, message);
        this.counts.edits++;
      }
      this.#liveContent = content;
    } catch (error) {
      this.counts.failures++;
      this.#o.logger.warn({ err: (error as Error).message }, 'could not update the live caption message');
    } finally {
      this.#liveInFlight = false;
      this.#lastLiveEditAt = this.#o.clock.now();
    }
    if (this.#liveDirty) this.#scheduleLive();
    this.#settle();
  }

  async #pumpPosts(): Promise<void> {
    if (this.#postInFlight) return;
    this.#postInFlight = true;
    try {
      while (this.#posts.length > 0) {
        const content = this.#takeBatch();
        try {
          await this.#o.channel.send({ content, allowedMentions: NO_MENTIONS });
          this.counts.posts++;
        } catch (error) {
          this.counts.failures++;
          this.#o.logger.warn({ err: (error as Error).message }, 'could not post captions');
        }
      }
    } finally {
      this.#postInFlight = false;
    }
    this.#settle();
  }

  /** Takes the next message's worth of posts: a notice alone, or as many finals as fit in one message. */
  #takeBatch(): string {
    const first = this.#posts.shift();
    if (first === undefined) return '';
    if (first.kind === 'notice') return first.text;
    let content = first.line;
    while (this.#posts[0]?.kind === 'final') {
      const next = this.#posts[0];
      if (content.length + 1 + next.line.length > MESSAGE_CONTENT_LIMIT) break;
      content += `\n${next.line}`;
      this.#posts.shift();
    }
    return content;
  }
}

/**
 * Splits text into pieces of at most {@link MESSAGE_CONTENT_LIMIT} characters, at whitespace where possible, so a
 * long caption is posted whole across several messages rather than cut.
 */
export function splitForDiscord(text: string, limit = MESSAGE_CONTENT_LIMIT): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    const space = rest.lastIndexOf(' ', limit);
    const cut = space > limit / 2 ? space : limit;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}
