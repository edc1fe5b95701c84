/**
 * Discord API objects built from the stand-in's {@link World}: GUILD_CREATE, READY, the application, messages
 * and application command interactions. Field lists follow discord-api-docs (Gateway Events, Application,
 * Message, Interaction) and are checked against discord-api-types v10.
 */
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  GatewayIntentBits,
  InteractionContextType,
  InteractionType,
  Locale,
  MessageType,
} from 'discord-api-types/v10';
import type {
  APIApplication,
  APIApplicationCommandInteractionDataOption,
  APIAttachment,
  APIChatInputApplicationCommandGuildInteraction,
  APIEmbed,
  APIGuildMember,
  APIInteractionDataResolved,
  APIMessage,
  APIMessageInteractionMetadata,
  APIUser,
  ApplicationFlags,
  GatewayGuildCreateDispatchData,
  GatewayReadyDispatchData,
  MessageFlags,
} from 'discord-api-types/v10';
import { isThread, randomHex } from './model.ts';
import type { GuildState, World } from './model.ts';

/** Application flags sent in READY and GET /applications/@me: GATEWAY_GUILD_MEMBERS_LIMITED | APPLICATION_COMMAND_BADGE. */
const APPLICATION_FLAGS = ((1 << 15) | (1 << 23)) as ApplicationFlags;

/** The READY payload (discord-api-docs Gateway Events "Ready"): guilds start unavailable. */
export function readyPayload(world: World, sessionId: string, resumeUrl: string): GatewayReadyDispatchData {
  return {
    v: 10,
    user: { ...world.user(world.botUserId), verified: true, mfa_enabled: false, flags: 0 as NonNullable<APIUser['flags']> },
    guilds: [...world.guilds.keys()].map((id) => ({ id, unavailable: true })),
    session_id: sessionId,
    resume_gateway_url: resumeUrl,
    shard: [0, 1],
    application: { id: world.applicationId, flags: APPLICATION_FLAGS, flags_new: String(APPLICATION_FLAGS) },
  };
}

/**
 * GUILD_CREATE for `guild` (discord-api-docs Gateway Events "Guild Create"): without the GUILD_PRESENCES intent,
 * `members` "will only contain your bot and users in voice channels"; with it, the stand-in sends every member.
 * Channel objects omit `guild_id`, as in guild dispatches.
 */
