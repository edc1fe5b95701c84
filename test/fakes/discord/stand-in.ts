/**
 * A local stand-in for Discord that the real, unpatched discord.js 14 and @discordjs/voice 0.19 talk to:
 * REST (http), gateway v10 (ws), voice gateway v8 (wss, self-signed certificate) and voice UDP.
 *
 * ```ts
 * const standIn = await startDiscordStandIn();
 * standIn.trustInThisProcess(); // or start the bot with NODE_EXTRA_CA_CERTS=standIn.caCertPath
 * const client = new Client({ intents: [Guilds, GuildVoiceStates], rest: { api: standIn.restApiUrl } });
 * await client.login('any-token');
 * ```
 */
import { GatewayIntentBits, PermissionFlagsBits as P } from 'discord-api-types/v10';
import type { APIInteraction, GatewayVoiceStateUpdateData } from 'discord-api-types/v10';
import { createStandInCertificate, trustCertificateInProcess } from './certs.ts';
import type { StandInCertificate } from './certs.ts';
import { GatewayServer } from './gateway.ts';
import type { GatewayReceived } from './gateway.ts';
import { randomHex, World } from './model.ts';
import type { GuildState } from './model.ts';
import { buildCommandInteraction } from './payloads.ts';
import type { CommandInteractionInit } from './payloads.ts';
import type { RecordLog, WaitOptions } from './record-log.ts';
import { RestServer } from './rest.ts';
import type { RateLimitOptions, RecordedRequest, RouteMatcher } from './rest.ts';
import { interactionRoutes } from './rest-interactions.ts';
import { coreRoutes } from './rest-routes.ts';
import type { StandInOptions } from './specs.ts';
import { VoiceGatewayServer } from './voice-gateway.ts';
import type { VoiceReceived, VoiceSession } from './voice-gateway.ts';
import type { DaveCall } from './dave-call.ts';
import { VoiceUdpServer } from './voice-udp.ts';
import type { SpeakOptions, TimedOpusPacket, UdpReceived } from './voice-udp.ts';

export { DEFAULT_IDS, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, defaultGuildSpec } from './specs.ts';
export type { ChannelSpec, GuildSpec, MemberSpec, OverwriteSpec, RoleSpec, StandInOptions, UserSpec } from './specs.ts';
export type { RateLimitOptions, RecordedFile, RecordedRequest, RouteMatcher } from './rest.ts';
export type { CommandInteractionInit } from './payloads.ts';
export type { SpeakOptions, TimedOpusPacket } from './voice-udp.ts';
export { SILENCE_FRAME } from './rtp.ts';
export type { DaveCall, DaveEvent, DaveFault, MemberMediaStats } from './dave-call.ts';

/** Starts every part of the stand-in on 127.0.0.1 (free ports). Call {@link DiscordStandIn.close} when done. */
export async function startDiscordStandIn(options: StandInOptions = {}): Promise<DiscordStandIn> {
  const world = new World(options);
  const certificate = await createStandInCertificate();
  const gateway = await GatewayServer.start(world, {
    ...(options.gatewayHeartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.gatewayHeartbeatIntervalMs }),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const hooks = {
    gatewayUrl: () => gateway.url,
    dispatch: (t: string, d: unknown, intent?: number) => {
      if (gateway.hasSession) gateway.dispatch(t, d, intent);
    },
  };
  const rest = await RestServer.start([...coreRoutes(world, hooks), ...interactionRoutes(world)], options.token);
  const udp = await VoiceUdpServer.start();
  let nextSsrc = 0x1000 + Math.floor(Math.random() * 0xffff);
  const voice = await VoiceGatewayServer.start({
    keyPem: certificate.keyPem,
    certPem: certificate.certPem,
    udpPort: () => udp.port,
    allocateSsrc: () => nextSsrc++,
    ...(options.voiceHeartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.voiceHeartbeatIntervalMs }),
    ...(options.requireDave === undefined ? {} : { requireDave: options.requireDave }),
    ...(options.daveProtocolVersion === undefined ? {} : { daveProtocolVersion: options.daveProtocolVersion }),
    ...(options.dave === undefined ? {} : { dave: options.dave }),
  });
  return new DiscordStandIn(world, certificate, rest, gateway, voice, udp, () => nextSsrc++);
}

