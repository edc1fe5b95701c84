/**
 * Captions in a Discord text channel, kept where readers look: the live text is always in the channel's newest
 * message.
 *
 * - One rolling message holds the latest final captions and, under them, each current speaker's partial
 *   transcript (`🔴 **Name:** newest words`, at most {@link PARTIAL_MAX_CHARS} characters: about two caption lines,
 *   as DCMP/Netflix advise). A final is appended and its speaker's partial removed in the same write, so no partial
 *   outlives its final.
 * - When the next final would not fit in Discord's 2,000-character content limit, or Parley must post something
 *   else (a notice) under it, the rolling message is frozen with its finals only (partials removed) and the next
 *   write starts a new one. A rolling message holding no final yet is turned into the notice instead.
 * - Every write (create or edit) waits at least `liveEditIntervalMs` after the previous one ended, except the one
 *   right after a freeze: sends and edits share per-channel rate limits (NOTES "Message limits"), so this sink
 *   makes at most two requests in any 1.5 s and about 0.7 per second over time. Between writes only the newest
 *   state is kept, so the message never falls behind.
 * - A final is moved from the pending queue only once a write holding it succeeded: a failed write loses nothing
 *   and a retried one posts nothing twice. If the rolling message was deleted (404, Unknown Message) a new one is
 *   created with what was still to show; the finals that were in the deleted message are not posted again.
 * - Every message carries `allowedMentions: { parse: [] }`; untrusted text goes through `escapeDiscordText`.
 */
import { escapeDiscordText } from '../text/discord-markdown.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionEvent, CaptionSink, Notice } from './caption.ts';

/** Discord's limit on a message's content, characters. */
export const MESSAGE_CONTENT_LIMIT = 2_000;

/** Longest partial shown per speaker, characters of spoken text: two 42-character caption lines (DCMP, Netflix). */
export const PARTIAL_MAX_CHARS = 84;

/** Most final lines waiting for Discord; past it the oldest is dropped and counted (Discord down for a long time). */
export const MAX_PENDING_LINES = 500;

/** Most notice messages waiting for Discord; past it the oldest is dropped and counted (each notice is told once, so few wait). */
export const MAX_PENDING_NOTICES = 50;

/** Longest wait between retries while Discord keeps failing, ms. */
export const MAX_RETRY_DELAY_MS = 30_000;

/** Failed writes in a row after which a closed sink gives up what it still holds (shutdown must end). */
export const CLOSE_ATTEMPTS = 3;

/** Discord's JSON error code for "Unknown Message" (discord-api-docs, Topics: Opcodes and Status Codes). */
const UNKNOWN_MESSAGE = 10_008;

/** Prefix of a partial (in-progress) line in the rolling message. */
export const PARTIAL_MARK = '🔴';
/** The rolling message's text while nobody speaks and it holds no final. */
export const IDLE_LIVE_TEXT = '🎙️ *Listening…*';
/** What that idle message becomes when captioning ends. */
export const ENDED_LIVE_TEXT = '⏹️ *Captioning has ended.*';

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
  /**
   * Replaces the content of a message Parley posted.
   *
   * @throws an error whose `code` is 10008 (discord.js `DiscordAPIError`) when the message no longer exists.
   */
  edit(messageId: string, message: OutgoingMessage): Promise<void>;
}

/** Options for {@link DiscordSink}. */
export interface DiscordSinkOptions {
  channel: CaptionChannel;
  clock: Clock;
  logger: Logger;
  /** Least time between the end of one write and the start of the next, ms. Default 1,500. */
  liveEditIntervalMs?: number;
}

const NOTICE_ICON: Record<Notice['level'], string> = { info: 'ℹ️', warning: '⚠️', error: '🛑' };

/** The message being kept up to date, and what it shows. */
interface Rolling {
  id: string | null;
  /** Final lines the message holds (written successfully). */
  finals: string[];
  /** Its content as last written, or null before it exists. */
  shown: string | null;
}

/** The next write: its content, how many pending finals it holds beyond the committed ones, and what follows. */
interface Step {
  content: string;
  take: number;
  /** After it succeeds the message is left as it is and the next write starts a new one. */
  freeze: boolean;
  /** The write is the first queued notice (it replaces the rolling message, or is posted). */
  notice: boolean;
}

const freshRolling = (): Rolling => ({ id: null, finals: [], shown: null });