export function guildCreatePayload(world: World, guild: GuildState, intents: number): GatewayGuildCreateDispatchData {
  const allMembers = (intents & GatewayIntentBits.GuildPresences) !== 0;
  const memberIds = [...guild.members.keys()].filter(
    (id) => allMembers || id === world.botUserId || guild.voiceStates.has(id),
  );
  const channels: GatewayGuildCreateDispatchData['channels'] = [];
  const threads: GatewayGuildCreateDispatchData['threads'] = [];
  for (const channel of guild.channels.values()) {
    const { guild_id: _omitted, ...rest } = channel;
    if (rest.type === 0 || rest.type === 2 || rest.type === 4 || rest.type === 13) channels.push(rest);
    else if (isThread(rest.type)) threads.push(rest as GatewayGuildCreateDispatchData['threads'][number]);
  }
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    widget_enabled: false,
    widget_channel_id: null,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: guild.roles.map((role) => ({ ...role })),
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0 as GatewayGuildCreateDispatchData['system_channel_flags'],
    rules_channel_id: null,
    max_presences: null,
    max_members: 500_000,
    vanity_url_code: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: Locale.EnglishUS,
    public_updates_channel_id: null,
    max_video_channel_users: 25,
    max_stage_video_channel_users: 50,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    hub_type: null,
    safety_alerts_channel_id: null,
    incidents_data: null,
    joined_at: guild.joinedAt,
    large: false,
    unavailable: false,
    member_count: guild.members.size,
    voice_states: [...guild.voiceStates.values()].map((state) => ({
      channel_id: state.channelId,
      user_id: state.userId,
      session_id: state.sessionId,
      deaf: false,
      mute: false,
      self_deaf: state.selfDeaf,
      self_mute: state.selfMute,
      self_video: false,
      suppress: false,
      request_to_speak_timestamp: null,
    })),
    members: memberIds.map((id) => world.memberPayload(guild, id)),
    channels,
    threads,
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

/** GET /applications/@me (discord-api-docs Application "Get Current Application"). */
export function applicationPayload(world: World): APIApplication {
  return {
    id: world.applicationId,
    name: world.applicationName,
    icon: null,
    description: 'Live captions for voice channels',
    bot_public: false,
    bot_require_code_grant: false,
    bot: world.user(world.botUserId),
    summary: '',
    verify_key: randomHex(32),
    team: null,
    flags: APPLICATION_FLAGS,
    flags_new: String(APPLICATION_FLAGS),
    approximate_guild_count: world.guilds.size,
    integration_types_config: { [ApplicationIntegrationType.GuildInstall]: {} },
  };
}

/** What {@link messageObject} needs. */
export interface MessageInit {
  channelId: string;
  author: APIUser;
  content?: string;
  embeds?: APIEmbed[];
  attachments?: APIAttachment[];
  flags?: number;
  type?: MessageType;
  webhookId?: string;
  applicationId?: string;
  interactionMetadata?: APIMessageInteractionMetadata;
  mentions?: APIUser[];
  nonce?: string | number;
  tts?: boolean;
}

/** A message object (discord-api-docs Message "Message Object") as REST returns it (no guild_id/member). */
export function messageObject(world: World, init: MessageInit): APIMessage {
  return {
    id: world.nextId(),
    channel_id: init.channelId,
    author: init.author,
    content: init.content ?? '',
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: init.tts ?? false,
    mention_everyone: false,
    mentions: init.mentions ?? [],
    mention_roles: [],
    attachments: init.attachments ?? [],
    embeds: init.embeds ?? [],
    pinned: false,
    type: init.type ?? MessageType.Default,
    flags: (init.flags ?? 0) as MessageFlags,
    components: [],
    ...(init.nonce === undefined ? {} : { nonce: init.nonce }),
    ...(init.webhookId ? { webhook_id: init.webhookId } : {}),
    ...(init.applicationId ? { application_id: init.applicationId } : {}),
    ...(init.interactionMetadata ? { interaction_metadata: init.interactionMetadata } : {}),
  };
}

/** Options of {@link buildCommandInteraction}. */
export interface CommandInteractionInit {
  commandName: string;
  /** Defaults to the first guild. */
  guildId?: string;
  /** Defaults to the guild's first text channel. */
  channelId?: string;
  /** The invoking member; defaults to the guild owner. */
  userId?: string;
  /** Raw options, or a name → value map (string → STRING, integer → INTEGER, other number → NUMBER, boolean → BOOLEAN). */
  options?: APIApplicationCommandInteractionDataOption[] | Record<string, string | number | boolean>;
  resolved?: APIInteractionDataResolved;
  /** Defaults to the bot's computed permissions in the channel. */
  appPermissions?: bigint;
  /** Defaults to the registered command's id, or a fresh snowflake. */
  commandId?: string;
  locale?: Locale;
  /** The guild's attachment size limit Discord reports, bytes; default 10 MiB (a guild without boosts). */
  attachmentSizeLimit?: number;
}

/**
 * A realistic guild chat-input command interaction (discord-api-docs Interactions "Interaction Object"),
 * as Discord delivers it in INTERACTION_CREATE. Permissions are computed from the world.
 */
export function buildCommandInteraction(world: World, init: CommandInteractionInit): APIChatInputApplicationCommandGuildInteraction {
  const guild = world.guild(init.guildId);
  const channelId = init.channelId ?? [...guild.channels.values()].find((c) => c.type === 0)?.id;
  if (!channelId) throw new Error(`Guild ${guild.id} has no text channel`);
  const channel = guild.channels.get(channelId);
  if (!channel) throw new Error(`Unknown channel ${channelId} in guild ${guild.id}`);
  const userId = init.userId ?? guild.ownerId;
  const member: APIGuildMember & { permissions: string; user: APIUser } = {
    ...world.memberPayload(guild, userId),
    user: world.user(userId),
    permissions: guild.permissionsFor(userId, channelId).toString(),
  };
  const registered = [...(world.guildCommands.get(guild.id) ?? []), ...world.globalCommands].find(
    (command) => command.name === init.commandName,
  );
  return {
    id: world.nextId(),
    application_id: world.applicationId,
    type: InteractionType.ApplicationCommand,
    data: {
      id: init.commandId ?? registered?.id ?? world.nextId(),
      name: init.commandName,
      type: ApplicationCommandType.ChatInput,
      ...(registered?.guild_id ? { guild_id: registered.guild_id } : {}),
      ...(init.options ? { options: normaliseOptions(init.options) } : {}),
      ...(init.resolved ? { resolved: init.resolved } : {}),
    },
    guild: { id: guild.id, locale: Locale.EnglishUS, features: [] },
    guild_id: guild.id,
    channel: { ...channel },
    channel_id: channelId,
    member,
    token: `aW50ZXJhY3Rpb246${randomHex(48)}`,
    version: 1,
    app_permissions: (init.appPermissions ?? guild.permissionsFor(world.botUserId, channelId)).toString(),
    locale: init.locale ?? Locale.EnglishUS,
    guild_locale: Locale.EnglishUS,
    entitlements: [],
    authorizing_integration_owners: { [ApplicationIntegrationType.GuildInstall]: guild.id },
    context: InteractionContextType.Guild,
    attachment_size_limit: init.attachmentSizeLimit ?? 10 * 1024 * 1024,
  } as APIChatInputApplicationCommandGuildInteraction;
}

function normaliseOptions(
  options: APIApplicationCommandInteractionDataOption[] | Record<string, string | number | boolean>,
): APIApplicationCommandInteractionDataOption[] {
  if (Array.isArray(options)) return options;
  return Object.entries(options).map(([name, value]): APIApplicationCommandInteractionDataOption => {
    if (typeof value === 'string') return { name, type: ApplicationCommandOptionType.String, value };
    if (typeof value === 'boolean') return { name, type: ApplicationCommandOptionType.Boolean, value };
    if (Number.isInteger(value)) return { name, type: ApplicationCommandOptionType.Integer, value };
    return { name, type: ApplicationCommandOptionType.Number, value };
  });
}