/** The running stand-in. Fields and methods cite the Discord behaviour they imitate. */
export class DiscordStandIn {
  /** Users, guilds, channels, members, voice states, messages and commands; tests may read and adjust it. */
  readonly world: World;
  readonly #certificate: StandInCertificate;
  readonly #rest: RestServer;
  readonly #gateway: GatewayServer;
  readonly #voice: VoiceGatewayServer;
  readonly #udp: VoiceUdpServer;
  readonly #allocateSsrc: () => number;
  readonly #ssrcs = new Map<string, number>();
  #untrust: (() => void) | undefined;

  constructor(
    world: World,
    certificate: StandInCertificate,
    rest: RestServer,
    gateway: GatewayServer,
    voice: VoiceGatewayServer,
    udp: VoiceUdpServer,
    allocateSsrc: () => number,
  ) {
    this.world = world;
    this.#certificate = certificate;
    this.#rest = rest;
    this.#gateway = gateway;
    this.#voice = voice;
    this.#udp = udp;
    this.#allocateSsrc = allocateSsrc;
    gateway.onVoiceStateUpdate = (d) => this.#onBotVoiceStateUpdate(d);
    voice.membersInChannel = (grant) =>
      [...this.world.guild(grant.guildId).voiceStates.values()]
        .filter((s) => s.channelId === grant.channelId && s.userId !== grant.userId)
        .map((s) => s.userId);
    udp.isKnownSsrc = (ssrc) => [...this.world.guilds.keys()].some((id) => voice.sessionFor(id)?.ssrc === ssrc);
  }

  /** `http://127.0.0.1:PORT/api`: pass as `rest: { api }`; the client requests `/api/v10/...`. */
  get restApiUrl(): string {
    return this.#rest.apiUrl;
  }
  /** `ws://127.0.0.1:PORT`, served by GET /gateway/bot. */
  get gatewayUrl(): string {
    return this.#gateway.url;
  }
  /** `127.0.0.1:PORT`, the `endpoint` of VOICE_SERVER_UPDATE. */
  get voiceEndpoint(): string {
    return this.#voice.endpoint;
  }
  /** PEM file of the voice gateway's certificate, for `NODE_EXTRA_CA_CERTS`. */
  get caCertPath(): string {
    return this.#certificate.caCertPath;
  }
  get caCertPem(): string {
    return this.#certificate.certPem;
  }
  get botUserId(): string {
    return this.world.botUserId;
  }
  get applicationId(): string {
    return this.world.applicationId;
  }

  /** Trusts the voice certificate in this process (see certs.ts); undone by {@link close}. */
  trustInThisProcess(): void {
    this.#untrust ??= trustCertificateInProcess(this.#certificate.certPem);
  }

  // ── REST ──────────────────────────────────────────────────────────────────────────────────────────

  /** Every REST request, in order (unknown routes too, answered 404 `{message: '404: Not Found', code: 0}`). */
  get requests(): readonly RecordedRequest[] {
    return this.#rest.requests.entries;
  }
  /** Resolves on a recorded or future request matching `predicate`. */
  waitForRequest(predicate: (request: RecordedRequest) => boolean, options?: WaitOptions): Promise<RecordedRequest> {
    return this.#rest.waitForRequest(predicate, options);
  }
  /** Answers the next `count` matching requests with 429 (see RestServer.rateLimitNext). */
  rateLimitNext(matcher: RouteMatcher, options: RateLimitOptions): void {
    this.#rest.rateLimitNext(matcher, options);
  }

  // ── Gateway ───────────────────────────────────────────────────────────────────────────────────────

