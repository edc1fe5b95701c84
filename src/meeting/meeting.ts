/**
 * One guild's captioned meeting: the voice link, the caption pipeline, the Discord sink and the stored transcript,
 * from `/join` to `/end` (or a kick, a move, or shutdown).
 */
import { escapeDiscordText } from '../text/discord-markdown.ts';
import { ThreadAutoArchiveDuration, type Guild, type GuildMember, type SendableChannels, type VoiceBasedChannel } from 'discord.js';
import type { Clock } from '../clock.ts';
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
import { buildMeetingReport, postMeetingReport, type RecapSettings } from './meeting-report.ts';
import type { Transcript } from '../transcript/transcript.ts';
import { VoiceLink } from '../voice/voice-link.ts';

/** What a meeting needs from the bot. */
export interface MeetingServices {
  stt: SttConfig;
  provider: SttProvider;
  clock: Clock;
  logger: Logger;
  settings: GuildSettingsStore;
  meetingStore: MeetingStore;
  /** Shared by every meeting: the gateway's rate limit is per model and account. Undefined: no translation. */
  translator: Translator | undefined;
  /** Undefined: no recap. */
  recap: RecapSettings | undefined;
  /** Where caption latency is observed; undefined when metrics are off. */
  metrics?: ParleyMetrics | undefined;
  /** Called when a recap could not be made (counted as an LLM error). */
  onRecapFailed?: () => void;
}

/** Why a meeting ended; shapes the last message in the channel. */
export type MeetingEndReason = 'command' | 'kicked' | 'moved' | 'disconnected' | 'shutdown' | 'stt-refused';

const END_TEXT: Record<MeetingEndReason, string> = {
  command: 'Captioning has ended.',
  kicked: 'Parley was removed from the voice channel, so captioning has ended.',
  moved: 'Parley was moved to another voice channel, so captioning has ended. Use /join to start again.',
  disconnected: 'The voice connection was lost and could not be restored, so captioning has ended. Use /join to start again.',
  shutdown: 'Parley is shutting down, so captioning has ended. Use /recap when it is back for a recap of this meeting.',
  'stt-refused': 'Speech-to-text refused Parley\'s credentials, so captioning has ended. The bot\'s owner needs to check the AssemblyAI key and balance.',
};

/** Opens the caption channel's thread for a language, reusing an active one with the same name. */
async function openThread(channel: SendableChannels, name: string): Promise<CaptionChannel> {
  if (!('threads' in channel) || !('create' in channel.threads)) throw new Error('this channel cannot have threads');
  const existing = channel.threads.cache.find((thread) => thread.name === name && thread.archived !== true);
  const thread = existing ?? (await channel.threads.create({ name, autoArchiveDuration: ThreadAutoArchiveDuration.OneDay, reason: 'Parley translated captions' }));
  return captionChannelOf(thread);
}

/** Posts to a discord.js channel with no mentions. */
export function captionChannelOf(channel: SendableChannels): CaptionChannel {
  return {
    send: async (message) => ({ id: (await channel.send(message)).id }),
    edit: async (messageId, message) => {
      if (!('messages' in channel)) throw new Error('channel cannot edit messages');
      await channel.messages.edit(messageId, message);
    },
  };
}

