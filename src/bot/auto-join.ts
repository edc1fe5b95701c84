/**
 * Auto-join: Parley starts captioning a voice channel by itself once a guild's rule (`/autojoin set`) sees
 * `minMembers` members (bots not counted) in it, through the same checks as `/join` ({@link botStartProblem}) and
 * the same {@link MeetingRegistry.start}, with the usual consent notice. Leaving is the meeting's own empty-channel
 * leave (`EMPTY_CHANNEL_LEAVE_MINUTES`), as for a meeting started with `/join`.
 *
 * When a rule triggers, per voice channel:
 * - Armed: a rule starts at most one meeting per gathering. Starting disarms it; it re-arms only when the channel
 *   has fewer than `minMembers` members and no meeting of it is running. So `/end`, a kick or a maximum-length end
 *   in a channel that is still full is respected until the group disperses, and nothing rejoins in a loop.
 * - Cool-off after a failure (missing permissions, a full channel, the day's speech-to-text budget spent, the
 *   voice connection not becoming ready): no new attempt for `min(30 min, 1 min × 2^(failures − 1))`, with equal
 *   jitter (half of it random), so a broken rule tries at most once per cool-off and the caption channel is told
 *   once per run of failures. A success resets it. Attempts are driven by voice-state changes only: no timer runs.
 * - Never while the guild has a meeting (any channel) or an auto-join starting, and under the guild cooldown of
 *   `/join` (`COOLDOWN_GUILD_S`), which a start also begins.
 *
 * State is in memory, one entry per (guild, voice channel) with a rule: bounded by the rules kept
 * (`AUTO_JOIN_MAX_RULES` per guild). Every lookup is by the guild the event came from: one guild's events never
 * touch another's rules or meetings.
 */
import { type Client, type Guild, type VoiceBasedChannel, type VoiceState } from 'discord.js';
import type { Logger } from '../log.ts';
import type { MeetingServices } from '../meeting/meeting.ts';
import type { MeetingRegistry } from '../meeting/registry.ts';
import type { AutoJoinRule, AutoJoinStore } from '../store/auto-join-store.ts';
import { VoiceJoinError } from '../voice/voice-link.ts';
import type { CommandCooldowns } from './cooldowns.ts';
import { botStartProblem } from './start-checks.ts';
import { closeInterruptedMeeting } from './interrupted-meeting.ts';

/** First cool-off after a failed start, ms. */
export const AUTO_JOIN_RETRY_BASE_MS = 60_000;
/** Longest cool-off, ms. */
export const AUTO_JOIN_RETRY_CAP_MS = 30 * 60_000;

/**
 * The cool-off after the `failures`-th failed start in a row, ms: `min(cap, base × 2^(failures − 1))` with equal
 * jitter (the upper half is random), so it lies in [delay / 2, delay] and never exceeds {@link AUTO_JOIN_RETRY_CAP_MS}.
 *
 * @param random in [0, 1).
 */
export function autoJoinCoolOffMs(failures: number, random: number): number {
  const delayMs = Math.min(AUTO_JOIN_RETRY_CAP_MS, AUTO_JOIN_RETRY_BASE_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 16));
  return Math.round(delayMs / 2 + (random * delayMs) / 2);
}

/** Options for {@link AutoJoinWatcher}. */
export interface AutoJoinWatcherOptions {
  rules: AutoJoinStore;
  meetings: MeetingRegistry;
  services: MeetingServices;
  /** The `/join` cooldowns: auto-join honours and starts the guild's. */
  cooldowns: CommandCooldowns;
  logger: Logger;
  /** Wall clock for cool-offs, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** In [0, 1), for the jitter. Default `Math.random`. */
  random?: () => number;
}

interface ChannelState {
  armed: boolean;
  failures: number;
  /** No attempt before this, epoch ms. */
  retryAtMs: number;
  /** Whether the caption channel was told of the current run of failures. */
  told: boolean;
}

/** Watches voice-state changes and starts meetings where a guild's auto-join rule says so. */
export class AutoJoinWatcher {
  readonly #o: AutoJoinWatcherOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #state = new Map<string, ChannelState>();
  /** Guilds with an auto-join start in progress (awaiting checks or the voice connection). */
  readonly #starting = new Set<string>();