  /** Payloads the bot sent over the gateway (op 1, 2, 3, 4, 6, 8). */
  get gatewayPayloads(): RecordLog<GatewayReceived> {
    return this.#gateway.received;
  }
  /** Sends any dispatch event to the bot (`t` e.g. 'CHANNEL_UPDATE'). Throws before the bot identified. */
  dispatch(t: string, d: unknown): void {
    this.#gateway.dispatch(t, d);
  }
  /** Sends op 7 Reconnect; the client resumes and gets missed dispatches replayed, then RESUMED. */
  requestGatewayReconnect(): void {
    this.#gateway.requestReconnect();
  }
  /** Closes the bot's gateway connection with `code`, keeping the session (4000: the client resumes). */
  dropGatewayConnection(code = 4000): void {
    this.#gateway.dropConnection(code);
  }
  /**
   * Makes the gateway unreachable for the bot's next connections: they are accepted but get no HELLO until the
   * returned function is called (then they proceed, and the bot resumes). Pair with {@link dropGatewayConnection}.
   */
  holdGatewayConnections(): () => void {
    return this.#gateway.holdConnections();
  }
  /** Gateway connections accepted while held, in order. */
  get gatewayConnectionsHeld(): RecordLog<{ at: number }> {
    return this.#gateway.connectionsHeld;
  }
  /** A realistic guild chat-input command interaction payload, permissions computed from the world. */
  buildCommandInteraction(init: CommandInteractionInit): ReturnType<typeof buildCommandInteraction> {
    return buildCommandInteraction(this.world, init);
  }
  /** Delivers INTERACTION_CREATE and accepts its callback and webhook routes (token = `payload.token`). */
  sendInteraction(payload: APIInteraction): void {
    const userId = payload.member?.user.id ?? payload.user?.id ?? '';
    const data = payload.data as { name?: string } | undefined;
    this.world.interactions.set(payload.token, {
      id: payload.id,
      token: payload.token,
      guildId: payload.guild_id ?? '',
      channelId: payload.channel?.id ?? payload.channel_id ?? '',
      userId,
      commandName: data?.name ?? '',
    });
    this.#gateway.dispatch('INTERACTION_CREATE', payload);
  }

  /**
   * Moves a member into a voice channel (or out, with `null`): updates the guild and dispatches VOICE_STATE_UPDATE
   * (intent GUILD_VOICE_STATES). If the bot's voice session is in that channel, sends CLIENTS_CONNECT (op 11) or
   * CLIENT_DISCONNECT (op 13), which @discordjs/voice uses to forget the member's SSRC. Moving the bot itself
   * works like an admin move (new VOICE_SERVER_UPDATE) or a kick (`null`).
   */
  setVoiceState(userId: string, channelId: string | null, options: { guildId?: string; selfMute?: boolean; selfDeaf?: boolean } = {}): void {
    const guild = this.#guildOfMember(userId, options.guildId);
    if (userId === this.botUserId) {
      if (channelId === null) this.disconnectBotFromVoice(guild.id);
      else this.#joinBot(guild, channelId, { selfMute: options.selfMute ?? false, selfDeaf: options.selfDeaf ?? false });
      return;
    }
    const previous = guild.voiceStates.get(userId);
    if (channelId === null) guild.voiceStates.delete(userId);
    else {
      guild.voiceStates.set(userId, {
        userId,
        channelId,
        sessionId: previous?.sessionId ?? randomHex(16),
        selfMute: options.selfMute ?? false,
        selfDeaf: options.selfDeaf ?? false,
      });
    }
    this.#dispatchVoiceState(guild, userId);
    const session = this.#voice.sessionFor(guild.id);
    if (session && channelId === session.grant.channelId && previous?.channelId !== channelId) {
      session.send(11, { user_ids: [userId] });
    } else if (session && previous?.channelId === session.grant.channelId && channelId !== previous.channelId) {
      session.send(13, { user_id: userId });
      session.streams.delete(userId);
    }
    // After op 11: clients refuse Add proposals for users not announced as connected (protocol.md "Member Add").
    if (previous?.channelId !== channelId) {
      if (previous) this.#voice.daveCalls.get(previous.channelId)?.leaves(userId);
      if (channelId !== null) this.#voice.daveCalls.get(channelId)?.memberJoins(userId);
    }
  }

