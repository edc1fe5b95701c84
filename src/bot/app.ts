/**
 * The bot's wiring, shared by `src/main.ts` and the tests: the discord.js client, the database and stores, the
 * meeting registry, the STT provider, and the handlers for interactions and voice-state changes.
 *
 * Process concerns (signals, the shutdown deadline, exit codes) stay in `main.ts`; everything else lives here so
 * that tests run exactly the code `npm start` runs.
 */
import { once } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import { Events, Status, type Client } from 'discord.js';
import { systemClock, type Clock } from '../clock.ts';
import type { Config, DiscordConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { MeetingRegistry } from '../meeting/registry.ts';
import { SttBudget } from '../meeting/stt-budget.ts';
import { LlmBudget } from '../meeting/llm-budget.ts';
import { untilAborted } from '../meeting/deadline.ts';
import type { MeetingEndReason } from '../meeting/meeting.ts';
import { createAssemblyAIProvider } from '../stt/provider.ts';
import { openDatabase } from '../store/database.ts';
import { GuildSettingsStore } from '../store/guild-settings.ts';
import { RecapSettingsStore } from '../store/recap-settings.ts';
import { MeetingStore } from '../store/meeting-store.ts';
import { MeetingDeletion } from '../store/meeting-deletion.ts';
import { RetentionSweep } from '../store/retention.ts';
import { AutoJoinStore } from '../store/auto-join-store.ts';
import { AutoJoinWatcher } from './auto-join.ts';
import { RecordingSettingsStore } from '../store/recording-settings.ts';
import { Recordings } from '../recording/recordings.ts';
import { createLlmClient } from '../llm/gateway-client.ts';
import { checkModels } from '../llm/model-check.ts';
import { Translator } from '../translation/translator.ts';
import type { RecapSettings } from '../meeting/meeting-report.ts';
import { ParleyMetrics } from '../ops/metrics.ts';
import { startOpsServer, type OpsServer } from '../ops/server.ts';
import { commands } from '../../commands/index.ts';
import { createDiscordClient } from './client.ts';
import type { BotContext } from './command.ts';
import { createInteractionHandler } from './interactions.ts';
import { CommandCooldowns } from './cooldowns.ts';
import { CaptionFeeds } from '../web/feeds.ts';
import { CaptionLinks, LinkSigner, loadLinkSecret } from '../web/links.ts';
import { startWebServer, type WebServer } from '../web/server.ts';
import { RecordingLinks } from '../web/recording-downloads.ts';

/** What {@link ParleyBot} is built from. */
export interface ParleyBotOptions {
  config: Config;
  discord: DiscordConfig;
  logger: Logger;
  /** Defaults to the system clock. */
  clock?: Clock;
}

/** One running Parley: a Discord client, its stores and its meetings. */
export class ParleyBot {
  readonly client: Client;
  readonly meetings: MeetingRegistry;
  readonly settings: GuildSettingsStore;
  readonly meetingStore: MeetingStore;
  readonly recapSettings: RecapSettingsStore;
  readonly meetingDeletion: MeetingDeletion;
  readonly autoJoinRules: AutoJoinStore;
  readonly #autoJoin: AutoJoinWatcher;
  /** Consented recordings: the guild switch and the files in `DATA_DIR/recordings`. */
  readonly recordings: Recordings;
  readonly #options: ParleyBotOptions;
  /** The open SQLite connection the stores share (operations and tests read it; only the stores write). */
  readonly database: DatabaseSync;
  /** One translator for the process: the gateway's 30 requests per minute are per model and account, not per guild. */
  readonly #translator: Translator;
  readonly #recap: RecapSettings;
  readonly metrics: ParleyMetrics;
  #recapFailures = 0;
  /** Captions whose in-stream translation failed (TRANSLATION_MODE=in-stream), across meetings. */
  #inStreamFailures = 0;
  readonly #llmTokens = { prompt: 0, completion: 0 };
  #storeWriteFailures = 0;
  #ops: OpsServer | null = null;
  #retention: RetentionSweep | null = null;
  /** The caption page, when `WEB_PORT` is set. */
  readonly #web: { feeds: CaptionFeeds; signer: LinkSigner; links: CaptionLinks; recordingLinks: RecordingLinks } | undefined;
  #webServer: WebServer | null = null;
  #stopping: Promise<void> | null = null;

  /** Opens the database and creates the client (not logged in yet). */
  constructor(options: ParleyBotOptions) {
    this.#options = options;
    const { config, discord, logger } = options;
    this.database = openDatabase(config.dataDir);
    this.settings = new GuildSettingsStore(this.database);
    this.meetingStore = new MeetingStore(this.database);
    this.meetingDeletion = new MeetingDeletion(this.database);
    this.recapSettings = new RecapSettingsStore(this.database);
    this.autoJoinRules = new AutoJoinStore(this.database);
    this.meetings = new MeetingRegistry(logger);
    this.client = createDiscordClient(discord);
    const provider = createAssemblyAIProvider(config.stt, logger);
    const llm = createLlmClient({
      baseUrl: config.llm.baseUrl,
      apiKey: config.llm.apiKey,
      timeoutMs: config.llm.timeoutMs,
      logger,
      onUsage: (usage) => {
        this.#llmTokens.prompt += usage.promptTokens;
        this.#llmTokens.completion += usage.completionTokens;
      },
    });
    this.#translator = new Translator({ client: llm, model: config.llm.translationModel, fallbackModels: config.llm.translationFallbackModels, logger });
    this.#recap = { client: llm, model: config.llm.recapModel, fallbackModels: config.llm.recapFallbackModels, timeoutMs: config.llm.recapTimeoutMs };
    const clock = options.clock ?? systemClock;
    if (config.web !== undefined) {
      const secret = loadLinkSecret(config.dataDir, config.web.linkSecret);
      const signer = new LinkSigner(secret);
      this.#web = { feeds: new CaptionFeeds(clock), signer, links: new CaptionLinks(signer, config.web.publicUrl), recordingLinks: new RecordingLinks(secret, config.web.publicUrl) };
    }
    const recordingLinks = this.#web?.recordingLinks;
    this.recordings = new Recordings({
      dataDir: config.dataDir,
      settings: new RecordingSettingsStore(this.database),
      logger,
      retentionDays: config.limits.dataRetentionDays,
      linkFor: recordingLinks === undefined ? undefined : (guildId, meetingId) => recordingLinks.linkFor(guildId, meetingId),
    });
    this.metrics = new ParleyMetrics({
      activeMeetings: () => this.meetings.size,
      speakers: () => this.meetings.counters().speakers,
      sttSessionsOpen: () => this.meetings.counters().sttSessionsOpen,
      sttReconnects: () => this.meetings.counters().reconnects,
      corruptPackets: () => this.meetings.counters().corruptPackets,
      droppedFrames: () => this.meetings.counters().droppedFrames,
      decoderFailures: () => this.meetings.counters().decoderFailures,
      llmErrors: () => this.#translator.stats().failures + this.#recapFailures + this.#inStreamFailures,
      llmBudgetRefusals: () => this.#translator.stats().budgetRefusals,
      llmTokens: () => ({ ...this.#llmTokens }),
      storeWriteFailures: () => this.#storeWriteFailures,
    });

    // Handlers are attached before login, so no interaction or voice-state event of the first session is missed.
    this.client.once(Events.ClientReady, (ready) => {
      logger.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'Parley is online');
      void this.#announceInterruptedMeetings(ready);
      this.#autoJoin.evaluateAll(ready);
    });
    // Interactions only arrive once the client is ready, so the client in the context is a ready one.
    const context = this.#context(this.client as Client<true>, provider, clock);
    this.#autoJoin = new AutoJoinWatcher({ rules: this.autoJoinRules, meetings: this.meetings, services: context.services, cooldowns: context.cooldowns, logger });
    const handle = createInteractionHandler(commands, { ...context, autoJoin: { rules: this.autoJoinRules, watcher: this.#autoJoin } });
    this.client.on(Events.InteractionCreate, (interaction) => void handle(interaction));
    this.client.on(Events.VoiceStateUpdate, (oldState, newState) => {
      const botUserId = this.client.user?.id;
      if (botUserId !== undefined) this.meetings.onVoiceStateUpdate(oldState, newState, botUserId);
      this.#autoJoin.onVoiceStateUpdate(oldState, newState);
    });
    this.client.on(Events.ChannelDelete, (channel) => {
      if (channel.isDMBased()) return;
      this.meetings.onChannelDelete(channel.guildId, channel.id);
      this.#autoJoin.onChannelDelete(channel.guildId, channel.id);
    });
    this.client.on(Events.Error, (error) => logger.error({ err: error.message }, 'discord client error'));
  }

  /**
   * Logs in and resolves once the client is ready; serves `/healthz` and `/metrics` first when `METRICS_PORT` is set.
   *
   * @throws if the metrics port cannot be bound, or discord.js cannot log in (e.g. an invalid token).
   */
  async start(): Promise<void> {
    const retentionDays = this.#options.config.limits.dataRetentionDays;
    if (retentionDays !== undefined) {
      this.#retention = new RetentionSweep({
        deletion: this.meetingDeletion,
        retentionDays,
        logger: this.#options.logger,
        // Recordings go with their meetings: every folder whose meeting the sweep (or /forget) deleted.
        afterSweep: () => void this.recordings.deleteOrphans((guildId, meetingId) => this.meetingStore.meeting(guildId, meetingId) !== undefined),
      });
      this.#retention.start();
    }
    const port = this.#options.discord.metricsPort;
    if (port !== undefined) {
      this.#ops = await startOpsServer({
        port,
        metrics: this.metrics,
        health: () => ({ ok: this.connected, meetings: this.meetings.size }),
      });
      this.#options.logger.info({ port: this.#ops.port }, 'serving /healthz and /metrics');
    }
    const { llm } = this.#options.config;
    // Not awaited: the check only warns, and the bot must not wait on the gateway to come online.
    void checkModels({
      baseUrl: llm.baseUrl,
      apiKey: llm.apiKey,
      models: [llm.translationModel, ...llm.translationFallbackModels, llm.recapModel, ...llm.recapFallbackModels],
      logger: this.#options.logger,
    });
    const web = this.#options.config.web;
    if (web !== undefined && this.#web !== undefined) {
      this.#webServer = await startWebServer({
        port: web.port,
        host: web.host,
        feeds: this.#web.feeds,
        signer: this.#web.signer,
        logger: this.#options.logger,
        recordings: {
          links: this.#web.recordingLinks,
          files: (guildId, meetingId) => this.recordings.files(guildId, meetingId),
          dir: (guildId, meetingId) => this.recordings.meetingDir(guildId, meetingId),
        },
      });
      this.#options.logger.info({ port: this.#webServer.port }, 'serving the caption page');
    }
    const ready = once(this.client, Events.ClientReady);
    await this.client.login(this.#options.discord.token);
    await ready;
  }

  /**
   * Whether the bot is connected to Discord's gateway now. `client.isReady()` alone stays true once the first
   * READY came, even while the connection is lost and being re-established; each shard's status says whether
   * its session is live (Ready again only after RESUMED, or READY when it had to identify anew).
   */
  get connected(): boolean {
    return this.client.isReady() && this.client.ws.shards.size > 0 && this.client.ws.shards.every((shard) => shard.status === Status.Ready);
  }

  /** The port the caption page is served on, if it is. */
  get webPort(): number | undefined {
    return this.#webServer?.port;
  }

  /** The port `/healthz` and `/metrics` are served on, if they are. */
  get opsPort(): number | undefined {
    return this.#ops?.port;
  }

  /**
   * Ends every meeting (sessions terminated, voice left, transcripts posted), then closes the client and the
   * database. Idempotent.
   *
   * @param signal the shutdown deadline: when it aborts, optional work (pending translations) is abandoned and
   *   left for `/recap`, and nothing waits on a peer any longer.
   */
  stop(reason: MeetingEndReason = 'shutdown', signal?: AbortSignal): Promise<void> {
    this.#stopping ??= (async () => {
      this.#options.logger.info({ reason, meetings: this.meetings.size }, 'stopping');
      this.#retention?.stop();
      await this.meetings.endAll(reason, signal);
      await untilAborted(this.#translator.close(), signal);
      await this.client.destroy();
      await this.#ops?.close();
      await this.#webServer?.close();
      this.#web?.feeds.close();
      this.database.close();
    })();
    return this.#stopping;
  }

  /**
   * A meeting still unfinished in the store was interrupted by a crash or restart: say so where its captions were,
   * so people know `/end` still gets them everything said before.
   */
  async #announceInterruptedMeetings(client: Client<true>): Promise<void> {
    for (const guild of client.guilds.cache.values()) {
      const record = this.meetingStore.unfinishedMeeting(guild.id);
      const channel = record === undefined ? undefined : guild.channels.cache.get(record.captionChannelId);
      if (record === undefined || channel === undefined || !channel.isSendable()) continue;
      try {
        await channel.send({
          content: `⚠️ Parley restarted while captioning <#${record.voiceChannelId}>. Nothing said before that is lost: use \`/end\` for its transcript and recap, or \`/join\` to start captioning again.`,
          allowedMentions: { parse: [] },
        });
      } catch (error) {
        this.#options.logger.warn({ guildId: guild.id, err: (error as Error).message }, 'could not announce the interrupted meeting');
      }
    }
  }

  #context(client: Client<true>, provider: BotContext['services']['provider'], clock: Clock): Omit<BotContext, 'autoJoin'> {
    const { config, logger } = this.#options;
    return {
      client,
      config,
      logger,
      settings: this.settings,
      meetingStore: this.meetingStore,
      meetingDeletion: this.meetingDeletion,
      meetings: this.meetings,
      cooldowns: new CommandCooldowns({ memberMs: config.limits.memberCooldownMs, guildMs: config.limits.guildCooldownMs }),
      services: {
        stt: config.stt,
        provider,
        clock,
        logger,
        settings: this.settings,
        meetingStore: this.meetingStore,
        recapSettings: this.recapSettings,
        translator: this.#translator,
        inStreamTranslation: config.llm.translationMode === 'in-stream' ? { model: config.llm.translationModel, onFailure: () => this.#inStreamFailures++ } : undefined,
        recap: this.#recap,
        metrics: this.metrics,
        onRecapFailed: () => {
          this.#recapFailures++;
        },
        limits: config.limits,
        sttBudget: config.limits.dailySttMsPerGuild === undefined ? undefined : new SttBudget(config.limits.dailySttMsPerGuild),
        llmBudget: config.limits.dailyLlmRequestsPerGuild === undefined ? undefined : new LlmBudget(config.limits.dailyLlmRequestsPerGuild),
        onStoreWriteFailed: () => {
          this.#storeWriteFailures++;
        },
        captionFeeds: this.#web?.feeds,
        recordings: this.recordings,
      },
      captionLinks: this.#web?.links,
    };
  }
}