  constructor(options: AutoJoinWatcherOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** A `voiceStateUpdate`: re-evaluates the rules of the channels left and joined. */
  onVoiceStateUpdate(oldState: VoiceState, newState: VoiceState): void {
    const guild = newState.guild;
    this.#guarded(guild.id, () => {
      for (const channelId of new Set([oldState.channelId, newState.channelId])) {
        if (channelId !== null) this.evaluate(guild, channelId);
      }
    });
  }

  /** Evaluates every rule of every guild (at start-up: members may be waiting already). */
  evaluateAll(client: Client<true>): void {
    for (const guild of client.guilds.cache.values()) {
      this.#guarded(guild.id, () => {
        for (const rule of this.#o.rules.list(guild.id)) this.evaluate(guild, rule.voiceChannelId);
      });
    }
  }

  /** Runs in a discord.js event handler: a database read that throws is logged, never thrown to the process. */
  #guarded(guildId: string, evaluate: () => void): void {
    try {
      evaluate();
    } catch (error) {
      this.#o.logger.error({ guildId, err: (error as Error).message }, 'could not evaluate auto-join rules');
    }
  }

  /** Forgets the state of a removed rule (all of the guild's when `voiceChannelId` is omitted). */
  forget(guildId: string, voiceChannelId?: string): void {
    for (const key of this.#state.keys()) {
      if (voiceChannelId === undefined ? key.startsWith(`${guildId}:`) : key === `${guildId}:${voiceChannelId}`) this.#state.delete(key);
    }
  }

  /** A channel was deleted: the rules that join it or post into it go. */
  onChannelDelete(guildId: string, channelId: string): void {
    try {
      if (this.#o.rules.removeChannel(guildId, channelId) > 0) {
        this.#o.logger.info({ guildId, channelId }, 'auto-join rule removed with its deleted channel');
      }
    } catch (error) {
      // Runs in a discord.js event handler: a failed write is logged and counted, never thrown to the process.
      this.#o.logger.error({ guildId, channelId, err: (error as Error).message }, 'could not remove the auto-join rule of a deleted channel');
      this.#o.services.onStoreWriteFailed?.();
    }
    this.forget(guildId, channelId);
  }

  /** Starts a meeting in the voice channel if its rule says so now. The decision is synchronous; the start is not. */
  evaluate(guild: Guild, voiceChannelId: string): void {
    const key = `${guild.id}:${voiceChannelId}`;
    const rule = this.#o.rules.get(guild.id, voiceChannelId);
    if (rule === undefined) {
      this.#state.delete(key);
      return;
    }
    const channel = guild.channels.cache.get(voiceChannelId);
    if (channel === undefined || !channel.isVoiceBased()) return;
    let state = this.#state.get(key);
    if (state === undefined) {
      state = { armed: true, failures: 0, retryAtMs: 0, told: false };
      this.#state.set(key, state);
    }
    const members = channel.members.filter((member) => !member.user.bot).size;
    const running = this.#o.meetings.get(guild.id);
    const log = (outcome: string) => this.#o.logger.debug({ guildId: guild.id, voiceChannelId, members, minMembers: rule.minMembers, outcome }, 'auto-join evaluated');
    if (members < rule.minMembers) {
      if (running === undefined || running.ending || running.voiceChannelId !== voiceChannelId) state.armed = true;
      log('too few members');
      return;
    }
    if (!state.armed) return log('already started for this gathering');
    if (this.#o.meetings.busy(guild.id) || this.#starting.has(guild.id)) return log('a meeting runs in this server');
    if (this.#now() < state.retryAtMs) return log('cooling off after a failure');
    state.armed = false;
    log('starting');
    this.#starting.add(guild.id);
    void this.#start(guild, rule, channel, state)
      .catch((error: unknown) => this.#o.logger.error({ guildId: guild.id, err: (error as Error).message }, 'auto-join start failed'))
      .finally(() => this.#starting.delete(guild.id));
  }

  async #start(guild: Guild, rule: AutoJoinRule, voiceChannel: VoiceBasedChannel, state: ChannelState): Promise<void> {
    const { services, meetings, logger } = this.#o;
    const me = guild.members.me;
    if (me === null) {
      state.armed = true;
      return;
    }
    const captionChannel = guild.channels.cache.get(rule.captionChannelId);
    if (captionChannel === undefined || !captionChannel.isSendable()) {
      await this.#failed(guild, rule, state, `Its caption channel <#${rule.captionChannelId}> is gone or cannot take messages. Set the rule again with \`/autojoin set\`.`);
      return;
    }
    if ((await this.#o.cooldowns.waiting('join', guild.id, me.id)) !== undefined) {
      // Not a failure: the next voice-state change after the cooldown tries again.
      state.armed = true;
      logger.debug({ guildId: guild.id, voiceChannelId: voiceChannel.id }, 'auto-join waits for the /join cooldown');
      return;
    }
    const problem = botStartProblem({
      me,
      voiceChannel,
      captionChannel,
      languages: services.settings.languages(guild.id),
      services,
      meetings,
      retry: 'Parley tries again when members next join the channel',
    });
    if (problem?.kind === 'busy') {
      state.armed = true;
      return;
    }
    if (problem !== undefined) {
      await this.#failed(guild, rule, state, problem.message);
      return;
    }
    // As /join: a meeting interrupted by a restart is closed, so the store keeps at most one unfinished meeting.
    let interrupted;
    try {
      interrupted = closeInterruptedMeeting(guild, services);
    } catch (error) {
      // A database that cannot be written (disk full, read-only) stops this start only, never the process.
      logger.error({ guildId: guild.id, err: (error as Error).message }, 'auto-join could not close the interrupted meeting');
      services.onStoreWriteFailed?.();
      await this.#failed(guild, rule, state, 'Parley could not write to its database; the bot\'s owner can find why in the log.');
      return;
    }
    let meeting;
    try {
      meeting = await meetings.start({ guild, voiceChannel, captionChannel, startedBy: me, services });
    } catch (error) {
      if (!(error instanceof VoiceJoinError)) logger.error({ guildId: guild.id, err: (error as Error).message }, 'auto-join start failed');
      await this.#failed(guild, rule, state, error instanceof VoiceJoinError ? error.message : 'Something went wrong while joining; the bot\'s owner can find it in the log.');
      return;
    }
    state.failures = 0;
    state.retryAtMs = 0;
    state.told = false;
    await this.#o.cooldowns.ran('join', guild.id, me.id);
    logger.info({ guildId: guild.id, voiceChannelId: voiceChannel.id, meetingId: meeting.id }, 'auto-joined a voice channel');
    if (interrupted === undefined) return;
    // As /join says it: the closed meeting is not lost.
    await captionChannel
      .send({ content: `The meeting interrupted by Parley's restart was closed; \`/recap meeting:${interrupted.id}\` posts its transcript and recap.`, allowedMentions: { parse: [] } })
      .catch((error: unknown) => logger.warn({ guildId: guild.id, err: (error as Error).message }, 'could not post the interrupted meeting note'));
  }

  /** Starts (or lengthens) the cool-off and tells the caption channel once per run of failures. */
  async #failed(guild: Guild, rule: AutoJoinRule, state: ChannelState, reason: string): Promise<void> {
    state.failures += 1;
    const coolOffMs = autoJoinCoolOffMs(state.failures, this.#random());
    state.retryAtMs = this.#now() + coolOffMs;
    state.armed = true;
    this.#o.logger.warn({ guildId: guild.id, voiceChannelId: rule.voiceChannelId, failures: state.failures, coolOffMs, reason }, 'auto-join could not start');
    if (state.told) return;
    state.told = true;
    const channel = guild.channels.cache.get(rule.captionChannelId);
    if (channel === undefined || !channel.isSendable()) return;
    try {
      await channel.send({
        content: `⚠️ Parley could not start captioning <#${rule.voiceChannelId}> by itself (\`/autojoin\`). ${reason} It tries again when members next join, waiting longer after each failure (up to ${AUTO_JOIN_RETRY_CAP_MS / 60_000} minutes); \`/autojoin clear\` turns auto-join off.`,
        allowedMentions: { parse: [] },
      });
    } catch (error) {
      this.#o.logger.warn({ guildId: guild.id, err: (error as Error).message }, 'could not post the auto-join failure notice');
    }
  }
}