  /** Simulates a kick from voice: VOICE_STATE_UPDATE with channel_id null for the bot, and the voice WebSocket closed with 4014 (Disconnected). */
  disconnectBotFromVoice(guildId?: string): void {
    const guild = this.world.guild(guildId);
    const had = guild.voiceStates.get(this.botUserId);
    guild.voiceStates.delete(this.botUserId);
    if (had) this.#dispatchVoiceState(guild, this.botUserId, had.sessionId);
    this.#voice.endSession(guild.id, 4014);
  }

  // ── Voice ─────────────────────────────────────────────────────────────────────────────────────────

  /** Messages the bot sent to the voice gateway. */
  get voicePayloads(): RecordLog<VoiceReceived> {
    return this.#voice.received;
  }
  /** Datagrams the bot sent to the voice UDP socket. */
  get udpDatagrams(): RecordLog<UdpReceived> {
    return this.#udp.received;
  }
  /** Resolves once the bot's voice session in the guild got its Session Description. */
  async waitForVoiceReady(guildId?: string, options?: WaitOptions): Promise<void> {
    await this.#voice.waitForReady(this.world.guild(guildId).id, options);
  }
  /**
   * The DAVE v1 call in a voice channel (default: the bot's current one), with its faults and per-member media
   * counts; undefined when the stand-in runs DAVE version 0 or nobody has joined with DAVE v1 there yet.
   */
  daveCall(channelId?: string): DaveCall | undefined {
    const id = channelId ?? this.#voice.sessionFor(this.world.guild().id)?.grant.channelId;
    return id === undefined ? undefined : this.#voice.daveCalls.get(id);
  }
  /** The SSRC the stand-in uses for `userId`'s audio (stable for the stand-in's lifetime). */
  ssrcOf(userId: string): number {
    let ssrc = this.#ssrcs.get(userId);
    if (ssrc === undefined) {
      ssrc = this.#allocateSsrc();
      this.#ssrcs.set(userId, ssrc);
    }
    return ssrc;
  }

  /**
   * Makes a member speak: SPEAKING (op 5 `{user_id, ssrc, speaking: 1}`, which @discordjs/voice's VoiceReceiver
   * maps ssrc → user with), a WebSocket round trip so the bot has handled it, then the Opus packets as encrypted RTP
   * from the member's SSRC. Requires the member and the bot's ready voice session in the same channel.
   * Resolves with how many packets were sent (fewer if the session closed meanwhile).
   */
  async memberSpeak(userId: string, packets: readonly TimedOpusPacket[], options: SpeakOptions & { announce?: boolean } = {}): Promise<{ sent: number }> {
    const guild = this.#guildOfMember(userId);
    const state = guild.voiceStates.get(userId);
    const session = this.#readySession(guild.id);
    if (state?.channelId !== session.grant.channelId) {
      throw new Error(`User ${userId} is not in the bot's voice channel ${session.grant.channelId}`);
    }
    let stream = session.streams.get(userId);
    if (!stream) {
      stream = { ssrc: this.ssrcOf(userId), sequence: randomInt(16), timestampBase: randomInt(32), epochMs: undefined };
      session.streams.set(userId, stream);
    }
    if (options.announce !== false) {
      session.send(5, { user_id: userId, ssrc: stream.ssrc, speaking: 1 });
      await session.flush();
    }
    const call = session.daveProtocolVersion > 0 ? this.#voice.daveCalls.get(session.grant.channelId) : undefined;
    const encode = call ? (opus: Buffer) => call.encode(userId, opus) : undefined;
    return { sent: await this.#udp.sendStream(session, stream, packets, { ...options, ...(encode ? { encode } : {}) }) };
  }

  /** Sends raw bytes from the voice server to the bot's media address (corrupt-packet tests). */
  async sendRawUdp(buffer: Buffer, guildId?: string): Promise<void> {
    const session = this.#readySession(this.world.guild(guildId).id);
    if (!session.remote) throw new Error('The bot has not selected a protocol');
    await this.#udp.sendRaw(buffer, session.remote);
  }

  /** Closes the bot's voice WebSocket with `code` keeping the session; 4015 (voice server crashed) makes @discordjs/voice RESUME. */
  dropVoiceConnection(guildId?: string, code = 4015): void {
    this.#voice.sessionFor(this.world.guild(guildId).id)?.socket?.close(code, 'stand-in dropped the connection');
  }

  /** Stops everything and restores this process's TLS trust store. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#gateway.close(), this.#voice.close(), this.#udp.close(), this.#rest.close()]);
    await this.#certificate.remove();
    this.#untrust?.();
    this.#untrust = undefined;
  }

  #readySession(guildId: string): VoiceSession {
    const session = this.#voice.sessionFor(guildId);
    if (!session || session.status !== 'ready') throw new Error(`The bot has no ready voice session in guild ${guildId}`);
    return session;
  }

  #guildOfMember(userId: string, guildId?: string): GuildState {
    if (guildId) return this.world.guild(guildId);
    for (const guild of this.world.guilds.values()) if (guild.members.has(userId)) return guild;
    throw new Error(`User ${userId} is not a member of any guild`);
  }

  #dispatchVoiceState(guild: GuildState, userId: string, sessionId?: string): void {
    if (!this.#gateway.hasSession) return;
    const state = guild.voiceStates.get(userId);
    const payload = this.world.voiceStatePayload(guild, userId, state, sessionId ?? randomHex(16));
    this.#gateway.dispatch('VOICE_STATE_UPDATE', payload, GatewayIntentBits.GuildVoiceStates);
  }

  /** Op 4 from the bot (discord-api-docs Voice Connections "Retrieving Voice Server Information"). */
  #onBotVoiceStateUpdate(d: GatewayVoiceStateUpdateData): void {
    const guild = this.world.guilds.get(d.guild_id);
    if (!guild) return;
    if (d.channel_id === null) {
      const had = guild.voiceStates.get(this.botUserId);
      guild.voiceStates.delete(this.botUserId);
      this.#voice.endSession(guild.id, 4014);
      if (had) this.#dispatchVoiceState(guild, this.botUserId, had.sessionId);
      return;
    }
    this.#joinBot(guild, d.channel_id, { selfMute: d.self_mute, selfDeaf: d.self_deaf });
  }

