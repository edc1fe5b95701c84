/**
 * The caption feeds of this process, by guild and meeting, and whether a link may open one now. A feed is kept
 * while its meeting runs and for {@link LINK_TTL_AFTER_END_MS} after it ends (what its links allow), then
 * dropped. At most one running meeting per guild, so at most (guilds + meetings ended in the last 2 h) feeds.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { CaptionFeed } from './caption-feed.ts';
import { LINK_TTL_AFTER_END_MS, type LinkClaim } from './links.ts';

/** Why a link does not open a feed. */
export type LinkRefusal = 'forged' | 'expired' | 'other-guild';

/** The process's caption feeds. */
export class CaptionFeeds {
  readonly #feeds = new Map<string, CaptionFeed>();
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #timers = new Set<TimerHandle>();

  /** @param now - wall-clock ms (link expiry is wall-clock); defaults to `Date.now` */
  constructor(clock: Clock, now: () => number = Date.now) {
    this.#clock = clock;
    this.#now = now;
  }

  /** A feed for a meeting about to start; it is found by links once {@link bind} gives it the meeting's id. */
  create(guildId: string, languages: () => readonly string[]): CaptionFeed {
    return new CaptionFeed({ guildId, languages, now: this.#now });
  }

  /** Makes the feed reachable as meeting `meetingId` of its guild. */
  bind(feed: CaptionFeed, meetingId: number): void {
    feed.meetingId = meetingId;
    this.#feeds.set(key(feed.guildId, meetingId), feed);
  }

  /** Ends the feed's meeting and drops the feed when its links expire. */
  end(feed: CaptionFeed): void {
    feed.end();
    if (feed.meetingId === null) return;
    const id = key(feed.guildId, feed.meetingId);
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#feeds.get(id) === feed) this.#feeds.delete(id);
    }, LINK_TTL_AFTER_END_MS);
    this.#timers.add(timer);
  }

  /** The running feed of a guild's meeting, if any (for issuing links). */
  get(guildId: string, meetingId: number): CaptionFeed | undefined {
    return this.#feeds.get(key(guildId, meetingId));
  }

  /**
   * The feed a link opens, or why it opens none. `guildId` is the guild named in the URL, if the URL names one;
   * a link for another guild's meeting is refused.
   */
  open(claim: LinkClaim | null, guildId?: string): CaptionFeed | LinkRefusal {
    if (claim === null) return 'forged';
    if (guildId !== undefined && guildId !== claim.guildId) return 'other-guild';
    const now = this.#now();
    if (now >= claim.expiresAt) return 'expired';
    const feed = this.#feeds.get(key(claim.guildId, claim.meetingId));
    if (feed === undefined || feed.guildId !== claim.guildId) return 'expired';
    if (feed.endedAt !== null && now >= feed.endedAt + LINK_TTL_AFTER_END_MS) return 'expired';
    return feed;
  }

  /** Stops the expiry timers (shutdown). */
  close(): void {
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
  }
}

function key(guildId: string, meetingId: number): string {
  return `${guildId}:${meetingId}`;
}
