/**
 * The running meetings, one per guild, and the voice-state events that concern them: a member leaving the
 * channel (their STT session closes), the bot being moved or kicked (the meeting ends cleanly).
 */
import type { VoiceState } from 'discord.js';
import type { Logger } from '../log.ts';
import { Meeting, type MeetingEndReason, type MeetingStartOptions } from './meeting.ts';
import type { PipelineCounters } from '../pipeline/caption-pipeline.ts';

/** Meetings by guild id. */
export class MeetingRegistry {
  readonly #meetings = new Map<string, Meeting>();
  readonly #starting = new Set<string>();
  /** Guilds whose starting meeting lost its voice channel (kick or move) before it was registered. */
  readonly #lostWhileStarting = new Set<string>();
  readonly #logger: Logger;
  /** Totals of meetings that have ended, so metrics totals never go down. */
  readonly #ended = { reconnects: 0, corruptPackets: 0, droppedFrames: 0, decoderFailures: 0, sttSessionMs: 0 };

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** The guild's running meeting, if any. */
  get(guildId: string): Meeting | undefined {
    return this.#meetings.get(guildId);
  }

  /** True while a `/join` for the guild is connecting or a meeting runs there. */
  busy(guildId: string): boolean {
    return this.#starting.has(guildId) || this.#meetings.has(guildId);
  }

  /** Number of running meetings. */
  get size(): number {
    return this.#meetings.size;
  }

  /** Every running meeting. */
  all(): Meeting[] {
    return [...this.#meetings.values()];
  }

  /**
   * Starts a meeting in a guild that has none.
   *
   * @throws {Error} if the guild already has one (callers check {@link busy} first), or what {@link Meeting.start} throws.
   */
  async start(options: Omit<MeetingStartOptions, 'onEnded'>): Promise<Meeting> {
    const guildId = options.guild.id;
    if (this.busy(guildId)) throw new Error(`guild ${guildId} already has a meeting`);
    this.#starting.add(guildId);
    try {
      const meeting = await Meeting.start({
        ...options,
        onEnded: (ended) => {
          if (this.#meetings.get(guildId) === ended) this.#meetings.delete(guildId);
          const final = ended.counters();
          this.#ended.reconnects += final.reconnects;
          this.#ended.corruptPackets += final.corruptPackets;
          this.#ended.droppedFrames += final.droppedFrames;
          this.#ended.decoderFailures += final.decoderFailures;
          this.#ended.sttSessionMs += final.sttSessionMs;
          this.#logger.info({ guildId, meetingId: ended.id }, 'meeting ended');
        },
      });
      // A meeting kicked or moved while starting ends now and is never registered, or the guild could not /join
      // again until a restart.
      if (this.#lostWhileStarting.has(guildId)) void meeting.end('kicked');
      if (!meeting.ending) this.#meetings.set(guildId, meeting);
      return meeting;
    } finally {
      this.#starting.delete(guildId);
      this.#lostWhileStarting.delete(guildId);
    }
  }

  /** Live values across meetings, and totals since start (ended meetings included), for metrics. */
  counters(): PipelineCounters {
    const counters: PipelineCounters = { speakers: 0, sttSessionsOpen: 0, ...this.#ended };
    for (const meeting of this.#meetings.values()) {
      const c = meeting.counters();
      counters.speakers += c.speakers;
      counters.sttSessionsOpen += c.sttSessionsOpen;
      counters.reconnects += c.reconnects;
      counters.corruptPackets += c.corruptPackets;
      counters.droppedFrames += c.droppedFrames;
      counters.decoderFailures += c.decoderFailures;
      counters.sttSessionMs += c.sttSessionMs;
    }
    return counters;
  }

  /** Ends every meeting (shutdown), in parallel; `signal` is the shutdown deadline (see {@link Meeting.end}). */
  async endAll(reason: MeetingEndReason, signal?: AbortSignal): Promise<void> {
    await Promise.allSettled(this.all().map((meeting) => meeting.end(reason, signal === undefined ? {} : { signal })));
  }

  /** A channel was deleted: the meeting captioning into it ends (its transcript stays in the store for /recap). */
  onChannelDelete(guildId: string, channelId: string): void {
    const meeting = this.#meetings.get(guildId);
    if (meeting !== undefined && !meeting.ending && meeting.captionChannelId === channelId) void meeting.end('channel-lost');
  }

  /** Reacts to a `voiceStateUpdate` from the gateway. */
  onVoiceStateUpdate(oldState: VoiceState, newState: VoiceState, botUserId: string): void {
    const guildId = newState.guild.id;
    // Leaving a channel while starting: only a kick (or move) does that; the join itself moves from null.
    if (newState.id === botUserId && this.#starting.has(guildId) && oldState.channelId !== null && oldState.channelId !== newState.channelId) {
      this.#lostWhileStarting.add(guildId);
    }
    const meeting = this.#meetings.get(guildId);
    if (meeting === undefined || meeting.ending) return;
    const userId = newState.id;
    if (userId === botUserId) {
      if (newState.channelId === null) void meeting.end('kicked');
      else if (newState.channelId !== meeting.voiceChannelId) void meeting.end('moved');
      return;
    }
    const left = oldState.channelId === meeting.voiceChannelId && newState.channelId !== meeting.voiceChannelId;
    if (left || newState.channelId === meeting.voiceChannelId) meeting.membersChanged();
    if (left) {
      this.#logger.debug({ guildId: meeting.guildId, userId }, 'member left the captioned channel');
      void meeting.removeMember(userId);
    }
  }
}
