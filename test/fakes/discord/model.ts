/**
 * The stand-in's world: users, guilds (roles, channels, members, voice states), messages and commands, and
 * how each renders as a Discord API object (discord-api-docs "Resources": User, Guild, Channel, Voice).
 */
import { ChannelType, OverwriteType } from 'discord-api-types/v10';
import type {
  APIApplicationCommand,
  APIGuildCategoryChannel,
  APIGuildMember,
  APIGuildStageVoiceChannel,
  APIGuildVoiceChannel,
  APIMessage,
  APIOverwrite,
  APIRole,
  APITextChannel,
  APIThreadChannel,
  APIUser,
  GatewayVoiceState,
  GuildMemberFlags,
  RoleFlags,
  UserFlags,
} from 'discord-api-types/v10';
import { computePermissions } from './permissions.ts';
import type { ChannelSpec, GuildSpec, StandInOptions, UserSpec } from './specs.ts';
import { DEFAULT_IDS, defaultGuildSpec } from './specs.ts';

/** A guild channel as stored (and served) by the stand-in. */
export type StoredChannel =
  | APITextChannel
  | APIGuildVoiceChannel
  | APIGuildStageVoiceChannel
  | APIGuildCategoryChannel
  | APIThreadChannel;

/** A guild member (the user object lives in {@link World.users}). */
export interface MemberRecord {
  userId: string;
  nick: string | null;
  roles: string[];
  joinedAt: string;
  deaf: boolean;
  mute: boolean;
}

/** A member's voice connection state (discord-api-docs "Voice State Object"). */
export interface VoiceStateRecord {
  userId: string;
  channelId: string;
  sessionId: string;
  selfMute: boolean;
  selfDeaf: boolean;
}

/** An interaction delivered to the bot, and how it was answered. */
export interface InteractionRecord {
  id: string;
  token: string;
  guildId: string;
  channelId: string;
  userId: string;
  commandName: string;
  /** The callback type of the initial response, once there is one. */
  callbackType?: number;
  /** The message created by the initial response (types 4 and 5). */
  originalMessageId?: string;
}

/** Discord's epoch (discord-api-docs "Snowflakes"). */
const DISCORD_EPOCH = 1_420_070_400_000n;
const EPOCH_ISO = new Date('2024-11-20T12:00:00.000Z').toISOString();

/** Thread channel types (discord-api-docs "Channel Types"). */
export function isThread(type: ChannelType): boolean {
  return type === ChannelType.PublicThread || type === ChannelType.PrivateThread || type === ChannelType.AnnouncementThread;
}

/** Channel types that carry messages. */
export function isTextBased(type: ChannelType): boolean {
  return type !== ChannelType.GuildCategory && type !== ChannelType.GuildForum && type !== ChannelType.GuildMedia;
}

/** One guild's state. */
export class GuildState {
  readonly id: string;
  name: string;
  ownerId: string;
  readonly roles: APIRole[];
  readonly channels = new Map<string, StoredChannel>();
  readonly members = new Map<string, MemberRecord>();
  readonly voiceStates = new Map<string, VoiceStateRecord>();
  readonly joinedAt: string;

  constructor(id: string, name: string, ownerId: string, roles: APIRole[]) {
    this.id = id;
    this.name = name;
    this.ownerId = ownerId;
    this.roles = roles;
    this.joinedAt = EPOCH_ISO;
  }

  /** The permissions of `userId` in `channelId` (threads use their parent's overwrites), or guild-wide. */
  permissionsFor(userId: string, channelId?: string): bigint {
    const member = this.members.get(userId);
    if (!member) return 0n;
    const ctx = { guildId: this.id, ownerId: this.ownerId, roles: this.roles };
    let channel = channelId ? this.channels.get(channelId) : undefined;
    if (channel && isThread(channel.type) && channel.parent_id) channel = this.channels.get(channel.parent_id) ?? channel;
    if (channelId && !channel) return 0n;
    return computePermissions(ctx, userId, member.roles, channel?.permission_overwrites, {
      textBased: channel ? isTextBased(channel.type) : false,
    });
  }

  /** The id of the first channel named `name`. Throws when there is none. */
  channelIdByName(name: string): string {
    for (const channel of this.channels.values()) if (channel.name === name) return channel.id;
    throw new Error(`No channel named ${name} in guild ${this.id}`);
  }
}