/** Options for {@link Meeting.start}. */
export interface MeetingStartOptions {
  guild: Guild;
  voiceChannel: VoiceBasedChannel;
  captionChannel: SendableChannels & { id: string };
  startedBy: GuildMember;
  services: MeetingServices;
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
  readonly #threads: TranslationThreads;
  readonly #onEnded: (meeting: Meeting) => void;
  #voice: VoiceLink | null = null;
  #ending: Promise<Transcript> | null = null;
  #previousNickname: string | null = null;
  readonly #speakers = new Map<string, Speaker>();

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
    this.#sink = new DiscordSink({ channel: captionChannelOf(options.captionChannel), clock: services.clock, logger });
    this.#threads = new TranslationThreads({
      open: (_language, name) => openThread(options.captionChannel, name),
      clock: services.clock,
      logger,
      onNotice: (notice) => this.#sink.notice(notice),
    });
    const translator = services.translator;
    this.#translation =
      translator === undefined
        ? undefined
        : new TranslationSink({
            translator,
            languages: () => services.settings.languages(guild.id),
            logger,
            onTranslated: (result) => {
              for (const [language, text] of Object.entries(result.translations)) {
                this.#pipeline.transcript.setTranslation(result.event.turnId, language, text);
                services.meetingStore.recordTranslation(this.id, result.event.turnId, language, text);
              }
              this.#threads.post(result);
            },
            onNotice: (notice) => this.#sink.notice(notice),
          });
    this.#pipeline = new CaptionPipeline({
      provider: services.provider,
      clock: services.clock,
      logger,
      sinks: this.#translation === undefined ? [this.#sink] : [this.#sink, this.#translation],
      keyterms: this.#keyterms(services.settings.keyterms(guild.id)),
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
    // Registered before any sink sees the caption's translation, so the turn exists when its translation is stored.
    this.#pipeline.prependListener('caption', (event) => {
      if (event.kind !== 'final') return;
      services.meetingStore.recordTurn(this.id, event);
      services.metrics?.captionLatency.observe(Math.max(0, this.#pipeline.meetingNow() - event.endMs) / 1000);
    });
    this.#pipeline.on('fatal', () => void this.end('stt-refused'));
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
        onPacket: (userId, packet) => meeting.#pipeline.pushOpusPacket(meeting.#speaker(userId), packet),
      });
    } catch (error) {
      services.meetingStore.endMeeting(meeting.id, Date.now());
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
    await meeting.#markNickname();
    meeting.#sink.notice({
      level: 'info',
      markdown: true,
      text: `Captioning <#${voiceChannel.id}>, started by <@${options.startedBy.id}>. What members say there is sent to AssemblyAI for transcription and posted here. Don't want to be captioned? Use \`/optout\`. \`/end\` stops captioning.`,
    });
    return meeting;
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

  /** True once `end` has been called. */
  get ending(): boolean {
    return this.#ending !== null;
  }

  /** A member left the voice channel or opted out: stop receiving them and close their STT session. */
  async removeMember(userId: string): Promise<void> {
    this.#speakers.delete(userId);
    this.#voice?.receiver.drop(userId);
    this.#sink.clearSpeaker(userId);
    await this.#pipeline.removeSpeaker(userId);
  }

  /** New guild keyterms: sent to open sessions with `UpdateConfiguration`. */
  setKeyterms(keyterms: readonly string[]): void {
    this.#pipeline.setKeyterms(this.#keyterms(keyterms));
  }

  /** The guild's keyterms, or `STT_KEYTERMS` where the guild has set none. */
  #keyterms(guildKeyterms: readonly string[]): readonly string[] {
    return guildKeyterms.length > 0 ? guildKeyterms : this.#services.stt.keyterms;
  }

  /**
   * Ends the meeting: leaves voice, terminates every STT session (their last finals are posted), posts the
   * transcript files and marks the meeting ended in the store. Idempotent: later calls get the same promise.
   */
  end(reason: MeetingEndReason): Promise<Transcript> {
    if (this.#ending === null) {
      // Set before #end runs: it leaves voice synchronously, and the voice link's 'ended' event calls end() again
      // from inside that call; `??=` would only assign after #end returned, so the meeting would end twice.
      const ending = Promise.withResolvers<Transcript>();
      this.#ending = ending.promise;
      // Whatever happens while ending, the registry must let go of the meeting, or the guild could never /join again.
      this.#end(reason)
        .finally(() => this.#onEnded(this))
        .then(ending.resolve, ending.reject);
    }
    return this.#ending;
  }

  async #end(reason: MeetingEndReason): Promise<Transcript> {
    const logger = this.#services.logger;
    logger.info({ guildId: this.guildId, reason }, 'meeting ending');
    this.#voice?.leave();
    const transcript = await this.#pipeline.end();
    await this.#translation?.flushed();
    this.#services.meetingStore.endMeeting(this.id, Date.now());
    // Threads first: a thread that fails to open now still gets its notice into the caption channel.
    await this.#threads.close();
    await this.#sink.close();
    await this.#restoreNickname();
    try {
      const report = await buildMeetingReport({
        title: `Meeting in #${'name' in this.#channel ? String(this.#channel.name) : 'captions'}, ${new Date(this.startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
        transcript,
        durationMs: this.elapsedMs,
        headline: `⏹️ ${END_TEXT[reason]}`,
        // Shutdown must finish within 5 s and a recap takes an LLM longer: post the transcript now; /recap makes it later.
        recap: reason === 'shutdown' ? undefined : this.#services.recap,
        logger,
      });
      if (report.recapFailed === true) this.#services.onRecapFailed?.();
      if (report.recap !== undefined) this.#services.meetingStore.saveRecap(this.id, JSON.stringify(report.recap));
      await postMeetingReport(this.#channel, report);
    } catch (error) {
      logger.warn({ guildId: this.guildId, err: (error as Error).message }, 'could not post the meeting report');
    }
    return transcript;
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

  async #markNickname(): Promise<void> {
    const me = this.#guild.members.me;
    if (me === null) return;
    this.#previousNickname = me.nickname;
    const base = me.nickname ?? me.user.username;
    try {
      await me.setNickname(`🔴 ${base} (captioning)`.slice(0, 32));
    } catch {
      // Without Change Nickname the start notice is the only sign; that is acceptable.
    }
  }

  async #restoreNickname(): Promise<void> {
    try {
      await this.#guild.members.me?.setNickname(this.#previousNickname);
    } catch {
      // Same as above: the nickname is a courtesy.
    }
  }
}
