/**
 * How tests describe the world the stand-in serves, and the default world: one guild with a voice channel
 * "Meeting", a text channel "captions", the bot and two humans, "Katie" (the owner) and "Steve", both in
 * the voice channel.
 */
import type { DaveCallOptions } from './dave-call.ts';
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';

/** A user. `globalName` is the display name (discord-api-docs "User Object": global_name). */
export interface UserSpec {
  id?: string;
  username: string;
  /** Display name; defaults to `username`; `null` for none. */
  globalName?: string | null;
  bot?: boolean;
}

/** A member of a guild. */
export interface MemberSpec extends UserSpec {
  nick?: string | null;
  roleIds?: string[];
  /** The voice channel the member is connected to when the stand-in starts. */
  voiceChannelId?: string | null;
}

/** A permission overwrite (discord-api-docs "Overwrite Object"); `id` is a role id (the guild id for @everyone) or user id. */
export interface OverwriteSpec {
  id: string;
  type: 'role' | 'member';
  allow?: bigint;
  deny?: bigint;
}

/** A guild channel. `type` defaults to a text channel. */
export interface ChannelSpec {
  id?: string;
  name: string;
  type?: ChannelType.GuildText | ChannelType.GuildVoice | ChannelType.GuildStageVoice | ChannelType.GuildCategory;
  parentId?: string;
  topic?: string;
  userLimit?: number;
  permissionOverwrites?: OverwriteSpec[];
}

/** A role other than @everyone and the bot's managed role. */
export interface RoleSpec {
  id?: string;
  name: string;
  permissions: bigint;
}

/** A guild. The bot is always a member (with the managed bot role when `botRolePermissions` is set). */
export interface GuildSpec {
  id?: string;
  name?: string;
  /** Defaults to the first member. The owner has every permission. */
  ownerId?: string;
  /** Permissions of @everyone (the role whose id is the guild id). */
  everyonePermissions?: bigint;
  /** Permissions of the bot's managed role; no bot role when undefined. */
  botRolePermissions?: bigint;
  botRoleId?: string;
  roles?: RoleSpec[];
  channels?: ChannelSpec[];
  members?: MemberSpec[];
}

/** Options of `startDiscordStandIn`. */
export interface StandInOptions {
  botUserId?: string;
  /** Defaults to the bot user id (as for applications created since 2020). */
  applicationId?: string;
  botUsername?: string;
  /** Defaults to `[defaultGuildSpec()]`. */
  guilds?: GuildSpec[];
  /** When set, REST calls and IDENTIFY with another token fail (401 / close 4004) as on Discord. */
  token?: string;
  /** Voice gateway heartbeat interval sent in HELLO (Discord sends about 13 750 ms). */
  voiceHeartbeatIntervalMs?: number;
  /** Gateway heartbeat interval sent in HELLO (Discord sends 41 250 ms). */
  gatewayHeartbeatIntervalMs?: number;
  /** Close voice IDENTIFYs with `max_dave_protocol_version` < 1 with 4017, as Discord does since 2026-03-01. */
  requireDave?: boolean;
  /**
   * The DAVE protocol version the voice gateway runs (0: transport encryption only, the default; 1: end-to-end
   * encryption over MLS, what every Discord call runs since 2026-03-01; see dave-call.ts).
   */
  daveProtocolVersion?: 0 | 1;
  /** Options of DAVE v1 calls. */
  dave?: DaveCallOptions;
}

/** Fixed ids of the default world. */
export const DEFAULT_IDS = {
  botUserId: '1309000000000000001',
  guildId: '1309000000000000100',
  botRoleId: '1309000000000000101',
  voiceChannelId: '1309000000000000200',
  textChannelId: '1309000000000000201',
  katieId: '1309000000000000301',
  steveId: '1309000000000000302',
} as const;

/** Default permissions of @everyone: what a fresh guild grants, minus admin-ish bits. */
export const DEFAULT_EVERYONE_PERMISSIONS: bigint =
  P.ViewChannel | P.CreateInstantInvite | P.ChangeNickname | P.SendMessages | P.SendMessagesInThreads |
  P.CreatePublicThreads | P.EmbedLinks | P.AttachFiles | P.AddReactions | P.ReadMessageHistory |
  P.UseApplicationCommands | P.Connect | P.Speak | P.UseVAD | P.Stream;

/** Default permissions of the bot's managed role: what NOTES.md lists for a caption bot, plus nickname. */
export const DEFAULT_BOT_PERMISSIONS: bigint =
  P.ViewChannel | P.Connect | P.SendMessages | P.EmbedLinks | P.AttachFiles | P.ReadMessageHistory |
  P.CreatePublicThreads | P.SendMessagesInThreads | P.ChangeNickname | P.UseApplicationCommands;

/**
 * The default guild. The "captions" channel is read-only for @everyone (overwrite denies Send Messages and
 * Create Public Threads) and writable for the bot role (overwrite allows them, with Embed Links and Attach Files).
 */
export function defaultGuildSpec(): GuildSpec {
  const id = DEFAULT_IDS;
  return {
    id: id.guildId,
    name: 'Parley Test Guild',
    ownerId: id.katieId,
    everyonePermissions: DEFAULT_EVERYONE_PERMISSIONS,
    botRolePermissions: DEFAULT_BOT_PERMISSIONS,
    botRoleId: id.botRoleId,
    channels: [
      {
        id: id.voiceChannelId,
        name: 'Meeting',
        type: ChannelType.GuildVoice,
        permissionOverwrites: [{ id: id.botRoleId, type: 'role', allow: P.ViewChannel | P.Connect }],
      },
      {
        id: id.textChannelId,
        name: 'captions',
        type: ChannelType.GuildText,
        topic: 'Live captions',
        permissionOverwrites: [
          { id: id.guildId, type: 'role', deny: P.SendMessages | P.CreatePublicThreads },
          {
            id: id.botRoleId,
            type: 'role',
            allow: P.SendMessages | P.EmbedLinks | P.AttachFiles | P.CreatePublicThreads | P.SendMessagesInThreads,
          },
        ],
      },
    ],
    members: [
      { id: id.katieId, username: 'katie', globalName: 'Katie', voiceChannelId: id.voiceChannelId },
      { id: id.steveId, username: 'steve_s', globalName: 'Steve', voiceChannelId: id.voiceChannelId },
    ],
  };
}