/** Posts captions to one Discord channel. */
export class DiscordSink implements CaptionSink {
  readonly #o: Required<DiscordSinkOptions>;
  /** Each current speaker's partial, in the order they started speaking. */
  readonly #partials = new Map<string, { name: string; text: string }>();
  /** Final lines not yet in any message, oldest first; at most {@link MAX_PENDING_LINES}. */
  readonly #pending: string[] = [];
  /** Notice messages waiting to be posted, each within the content limit; at most {@link MAX_PENDING_NOTICES}. */
  readonly #notices: string[] = [];
  #rolling: Rolling = freshRolling();
  /** The write under way, if any: the queue heads it took stay until it settles. */
  #inFlight: Step | null = null;
  #timer: TimerHandle | null = null;
  /** Earliest time the next write may start (clock ms). */
  #nextWriteAt = -Infinity;
  #failuresInARow = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  /** Messages created, edits made, failed writes, and final lines and notices dropped from full queues, for tests and metrics. */
  readonly counts = { posts: 0, edits: 0, failures: 0, dropped: 0 };

  constructor(options: DiscordSinkOptions) {
    this.#o = { liveEditIntervalMs: 1_500, ...options };
  }

  caption(event: CaptionEvent): void {
    if (this.#closed) return;
    if (event.kind === 'partial') {
      this.#partials.set(event.speaker.id, { name: event.speaker.name, text: event.text });
      this.#schedule();
    } else {
      this.#partials.delete(event.speaker.id);
      this.postLine(`**${escapeDiscordText(event.speaker.name)}:** ${escapeDiscordText(event.text)}`);
    }
  }

  /**
   * Appends one final line (already formatted and escaped) to the rolling message; a line over the content limit
   * is split across messages.
   */
  postLine(line: string): void {
    if (this.#closed) return;
    this.#pending.push(...splitForDiscord(line));
    this.#dropOldest(this.#pending, MAX_PENDING_LINES, this.#inFlight?.take ?? 0, 'caption line');
    this.#schedule();
  }

  notice(notice: Notice): void {
    if (this.#closed) return;
    const text = `${NOTICE_ICON[notice.level]} ${notice.markdown === true ? notice.text : escapeDiscordText(notice.text)}`;
    this.#notices.push(...splitForDiscord(text));
    this.#dropOldest(this.#notices, MAX_PENDING_NOTICES, this.#inFlight?.notice === true ? 1 : 0, 'notice');
    this.#schedule();
  }

  /**
   * Keeps `queue` to `max` entries, dropping (and counting) the oldest after its first `inFlight` (taken by the
   * write under way, removed when it succeeds), with one warning per call.
   */
  #dropOldest(queue: string[], max: number, inFlight: number, what: string): void {
    const excess = Math.min(queue.length - max, queue.length - inFlight);
    if (excess <= 0) return;
    queue.splice(inFlight, excess);
    this.counts.dropped += excess;
    this.#o.logger.warn({ dropped: excess }, `dropped the oldest ${what} waiting for Discord`);
  }

  /** Removes a speaker's partial from the live message (they left). */
  clearSpeaker(speakerId: string): void {
    if (this.#partials.delete(speakerId)) this.#schedule();
  }

  /** Resolves when every queued final and notice has been written (or the sink gave up) and the message is current. */
  flushed(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Writes what is queued, freezes the rolling message without partials, and stops taking captions. The last
   * writes keep to the edit interval too: the meeting's closing messages follow under the same rate limit.
   * Failed writes are retried with backoff (at most {@link MAX_RETRY_DELAY_MS} apart); after {@link CLOSE_ATTEMPTS}
   * failures in a row what is left is dropped and counted, so closing ends within about 1.5 + 3 + 6 s of retries.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#partials.clear();
    this.#schedule();
    await this.flushed();
  }

  #isIdle(): boolean {
    return this.#inFlight === null && this.#timer === null && this.#next() === null;
  }

  #settle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #schedule(): void {
    if (this.#timer !== null || this.#inFlight !== null) return;
    if (this.#next() === null) {
      this.#settle();
      return;
    }
    const wait = Math.max(0, this.#nextWriteAt - this.#o.clock.now());
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      // Timers may fire up to a millisecond before the monotonic clock says they are due; never write early.
      if (this.#o.clock.now() < this.#nextWriteAt) {
        this.#schedule();
        return;
      }
      const step = this.#next();
      if (step === null) this.#settle();
      else void this.#write(step);
    }, wait);
  }

  /** The pending finals that fit in the rolling message after its committed ones. */
  #fitting(): { lines: string[]; take: number } {
    const lines = [...this.#rolling.finals];
    let length = lines.join('\n').length;
    let take = 0;
    for (const line of this.#pending) {
      const added = (lines.length > 0 ? 1 : 0) + line.length;
      if (length + added > MESSAGE_CONTENT_LIMIT) break;
      lines.push(line);
      length += added;
      take++;
    }
    return { lines, take };
  }

  /** What to write next, or null when the channel already shows everything. */
  #next(): Step | null {
    const { lines, take } = this.#fitting();
    const finals = lines.join('\n');
    const rolling = this.#rolling;
    if (this.#closed || this.#notices.length > 0) {
      // Freezing: whatever is under the rolling message must come after every final that arrived before it.
      if (rolling.id !== null) {
        if (lines.length > 0) return finals === rolling.shown && take === 0 ? this.#freezeLocally() : { content: finals, take, freeze: true, notice: false };
        const notice = this.#notices[0];
        if (notice !== undefined) return { content: notice, take: 0, freeze: true, notice: true };
        return rolling.shown === ENDED_LIVE_TEXT ? null : { content: ENDED_LIVE_TEXT, take: 0, freeze: true, notice: false };
      }
      if (take > 0) return { content: finals, take, freeze: true, notice: false };
      const notice = this.#notices[0];
      return notice === undefined ? null : { content: notice, take: 0, freeze: true, notice: true };
    }
    if (take < this.#pending.length) return { content: finals, take, freeze: true, notice: false };
    const partials = this.#renderPartials();
    let content = [finals, partials].filter((part) => part.length > 0).join('\n');
    if (content.length > MESSAGE_CONTENT_LIMIT) return { content: finals, take, freeze: true, notice: false };
    if (content.length === 0) {
      if (rolling.id === null) return null;
      content = IDLE_LIVE_TEXT;
    }
    if (content === rolling.shown && take === 0) return null;
    return { content, take, freeze: false, notice: false };
  }

  /** Captioning has ended and Discord keeps failing: count what is left as dropped and stop. */
  #giveUp(): void {
    this.counts.dropped += this.#pending.length;
    this.#pending.length = 0;
    this.#notices.length = 0;
    this.#rolling = { ...freshRolling(), shown: ENDED_LIVE_TEXT };
  }

