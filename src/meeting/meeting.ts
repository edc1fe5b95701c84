/**
 * One guild's captioned meeting: the voice link, the caption pipeline, the Discord sink and the stored transcript,
 * from `/join` to `/end` (or a kick, a move, or shutdown).
 */
import { CaptioningIndicator } from './captioning-indicator.ts';
import type { RecapSettingsStore } from '../store/recap-settings.ts';
import { escapeDiscordText } from '../text/discord-markdown.ts';
import { ThreadAutoArchiveDuration, type Guild, type GuildMember, type SendableChannels, type VoiceBasedChannel } from 'discord.js';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Speaker } from '../captions/caption.ts';
import { DiscordSink, type CaptionChannel } from '../captions/discord-sink.ts';
import { CaptionPipeline, type PipelineCounters, type SpeakerStatus } from '../pipeline/caption-pipeline.ts';
import type { ParleyMetrics } from '../ops/metrics.ts';
import type { SttProvider } from '../stt/provider.ts';
import type { SttConfig } from '../config.ts';
import type { GuildSettingsStore } from '../store/guild-settings.ts';
import type { MeetingStore } from '../store/meeting-store.ts';
import { TranslationSink } from '../translation/translation-sink.ts';
import { TranslationThreads } from '../translation/translation-threads.ts';
import type { Translator } from '../translation/translator.ts';
import { InStreamTranslator } from '../translation/in-stream-translator.ts';
import { inStreamGatewayConfig } from '../translation/in-stream-prompt.ts';
import { buildMeetingReport, postMeetingReport, type RecapSettings } from './meeting-report.ts';
import type { Transcript } from '../transcript/transcript.ts';
import { VoiceLink } from '../voice/voice-link.ts';
import { untilAborted } from './deadline.ts';
import { MeetingLimits, type MeetingLimitSettings } from './meeting-limits.ts';
import type { SttBudget } from './stt-budget.ts';
import { budgetedRecap, budgetedTranslator, type LlmBudget } from './llm-budget.ts';
import type { CaptionFeed } from '../web/caption-feed.ts';
import type { CaptionFeeds } from '../web/feeds.ts';
import { MeetingRecording, type RecordingRequest } from '../recording/meeting-recording.ts';
import type { Recordings } from '../recording/recordings.ts';
import { RECORDING_STATUS } from './captioning-indicator.ts';

/** What a meeting needs from the bot. */
export interface MeetingServices {
  stt: SttConfig;
  provider: SttProvider;
  clock: Clock;
  logger: Logger;
  settings: GuildSettingsStore;
  meetingStore: MeetingStore;
  /** Each guild's recap template and custom prompt. */
  recapSettings: RecapSettingsStore;
  /** Shared by every meeting: the gateway's rate limit is per model and account. Undefined: no translation. */
  translator: Translator | undefined;
  /**
   * Set for `TRANSLATION_MODE=in-stream`: translations come from AssemblyAI's `llm_gateway` on each speaker's
   * session, with this model, instead of from `translator`'s requests.
   */
  inStreamTranslation?: { model: string; onFailure?: () => void } | undefined;
  /** Undefined: no recap. */
  recap: RecapSettings | undefined;
  /** Where caption latency is observed; undefined when metrics are off. */
  metrics?: ParleyMetrics | undefined;
  /** Called when a recap could not be made (counted as an LLM error). */
  onRecapFailed?: () => void;
  /** Called for each store write that failed (counted for metrics); the meeting goes on without it. */
  onStoreWriteFailed?: () => void;
  /** Maximum length and leaving an empty channel; undefined: neither. */
  limits?: MeetingLimitSettings | undefined;
  /** Daily speech-to-text budget per guild; undefined: none. */
  sttBudget?: SttBudget | undefined;
  /** Daily LLM request budget per guild (translations and recaps); undefined: none. */
  llmBudget?: LlmBudget | undefined;
  /** The caption page's feeds; undefined when the page is off. */
  captionFeeds?: CaptionFeeds | undefined;
  /** Consented recording; undefined: never records. */
  recordings?: Recordings | undefined;
}

/** How often a meeting adds its speech-to-text time to the guild's budget (also on every final), ms. */
const BUDGET_CHECK_MS = 15_000;

/** Why a meeting ended; shapes the last message in the channel. */
export type MeetingEndReason = 'command' | 'kicked' | 'moved' | 'disconnected' | 'shutdown' | 'stt-refused' | 'channel-lost' | 'max-length' | 'empty' | 'budget';