  /**
   * Puts the bot in a voice channel: VOICE_STATE_UPDATE, then VOICE_SERVER_UPDATE with a fresh token unless the
   * bot's voice session is already live in that channel (then only the state changes, e.g. self_deaf).
   * Without View Channel + Connect, or when the channel is full, Discord sends nothing; so does the stand-in.
   */
  #joinBot(guild: GuildState, channelId: string, flags: { selfMute: boolean; selfDeaf: boolean }): void {
    const channel = guild.channels.get(channelId);
    if (!channel || (channel.type !== 2 && channel.type !== 13)) return;
    const perms = guild.permissionsFor(this.botUserId, channelId);
    if ((perms & (P.ViewChannel | P.Connect)) !== (P.ViewChannel | P.Connect)) return;
    const limit = 'user_limit' in channel ? (channel.user_limit ?? 0) : 0;
    const inChannel = [...guild.voiceStates.values()].filter((s) => s.channelId === channelId && s.userId !== this.botUserId).length;
    if (limit > 0 && inChannel >= limit && (perms & P.ManageChannels) === 0n) return;
    const sessionId = this.#gateway.sessionId ?? randomHex(16);
    guild.voiceStates.set(this.botUserId, { userId: this.botUserId, channelId, sessionId, ...flags });
    this.#dispatchVoiceState(guild, this.botUserId);
    const live = this.#voice.sessionFor(guild.id);
    const socket = live?.grant.channelId === channelId ? live.socket : undefined;
    if (socket && socket.readyState === socket.OPEN) return;
    const token = randomHex(8);
    this.#voice.grant({ guildId: guild.id, channelId, userId: this.botUserId, sessionId, token });
    this.#gateway.dispatch('VOICE_SERVER_UPDATE', { token, guild_id: guild.id, endpoint: this.#voice.endpoint });
  }
}

function randomInt(bits: number): number {
  return Math.floor(Math.random() * 2 ** bits);
}