  /** The rolling message already shows its finals and nothing else: leave it as it is without a request. */
  #freezeLocally(): Step | null {
    this.#rolling = freshRolling();
    return this.#next();
  }

  /** One line per current speaker, newest words first cut to fit; speakers who don't fit wait for room. */
  #renderPartials(): string {
    const lines: string[] = [];
    let length = 0;
    for (const { name, text } of this.#partials.values()) {
      const line = `${PARTIAL_MARK} **${escapeDiscordText(name)}:** ${escapeDiscordText(newestWords(text, PARTIAL_MAX_CHARS))}`;
      if (length + line.length + 1 > MESSAGE_CONTENT_LIMIT) break;
      lines.push(line);
      length += line.length + 1;
    }
    return lines.join('\n');
  }

  async #write(step: Step): Promise<void> {
    this.#inFlight = step;
    const rolling = this.#rolling;
    const message: OutgoingMessage = { content: step.content, allowedMentions: NO_MENTIONS };
    let wait = this.#o.liveEditIntervalMs;
    try {
      if (rolling.id === null) {
        rolling.id = (await this.#o.channel.send(message)).id;
        this.counts.posts++;
      } else {
        await this.#o.channel.edit(rolling.id, message);
        this.counts.edits++;
      }
      this.#failuresInARow = 0;
      rolling.finals = step.notice ? [] : [...rolling.finals, ...this.#pending.splice(0, step.take)];
      rolling.shown = step.content;
      if (step.notice) this.#notices.shift();
      if (step.freeze) {
        this.#rolling = freshRolling();
        // The message continuing a frozen one goes out at once, so the live text is not missing for an interval.
        if (!step.notice) wait = 0;
      }
    } catch (error) {
      this.counts.failures++;
      if ((error as { code?: unknown }).code === UNKNOWN_MESSAGE && rolling.id !== null) {
        // Someone deleted the rolling message: start a new one with what is still to show.
        this.#o.logger.info('the live caption message was deleted; posting a new one');
        this.#rolling = freshRolling();
        wait = 0;
      } else {
        this.#failuresInARow++;
        wait = Math.min(MAX_RETRY_DELAY_MS, this.#o.liveEditIntervalMs * 2 ** this.#failuresInARow) * (0.8 + 0.2 * Math.random());
        this.#o.logger.warn({ err: (error as Error).message, retryInMs: Math.round(wait) }, 'could not update the caption channel');
        if (this.#closed && this.#failuresInARow >= CLOSE_ATTEMPTS) this.#giveUp();
      }
    } finally {
      this.#inFlight = null;
      this.#nextWriteAt = this.#o.clock.now() + wait;
    }
    this.#schedule();
  }
}

/** The end of `text` within `max` characters, cut at a word boundary and marked with `…` when cut. */
export function newestWords(text: string, max: number): string {
  if (text.length <= max) return text;
  const tail = text.slice(text.length - max + 1);
  const space = tail.indexOf(' ');
  return `…${space >= 0 && space < tail.length - 1 ? tail.slice(space + 1) : tail}`;
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