const END_TEXT: Record<MeetingEndReason, string> = {
  command: 'Captioning has ended.',
  kicked: 'Parley was removed from the voice channel, so captioning has ended.',
  moved: 'Parley was moved to another voice channel, so captioning has ended. Use /join to start again.',
  disconnected: 'The voice connection was lost and could not be restored, so captioning has ended. Use /join to start again.',
  shutdown: 'Parley is shutting down, so captioning has ended. Use /recap when it is back for a recap of this meeting.',
  'stt-refused': 'Speech-to-text refused Parley\'s credentials, so captioning has ended. The bot\'s owner needs to check the AssemblyAI key and balance.',
  'max-length': 'This meeting reached Parley\'s maximum length, so captioning has ended. Use /join to start a new one.',
  empty: 'Nobody has been in the voice channel for a while, so Parley left and captioning has ended.',
  budget: 'This server has used its speech-to-text time for today, so captioning has ended. It can start again after midnight UTC.',
  'channel-lost': 'The caption channel was deleted or Parley lost access to it, so captioning has ended. The transcript is kept: `/recap` posts it.',
};

/**
 * Discord API error codes that mean the channel itself is gone or closed to Parley, so no later post can work
 * (discord-api-docs "JSON Error Codes"): 10003 Unknown Channel, 50001 Missing Access, 50013 Missing Permissions.
 */
const CHANNEL_LOST_CODES = new Set([10003, 50001, 50013]);

function isChannelLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && CHANNEL_LOST_CODES.has(code);
}

/** Opens the caption channel's thread for a language, reusing an active one with the same name. */
async function openThread(channel: SendableChannels, name: string): Promise<CaptionChannel> {
  if (!('threads' in channel) || !('create' in channel.threads)) throw new Error('this channel cannot have threads');
  const existing = channel.threads.cache.find((thread) => thread.name === name && thread.archived !== true);
  const thread = existing ?? (await channel.threads.create({ name, autoArchiveDuration: ThreadAutoArchiveDuration.OneDay, reason: 'Parley translated captions' }));
  return captionChannelOf(thread);
}

/**
 * Posts to a discord.js channel with no mentions. `onLost` is told (before the error is rethrown to the sink)
 * when Discord answers that the channel is deleted or closed to Parley, so the meeting can end instead of
 * failing every caption while speech-to-text keeps billing.
 */
export function captionChannelOf(channel: SendableChannels, onLost?: (error: Error) => void): CaptionChannel {
  const watched = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (onLost !== undefined && isChannelLost(error)) onLost(error as Error);
      throw error;
    }
  };
  return {
    send: (message) => watched(async () => ({ id: (await channel.send(message)).id })),
    edit: (messageId, message) =>
      watched(async () => {
        if (!('messages' in channel)) throw new Error('channel cannot edit messages');
        await channel.messages.edit(messageId, message);
      }),
  };
}

/** Options for {@link Meeting.start}. */
export interface MeetingStartOptions {
  guild: Guild;
  voiceChannel: VoiceBasedChannel;
  captionChannel: SendableChannels & { id: string };
  startedBy: GuildMember;
  services: MeetingServices;
  /** Record each speaker who has not opted out (`/join record:true` in a guild that enabled recording). */
  record?: RecordingRequest | undefined;
  /** Called once when the meeting has ended, whatever ended it. */
  onEnded: (meeting: Meeting) => void;
}

/** A running meeting. */
export class Meeting {
  readonly guildId: string;
  readonly voiceChannelId: string;
  readonly captionChannelId: string;
  readonly startedById: string;
  readonly startedAtMs = Date.now();
  readonly id: number;
  readonly #guild: Guild;
  readonly #services: MeetingServices;
  readonly #sink: DiscordSink;
  readonly #channel: SendableChannels;
  readonly #pipeline: CaptionPipeline;
  readonly #translation: TranslationSink | undefined;
  /** In-stream mode only: pairs AssemblyAI's per-turn LLM answers with the captions. */
  readonly #inStream: InStreamTranslator | undefined;
  /** Set once the guild's LLM budget ran out in in-stream mode and its sessions were renewed without `llm_gateway`. */
  #inStreamBudgetRenewed = false;
  readonly #threads: TranslationThreads;
  readonly #onEnded: (meeting: Meeting) => void;
  /** The caption page's sink, fed the same events as the Discord one. */
  readonly #feed: CaptionFeed | undefined;
  #voice: VoiceLink | null = null;
  #ending: Promise<Transcript> | null = null;
  readonly #indicator: CaptioningIndicator;
  readonly #speakers = new Map<string, Speaker>();
  #storeFailureTold = false;
  readonly #limits: MeetingLimits | undefined;
  /** Session time already added to the guild's budget, ms. */
  #budgetedMs = 0;
  #budgetTimer: TimerHandle | null = null;
  #llmBudgetTold = false;
  readonly #recording: MeetingRecording | undefined;