/** Everything the stand-in knows. */
export class World {
  readonly botUserId: string;
  readonly applicationId: string;
  readonly applicationName: string;
  readonly users = new Map<string, APIUser>();
  readonly guilds = new Map<string, GuildState>();
  /** Messages by id (ephemeral ones too: they have flag 64). */
  readonly messages = new Map<string, APIMessage>();
  /** Interactions sent to the bot, by token. */
  readonly interactions = new Map<string, InteractionRecord>();
  globalCommands: APIApplicationCommand[] = [];
  readonly guildCommands = new Map<string, APIApplicationCommand[]>();
  /** Each voice channel's status text (Modify Voice Channel Status); null when cleared. */
  readonly voiceChannelStatus = new Map<string, string | null>();
  #increment = 0n;
  #lastMs = 0n;

  constructor(options: StandInOptions = {}) {
    this.botUserId = options.botUserId ?? DEFAULT_IDS.botUserId;
    this.applicationId = options.applicationId ?? this.botUserId;
    this.applicationName = options.botUsername ?? 'Parley';
    this.addUser({ id: this.botUserId, username: this.applicationName, globalName: null, bot: true });
    for (const spec of options.guilds ?? [defaultGuildSpec()]) this.addGuild(spec);
  }

  /** A fresh snowflake: milliseconds since the Discord epoch << 22, then a 22-bit increment. */
  nextId(): string {
    const ms = BigInt(Date.now()) - DISCORD_EPOCH;
    this.#increment = ms > this.#lastMs ? 0n : this.#increment + 1n;
    if (ms > this.#lastMs) this.#lastMs = ms;
    return ((this.#lastMs << 22n) | (1n << 17n) | (this.#increment & 0x1ffffn)).toString();
  }

  /** Adds (or replaces) a user. */
  addUser(spec: UserSpec & { id: string }): APIUser {
    const user: APIUser = {
      id: spec.id,
      username: spec.username,
      discriminator: '0',
      global_name: spec.globalName === undefined ? spec.username : spec.globalName,
      avatar: null,
      public_flags: 0 as UserFlags,
      ...(spec.bot ? { bot: true } : {}),
    };
    this.users.set(user.id, user);
    return user;
  }

  /** The user object of `userId`. Throws for unknown users. */
  user(userId: string): APIUser {
    const user = this.users.get(userId);
    if (!user) throw new Error(`Unknown user ${userId}`);
    return user;
  }

  /** The guild `guildId` (default: the first guild). Throws for unknown guilds. */
  guild(guildId?: string): GuildState {
    const guild = guildId ? this.guilds.get(guildId) : this.guilds.values().next().value;
    if (!guild) throw new Error(`Unknown guild ${guildId ?? '(default)'}`);
    return guild;
  }

  /** The guild and channel of `channelId`, if any. */
  findChannel(channelId: string): { guild: GuildState; channel: StoredChannel } | undefined {
    for (const guild of this.guilds.values()) {
      const channel = guild.channels.get(channelId);
      if (channel) return { guild, channel };
    }
    return undefined;
  }

  /** A guild member object (discord-api-docs "Guild Member Object"). */
  memberPayload(guild: GuildState, userId: string): APIGuildMember {
    const member = guild.members.get(userId);
    if (!member) throw new Error(`User ${userId} is not a member of guild ${guild.id}`);
    return {
      user: this.user(userId),
      nick: member.nick,
      avatar: null,
      banner: null,
      roles: [...member.roles],
      joined_at: member.joinedAt,
      premium_since: null,
      deaf: member.deaf,
      mute: member.mute,
      flags: 0 as GuildMemberFlags,
      pending: false,
      communication_disabled_until: null,
    };
  }

  /** A voice state object as dispatched in VOICE_STATE_UPDATE (with guild_id and member). */
  voiceStatePayload(guild: GuildState, userId: string, state: VoiceStateRecord | undefined, sessionId: string): GatewayVoiceState {
    return {
      guild_id: guild.id,
      channel_id: state?.channelId ?? null,
      user_id: userId,
      member: this.memberPayload(guild, userId),
      session_id: state?.sessionId ?? sessionId,
      deaf: false,
      mute: false,
      self_deaf: state?.selfDeaf ?? false,
      self_mute: state?.selfMute ?? false,
      self_video: false,
      suppress: false,
      request_to_speak_timestamp: null,
    };
  }

  /** Adds a guild from a spec: @everyone, the bot's managed role, channels, the bot and the members with their voice states. */
  addGuild(spec: GuildSpec): GuildState {
    const guildId = spec.id ?? this.nextId();
    const everyone: APIRole = roleObject(guildId, '@everyone', spec.everyonePermissions ?? 0n, 0);
    const roles = [everyone];
    const botRoleId = spec.botRoleId ?? this.nextId();
    if (spec.botRolePermissions !== undefined) {
      roles.push({ ...roleObject(botRoleId, this.applicationName, spec.botRolePermissions, 1), managed: true, tags: { bot_id: this.botUserId } });
    }
    for (const [index, role] of (spec.roles ?? []).entries()) {
      roles.push(roleObject(role.id ?? this.nextId(), role.name, role.permissions, index + 2));
    }
    const members = spec.members ?? [];
    const guild = new GuildState(guildId, spec.name ?? 'Parley Test Guild', spec.ownerId ?? members[0]?.id ?? this.botUserId, roles);
    for (const [position, channelSpec] of (spec.channels ?? []).entries()) {
      const channel = channelObject(guildId, channelSpec.id ?? this.nextId(), channelSpec, position);
      guild.channels.set(channel.id, channel);
    }
    const botRoles = spec.botRolePermissions !== undefined ? [botRoleId] : [];
    guild.members.set(this.botUserId, { userId: this.botUserId, nick: null, roles: botRoles, joinedAt: EPOCH_ISO, deaf: false, mute: false });
    for (const member of members) {
      const id = member.id ?? this.nextId();
      this.addUser({ ...member, id });
      guild.members.set(id, { userId: id, nick: member.nick ?? null, roles: member.roleIds ?? [], joinedAt: EPOCH_ISO, deaf: false, mute: false });
      if (member.voiceChannelId) {
        guild.voiceStates.set(id, { userId: id, channelId: member.voiceChannelId, sessionId: randomHex(16), selfMute: false, selfDeaf: false });
      }
    }
    this.guilds.set(guildId, guild);
    return guild;
  }
}

/** A role object (discord-api-docs "Role Object"). */
function roleObject(id: string, name: string, permissions: bigint, position: number): APIRole {
  return {
    id,
    name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: permissions.toString(),
    managed: false,
    mentionable: false,
    flags: 0 as RoleFlags,
  };
}

/** Turns a {@link ChannelSpec} into a channel object (discord-api-docs "Channel Object"). */
function channelObject(guildId: string, id: string, spec: ChannelSpec, position: number): StoredChannel {
  const permission_overwrites: APIOverwrite[] = (spec.permissionOverwrites ?? []).map((o) => ({
    id: o.id,
    type: o.type === 'member' ? OverwriteType.Member : OverwriteType.Role,
    allow: (o.allow ?? 0n).toString(),
    deny: (o.deny ?? 0n).toString(),
  }));
  const common = { id, guild_id: guildId, name: spec.name, position, permission_overwrites, flags: 0, nsfw: false };
  const parent_id = spec.parentId ?? null;
  switch (spec.type ?? ChannelType.GuildText) {
    case ChannelType.GuildVoice:
      return { ...common, type: ChannelType.GuildVoice, parent_id, bitrate: 64_000, user_limit: spec.userLimit ?? 0, rtc_region: null, last_message_id: null, rate_limit_per_user: 0 };
    case ChannelType.GuildStageVoice:
      return { ...common, type: ChannelType.GuildStageVoice, parent_id, bitrate: 64_000, user_limit: spec.userLimit ?? 0, rtc_region: null, last_message_id: null, rate_limit_per_user: 0 };
    case ChannelType.GuildCategory:
      return { ...common, type: ChannelType.GuildCategory };
    default:
      return { ...common, type: ChannelType.GuildText, parent_id, topic: spec.topic ?? null, last_message_id: null, rate_limit_per_user: 0 };
  }
}

/** `bytes` random bytes as lowercase hex (session ids and tokens). */
export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
