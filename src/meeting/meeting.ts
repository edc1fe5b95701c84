/**
 * One guild's captioned meeting: the voice link, the caption pipeline, the Discord sink and the stored transcript,
 * from `/join` to `/end` (or a kick, a move, or shutdown).
 */
import { AttachmentBuilder, type Guild, type GuildMember, type SendableChannels, type VoiceBasedChannel } from 'discord.js';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Speaker } from '../captions/caption.ts';
import { DiscordSink, NO_MENTIONS, type CaptionChannel } from '../captions/discord-sink.ts';
import { CaptionPipeline, type SpeakerStatus } from '../pipeline/caption-pipeline.ts';
import type { SttProvider } from '../stt/provider.ts';
import type { SttConfig } from '../config.ts';
import type { GuildSettingsStore } from '../store/guild-settings.ts';
import type { MeetingStore } from '../store/meeting-store.ts';
import { renderTranscriptFiles } from '../transcript/files.ts';
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
}

/** Why a meeting ended; shapes the last message in the channel. */
export type MeetingEndReason = 'command' | 'kicked' | 'moved' | 'disconnected' | 'shutdown' | 'stt-refused';

const END_TEXT: Record<MeetingEndReason, string> = {
  command: 'Captioning has ended.',
  kicked: 'Parley was removed from the voice channel, so captioning has ended.',
  moved: 'Parley was moved to another voice channel, so captioning has ended. Use /join to start again.',
  disconnected: 'The voice connection was lost and could not be restored, so captioning has ended. Use /join to start again.',
  shutdown: 'Parley is shutting down, so captioning has ended.',
  'stt-refused': 'Speech-to-text refused Parley\'s credentials, so captioning has ended. The bot\'s owner needs to check the AssemblyAI key and balance.',
};

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
  readonly #onEnded: (meeting: Meeting) => void;
  #voice: VoiceLink | null = null;
  #ending: Promise<Transcript> | null = null;
  #previousNickname: string | null = null;

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
    this.#pipeline = new CaptionPipeline({
      provider: services.provider,
      clock: services.clock,
      logger,
      sinks: [this.#sink],
      keyterms: services.settings.keyterms(guild.id),
      idleCloseMs: services.stt.idleCloseMs,
      maxTurnSilenceMs: services.stt.maxTurnSilenceMs,
    });
    this.id = services.meetingStore.startMeeting({
      guildId: guild.id,
      voiceChannelId: this.voiceChannelId,
      captionChannelId: this.captionChannelId,
      startedBy: this.startedById,
      startedAtMs: this.startedAtMs,
    });
    this.#pipeline.on('caption', (event) => {
      if (event.kind === 'final') services.meetingStore.recordTurn(this.id, event);
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
    meeting.#voice.on('speakerLost', (userId) =>
      meeting.#sink.notice({
        level: 'warning',
        text: `Parley has stopped receiving audio from ${meeting.#speaker(userId).name} and could not recover it. Their speech is not being captioned; leaving and rejoining the voice channel usually fixes it.`,
      }),
    );
    await meeting.#markNickname();
    meeting.#sink.notice({
      level: 'info',
      text: `Captioning <#${voiceChannel.id}>, started by <@${options.startedBy.id}>. What members say there is sent to AssemblyAI for transcription and posted here. Don't want to be captioned? Use \`/optout\`. \`/end\` stops captioning.`,
    });
    return meeting;
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
    this.#voice?.receiver.drop(userId);
    this.#sink.clearSpeaker(userId);
    await this.#pipeline.removeSpeaker(userId);
  }

  /** New guild keyterms: sent to open sessions with `UpdateConfiguration`. */
  setKeyterms(keyterms: readonly string[]): void {
    this.#pipeline.setKeyterms(keyterms);
  }

  /**
   * Ends the meeting: leaves voice, terminates every STT session (their last finals are posted), posts the
   * transcript files and marks the meeting ended in the store. Idempotent: later calls get the same promise.
   */
  end(reason: MeetingEndReason): Promise<Transcript> {
    this.#ending ??= this.#end(reason);
    return this.#ending;
  }

  async #end(reason: MeetingEndReason): Promise<Transcript> {
    const logger = this.#services.logger;
    logger.info({ guildId: this.guildId, reason }, 'meeting ending');
    this.#voice?.leave();
    const transcript = await this.#pipeline.end();
    this.#services.meetingStore.endMeeting(this.id, Date.now());
    await this.#sink.close();
    await this.#restoreNickname();
    const files = renderTranscriptFiles(`Meeting transcript (${new Date(this.startedAtMs).toISOString()})`, transcript);
    const summary = `⏹️ ${END_TEXT[reason]} ${transcript.turns.length} caption${transcript.turns.length === 1 ? '' : 's'} from ${transcript.speakers.length} speaker${transcript.speakers.length === 1 ? '' : 's'}.`;
    try {
      await this.#channel.send({
        content: transcript.turns.length > 0 ? `${summary} The transcript is attached.` : summary,
        files: transcript.turns.length > 0 ? files.map((f) => new AttachmentBuilder(Buffer.from(f.content), { name: f.name })) : [],
        allowedMentions: NO_MENTIONS,
      });
    } catch (error) {
      logger.warn({ guildId: this.guildId, err: (error as Error).message }, 'could not post the transcript');
    }
    this.#onEnded(this);
    return transcript;
  }

  #isCaptioned(userId: string): boolean {
    if (this.#ending !== null) return false;
    const member = this.#guild.members.cache.get(userId);
    if (member?.user.bot === true) return false;
    return !this.#services.settings.isOptedOut(userId);
  }

  #speaker(userId: string): Speaker {
    const member = this.#guild.members.cache.get(userId);
    return { id: userId, name: member?.displayName ?? `Member ${userId.slice(-4)}` };
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