  private constructor(options: MeetingStartOptions) {
    const { guild, services } = options;
    this.#guild = guild;
    this.#services = services;
    this.#onEnded = options.onEnded;
    this.guildId = guild.id;
    this.voiceChannelId = options.voiceChannel.id;
    this.captionChannelId = options.captionChannel.id;
    this.startedById = options.startedBy.id;
    this.#channel = options.captionChannel;
    const logger = services.logger.child({ guildId: guild.id });
    this.#indicator = new CaptioningIndicator(guild, this.voiceChannelId, logger);
    const onLost = (error: Error) => {
      if (this.#ending !== null) return;
      logger.warn({ err: error.message }, 'caption channel deleted or closed to Parley; ending the meeting');
      void this.end('channel-lost');
    };
    this.#sink = new DiscordSink({ channel: captionChannelOf(options.captionChannel, onLost), clock: services.clock, logger });
    this.#threads = new TranslationThreads({
      open: (_language, name) => openThread(options.captionChannel, name),
      clock: services.clock,
      logger,
      onNotice: (notice) => this.#sink.notice(notice),
    });
    this.#feed = services.captionFeeds?.create(guild.id, () => services.settings.languages(guild.id));
    const translator = services.translator;
    const inStreamModel = services.inStreamTranslation?.model;
    const onFailure = services.inStreamTranslation?.onFailure;
    this.#inStream =
      inStreamModel === undefined || translator === undefined ? undefined : new InStreamTranslator({ model: inStreamModel, logger, clock: services.clock, ...(onFailure !== undefined && { onFailure }) });
    this.#translation =
      translator === undefined
        ? undefined
        : new TranslationSink({
            // The meeting's own queue: its turns never share a prompt with another meeting's.
            translator: budgetedTranslator(
              this.#inStream ?? translator.forMeeting(services.llmBudget?.gate(guild.id)),
              () => this.#llmBudgetSpent(),
              () => services.llmBudget?.spent(guild.id) === true,
            ),
            languages: () => services.settings.languages(guild.id),
            logger,
            onTranslated: (result) => {
              for (const [language, text] of Object.entries(result.translations)) {
                this.#pipeline.transcript.setTranslation(result.event.turnId, language, text);
                this.#write('translation', () => services.meetingStore.recordTranslation(this.id, result.event.turnId, language, text));
              }
              this.#threads.post(result);
              this.#feed?.translated(result);
            },
            onNotice: (notice) => this.#sink.notice(notice),
          });
    this.#pipeline = new CaptionPipeline({
      provider: services.provider,
      clock: services.clock,
      logger,
      sinks: [this.#sink, ...(this.#translation === undefined ? [] : [this.#translation]), ...(this.#feed === undefined ? [] : [this.#feed])],
      keyterms: this.#keyterms(services.settings.keyterms(guild.id)),
      languageCodes: () => services.settings.spokenLanguages(guild.id),
      ...(inStreamModel !== undefined && this.#inStream !== undefined && {
        llmGateway: (speaker: Speaker) => {
          const languages = services.settings.languages(guild.id);
          // Past the guild's daily LLM budget, new sessions ask AssemblyAI for no more server-side requests.
          return languages.length === 0 || services.llmBudget?.spent(guild.id) === true ? undefined : inStreamGatewayConfig({ model: inStreamModel, languages, speakerName: speaker.name });
        },
      }),
      idleCloseMs: () => services.provider.idleClose.currentMs(),
      maxTurnSilenceMs: services.stt.maxTurnSilenceMs,
    });
    this.id = services.meetingStore.startMeeting({
      guildId: guild.id,
      voiceChannelId: this.voiceChannelId,
      captionChannelId: this.captionChannelId,
      startedBy: this.startedById,
      startedAtMs: this.startedAtMs,
    });
    if (this.#feed !== undefined) services.captionFeeds?.bind(this.#feed, this.id);
    const { recordings } = services;
    const { record } = options;
    this.#recording =
      record === undefined || recordings === undefined
        ? undefined
        : this.#startRecording(() =>
            MeetingRecording.start({
              recordings,
              request: record,
              guildId: guild.id,
              meetingId: this.id,
              startedAtMs: this.startedAtMs,
              logger,
              onProblem: (text) => this.#sink.notice({ level: 'warning', text }),
            }),
          );
    // Registered before any sink sees the caption's translation, so the turn exists when its translation is stored.
    this.#pipeline.prependListener('caption', (event) => {
      if (event.kind !== 'final') return;
      this.#write('turn', () => services.meetingStore.recordTurn(this.id, event));
      this.#chargeBudget();
      services.metrics?.captionLatency.observe(Math.max(0, this.#pipeline.meetingNow() - event.endMs) / 1000);
    });
    this.#pipeline.on('fatal', () => void this.end('stt-refused'));
    this.#pipeline.on('llmResult', (result) => {
      this.#inStream?.onResult(result);
      // Each answer was one server-side LLM request of this guild's; once the budget is used, sessions are renewed
      // without `llm_gateway` so AssemblyAI stops making them.
      // A result without an answer (its session closed first) made no request. The flag clears when a new UTC day
      // gives the budget back (sessions opened since then carry `llm_gateway` again).
      const budget = services.llmBudget;
      if (budget === undefined || !result.answered) return;
      budget.take(guild.id);
      if (!budget.spent(guild.id)) {
        this.#inStreamBudgetRenewed = false;
        return;
      }
      if (this.#inStreamBudgetRenewed) return;
      this.#inStreamBudgetRenewed = true;
      this.#pipeline.renewSessions();
    });
    this.#limits =
      services.limits === undefined
        ? undefined
        : new MeetingLimits({
            settings: services.limits,
            clock: services.clock,
            onWarning: (remainingMs) =>
              this.#sink.notice({
                level: 'warning',
                text: `This meeting reaches Parley's maximum length in ${Math.max(1, Math.round(remainingMs / 60_000))} min; captioning ends then and the transcript is posted. Use /join again afterwards to go on.`,
              }),
            onMaxLength: () => void this.end('max-length'),
            onEmpty: () => void this.end('empty'),
          });
  }

  /**
   * Joins the voice channel and starts captioning. Posts the start notice in the caption channel.
   *
   * @throws {import('../voice/voice-link.ts').VoiceJoinError} if the voice connection does not become ready.
   */
  static async start(options: MeetingStartOptions): Promise<Meeting> {
    const meeting = new Meeting(options);
    const { guild, voiceChannel, services } = options;
    try {
      meeting.#voice = await VoiceLink.join({
        guildId: guild.id,
        channelId: voiceChannel.id,
        adapterCreator: guild.voiceAdapterCreator,
        logger: services.logger.child({ guildId: guild.id }),
        isAllowed: (userId) => meeting.#isCaptioned(userId),
        onPacket: (userId, packet) => {
          const speaker = meeting.#speaker(userId);
          // One arrival time for both: the track places the packet exactly where the captions' timeline does.
          const arrivalMs = meeting.#pipeline.meetingNow();
          meeting.#pipeline.pushOpusPacket(speaker, packet, arrivalMs);
          meeting.#recording?.push(speaker, packet, arrivalMs);
        },
      });
    } catch (error) {
      meeting.#write('end', () => services.meetingStore.endMeeting(meeting.id, Date.now()));
      if (meeting.#feed !== undefined) services.captionFeeds?.end(meeting.#feed);
      throw error;
    }
    meeting.#voice.on('ended', (reason) => void meeting.end(reason === 'left' ? 'command' : 'disconnected'));
    meeting.#voice.on('notice', (text) => meeting.#sink.notice({ level: 'warning', text }));
    meeting.#voice.on('speakerLost', (userId) =>
      meeting.#sink.notice({
        level: 'warning',
        markdown: true,
        text: `Parley has stopped receiving audio from ${escapeDiscordText(meeting.#speaker(userId).name)} and could not recover it. Their speech is not being captioned; leaving and rejoining the voice channel usually fixes it.`,
      }),
    );
    await meeting.#indicator.show(meeting.recording ? RECORDING_STATUS : undefined);
    // Kicked or moved while starting: the meeting has ended already; say nothing more.
    if (meeting.ending) return meeting;
    meeting.#limits?.start();
    meeting.membersChanged();
    meeting.#chargeBudget();
    meeting.#sink.notice({
      level: 'info',
      markdown: true,
      text: meeting.recording
        ? `🎙️ Recording and captioning <#${voiceChannel.id}>, started by <@${options.startedBy.id}>. Each member's voice is recorded to a file of its own, posted here at the end, and what they say is sent to AssemblyAI for transcription and posted here. Don't want to be recorded or captioned? Use \`/optout\`: your recording stops at once. \`/end\` stops both.`
        : `Captioning <#${voiceChannel.id}>, started by <@${options.startedBy.id}>. What members say there is sent to AssemblyAI for transcription and posted here. Don't want to be captioned? Use \`/optout\`. \`/end\` stops captioning.`,
    });
    meeting.#announceInVoiceChat(voiceChannel, options.startedBy.id);
    return meeting;
  }

  /**
   * The consent notice, also in the voice channel's own text chat: members in the call may not read the caption
   * channel, and must learn there that their speech is being sent out. Best effort: without Send Messages there,
   * the caption channel's notice stands alone.
   */
  #announceInVoiceChat(voiceChannel: VoiceBasedChannel, startedById: string): void {
    if (voiceChannel.id === this.captionChannelId || !voiceChannel.isSendable()) return;
    voiceChannel
      .send({
        content: this.recording
          ? `🔴 Parley is recording and captioning this voice channel, started by <@${startedById}>: each member's voice is recorded, and what they say is sent to AssemblyAI for transcription; both are posted in <#${this.captionChannelId}>. Don't want to be recorded or captioned? Use \`/optout\`.`
          : `🔴 Parley is captioning this voice channel, started by <@${startedById}>: what members say here is sent to AssemblyAI for transcription and posted in <#${this.captionChannelId}>. Don't want to be captioned? Use \`/optout\`.`,
        allowedMentions: { parse: [] },
      })
      .catch((error: unknown) => this.#services.logger.warn({ guildId: this.guildId, err: (error as Error).message }, 'could not post the consent notice in the voice channel chat'));
  }

  /** Someone joined or left the voice channel: with nobody left, Parley leaves after a while. */
  membersChanged(): void {
    const channel = this.#guild.channels.cache.get(this.voiceChannelId);
    const members = channel?.isVoiceBased() === true ? channel.members.filter((member) => !member.user.bot).size : 0;
    this.#limits?.membersChanged(members);
  }

  /** Counters for metrics. */
  counters(): PipelineCounters {
    return this.#pipeline.counters();
  }

  /** The pipeline's view of each speaker, for `/status`. */
  speakers(): SpeakerStatus[] {
    return this.#pipeline.status();
  }

  /** Ms since the meeting started. */
  get elapsedMs(): number {
    return Date.now() - this.startedAtMs;
  }

  /** True while the meeting records its speakers. */
  get recording(): boolean {
    return this.#recording !== undefined;
  }

  /** True once `end` has been called. */
  get ending(): boolean {
    return this.#ending !== null;
  }

  /**
   * A member left the voice channel or opted out: stop receiving them and close their STT session. With
   * `discard` (opt-out), their queued audio is dropped unsent and nothing more of theirs is captioned.
   */
  async removeMember(userId: string, options: { discard?: boolean } = {}): Promise<void> {
    this.#speakers.delete(userId);
    this.#voice?.receiver.drop(userId);
    this.#sink.clearSpeaker(userId);
    this.#feed?.clearSpeaker(userId);
    // Opting out withdraws consent to be recorded too; leaving the channel keeps the track (silence until back).
    await Promise.all([options.discard === true ? this.#recording?.withdraw(userId) : undefined, this.#pipeline.removeSpeaker(userId, options)]);
  }

  /** New guild keyterms: sent to open sessions with `UpdateConfiguration`. */
  setKeyterms(keyterms: readonly string[]): void {
    this.#pipeline.setKeyterms(this.#keyterms(keyterms));
  }

  /**
   * The guild's translation languages changed. In-stream mode renews every open session, since `llm_gateway` is
   * fixed for a session's life: the next session of each speaker opens with a prompt for the new languages
   * (a turn in progress finishes with the old ones). Batched mode reads the languages per caption: nothing to do.
   */
  languagesChanged(): void {
    if (this.#inStream !== undefined) this.#pipeline.renewSessions();
  }

  /** The guild's keyterms, or `STT_KEYTERMS` where the guild has set none. */
  #keyterms(guildKeyterms: readonly string[]): readonly string[] {
    return guildKeyterms.length > 0 ? guildKeyterms : this.#services.stt.keyterms;
  }

  /**
   * Ends the meeting: leaves voice, terminates every STT session (their last finals are posted), posts the
   * transcript files and marks the meeting ended in the store. Idempotent: later calls get the same promise.
   *
   * @param options.signal the shutdown deadline. With it, steps that wait on a peer give up when it aborts, the
   *   transcript is posted before pending translations are awaited, and no recap is made (`/recap` makes it later).
   */
  end(reason: MeetingEndReason, options: { signal?: AbortSignal } = {}): Promise<Transcript> {
    if (this.#ending === null) {
      // Set before #end runs: it leaves voice synchronously, and the voice link's 'ended' event calls end() again
      // from inside that call; `??=` would only assign after #end returned, so the meeting would end twice.
      const ending = Promise.withResolvers<Transcript>();
      this.#ending = ending.promise;
      // Whatever happens while ending, the registry must let go of the meeting, or the guild could never /join again.
      this.#end(reason, options.signal)
        .finally(() => this.#onEnded(this))
        .then(ending.resolve, ending.reject);
    }
    return this.#ending;
  }

  async #end(reason: MeetingEndReason, signal: AbortSignal | undefined): Promise<Transcript> {
    const logger = this.#services.logger;
    logger.info({ guildId: this.guildId, reason }, 'meeting ending');
    // The channel status can only be cleared without Manage Channels while Parley is still in the channel.
    await untilAborted(this.#indicator.clear(), signal);
    this.#limits?.stop();
    if (this.#budgetTimer !== null) this.#services.clock.clearTimeout(this.#budgetTimer);
    this.#budgetTimer = null;
    this.#voice?.leave();
    const endMs = this.#pipeline.meetingNow();
    // Essential first: every session terminated (its last finals arrive), then the transcript posted.
    const transcript = (await untilAborted(this.#pipeline.end(), signal)) ?? this.#pipeline.transcript;
    // No packet comes after leaving: the tracks get their end-of-stream pages now, before any post can run out the deadline.
    const closing = this.#recording?.closeTracks(endMs);
    if (closing !== undefined) await untilAborted(closing, signal);
    // Every session has closed, so an in-stream answer still awaited (an opted-out member's turn) will never come.
    this.#inStream?.close();
    // Without a deadline, translations are part of the transcript files; with one they are optional work.
    if (signal === undefined) await this.#translation?.flushed();
    this.#write('end', () => this.#services.meetingStore.endMeeting(this.id, Date.now()));
    if (this.#feed !== undefined) this.#services.captionFeeds?.end(this.#feed);
    // Threads first: a thread that fails to open now still gets its notice into the caption channel.
    await untilAborted(this.#threads.close(), signal);
    await untilAborted(this.#sink.close(), signal);
    // Nowhere to post: the transcript stays in the store for /recap.
    if (reason !== 'channel-lost') await this.#postReport(reason, transcript, signal);
    // Tracks are closed whatever happens; with nowhere to post they stay in DATA_DIR (and /forget deletes them).
    const recorded = this.#recording?.finish(reason === 'channel-lost' ? undefined : this.#channel, endMs);
    if (recorded !== undefined) await untilAborted(recorded, signal);
    // Optional work, until the deadline: translations that still arrive are stored for /recap.
    if (signal !== undefined) await untilAborted(this.#translation?.flushed() ?? Promise.resolve(), signal);
    return transcript;
  }

  async #postReport(reason: MeetingEndReason, transcript: Transcript, signal: AbortSignal | undefined): Promise<void> {
    const logger = this.#services.logger;
    // Shutdown must finish within its deadline and a recap takes an LLM longer: post the transcript now; /recap makes it later.
    const budgeted = signal !== undefined || reason === 'shutdown' ? { recap: undefined } : budgetedRecap(this.#services.recap, this.#services.llmBudget, this.guildId);
    const refusal = budgeted.refusal !== undefined && transcript.turns.length > 0 ? ` ${budgeted.refusal}` : '';
    try {
      const report = await buildMeetingReport({
        title: `Meeting in #${'name' in this.#channel ? String(this.#channel.name) : 'captions'}, ${new Date(this.startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
        transcript,
        durationMs: this.elapsedMs,
        headline: `⏹️ ${END_TEXT[reason]}${refusal}`,
        recap: budgeted.recap,
        recapStyle: this.#services.recapSettings.recapStyle(this.guildId),
        logger,
      });
      if (report.recapFailed === true) this.#services.onRecapFailed?.();
      const recap = report.recap;
      if (recap !== undefined) this.#write('recap', () => this.#services.meetingStore.saveRecap(this.id, JSON.stringify(recap)));
      await postMeetingReport(this.#channel, report);
    } catch (error) {
      logger.warn({ guildId: this.guildId, err: (error as Error).message }, 'could not post the meeting report');
    }
  }

  /**
   * Adds the session time used since the last charge to the guild's daily budget; once it is spent, the meeting
   * ends with a plain notice. Runs on every final and every {@link BUDGET_CHECK_MS}.
   */
  #chargeBudget(): void {
    const budget = this.#services.sttBudget;
    if (budget === undefined || this.#ending !== null) return;
    const usedMs = this.#pipeline.counters().sttSessionMs;
    budget.add(this.guildId, usedMs - this.#budgetedMs);
    this.#budgetedMs = usedMs;
    if (budget.spent(this.guildId)) {
      this.#sink.notice({
        level: 'warning',
        text: `This server has used today's speech-to-text budget (${Math.round(budget.dailyMs / 60_000)} min), so captioning stops now. It can start again after midnight UTC.`,
      });
      void this.end('budget');
      return;
    }
    if (this.#budgetTimer !== null) this.#services.clock.clearTimeout(this.#budgetTimer);
    this.#budgetTimer = this.#services.clock.setTimeout(() => this.#chargeBudget(), BUDGET_CHECK_MS);
  }

  /** The guild's LLM budget refused a translation: the channel is told once per meeting; captions go on. */
  #llmBudgetSpent(): void {
    const budget = this.#services.llmBudget;
    if (this.#llmBudgetTold || budget === undefined) return;
    this.#llmBudgetTold = true;
    this.#sink.notice({ level: 'warning', text: `${budget.refusal()} Captions go on in the original language; untranslated ones are marked.` });
  }

  /**
   * Runs one store write. A failure (disk full, read-only database) is logged, counted and told once in the
   * channel; the meeting goes on, since the transcript is also kept in memory and posted at the end.
   */
  /** Starts the recording, or captions without one when its folder cannot be made (the channel is told; the meeting goes on). */
  #startRecording(start: () => MeetingRecording): MeetingRecording | undefined {
    try {
      return start();
    } catch (error) {
      this.#services.logger.error({ guildId: this.guildId, meetingId: this.id, err: (error as Error).message }, 'recording could not start');
      this.#sink.notice({ level: 'warning', text: 'Recording could not start: Parley could not create its folder on disk. Captions go on; nothing is recorded.' });
      return undefined;
    }
  }

  #write(what: 'turn' | 'translation' | 'end' | 'recap', write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#services.onStoreWriteFailed?.();
      this.#services.logger.error({ guildId: this.guildId, meetingId: this.id, what, err: (error as Error).message }, 'store write failed');
      if (this.#storeFailureTold) return;
      this.#storeFailureTold = true;
      this.#sink.notice({
        level: 'warning',
        text: 'Parley cannot save to its database right now. Captions continue here and the transcript posted at the end is complete, but /recap may later miss what is said from now on. Tell the bot\'s owner.',
      });
    }
  }

  #isCaptioned(userId: string): boolean {
    if (this.#ending !== null) return false;
    const member = this.#guild.members.cache.get(userId);
    if (member?.user.bot === true) return false;
    return !this.#services.settings.isOptedOut(userId);
  }

  /** The member as a speaker; looked up once per member, not per Opus packet. */
  #speaker(userId: string): Speaker {
    let speaker = this.#speakers.get(userId);
    if (speaker === undefined) {
      const member = this.#guild.members.cache.get(userId);
      speaker = { id: userId, name: member?.displayName ?? `Member ${userId.slice(-4)}` };
      this.#speakers.set(userId, speaker);
    }
    return speaker;
  }
}
