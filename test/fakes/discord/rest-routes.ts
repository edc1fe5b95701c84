/**
 * REST routes a caption bot uses: gateway discovery, users, the application and its commands, channels,
 * messages, threads and guild members. Paths, bodies and error codes follow discord-api-docs (Resources:
 * Channel, Message, Guild, User, Application Commands; Topics: Opcodes and Status Codes → JSON Error Codes).
 * Interaction callbacks and webhooks are in rest-interactions.ts.
 */
import { ChannelType, PermissionFlagsBits as P, ThreadMemberFlags } from 'discord-api-types/v10';
import type { APIApplicationCommand, ChannelFlags, APIMessage, APIThreadChannel, APIUser, ThreadAutoArchiveDuration } from 'discord-api-types/v10';
import { asMessageBody, createMessage, editMessage, validateMessageBody } from './messages.ts';
import type { MessageBody } from './messages.ts';
import { isTextBased, isThread } from './model.ts';
import type { GuildState, StoredChannel, World } from './model.ts';
import { applicationPayload } from './payloads.ts';
import { hasAll } from './permissions.ts';
import { discordError } from './rest.ts';
import type { RestResult, Route } from './rest.ts';

/** What routes need from the rest of the stand-in. */
export interface RouteHooks {
  /** `ws://127.0.0.1:PORT` of the gateway. */
  gatewayUrl(): string;
  /** Dispatches a gateway event to the bot, if its intents include `requiredIntent`. */
  dispatch(event: string, data: unknown, requiredIntent?: number): void;
}

const ok = (body: unknown): RestResult => ({ status: 200, body });
const noContent: RestResult = { status: 204 };
const unknownChannel = (): RestResult => discordError(404, 10003, 'Unknown Channel');
const unknownMessage = (): RestResult => discordError(404, 10008, 'Unknown Message');
const missingAccess = (): RestResult => discordError(403, 50001, 'Missing Access');
const missingPermissions = (): RestResult => discordError(403, 50013, 'Missing Permissions');

/** The bot user as GET /users/@me returns it. */
function botUser(world: World): APIUser {
  return { ...world.user(world.botUserId), verified: true, mfa_enabled: false, flags: 0 as NonNullable<APIUser['flags']> };
}

/** A channel the bot can see, or the error to answer. */
function visibleChannel(world: World, channelId: string): { guild: GuildState; channel: StoredChannel; perms: bigint } | RestResult {
  const found = world.findChannel(channelId);
  if (!found) return unknownChannel();
  const perms = found.guild.permissionsFor(world.botUserId, channelId);
  if (!hasAll(perms, P.ViewChannel)) return missingAccess();
  return { ...found, perms };
}

/**
 * Without Embed Links, Discord drops a message's embeds, and refuses (403 Missing Permissions) a message that
 * would be left with nothing but embeds. Not in the docs; as reported in discord/discord-api-docs#2601.
 */
function withoutEmbedsUnlessAllowed(body: MessageBody, perms: bigint): MessageBody | RestResult {
  if (hasAll(perms, P.EmbedLinks) || !body.embeds || body.embeds.length === 0) return body;
  if (!body.content) return missingPermissions();
  return { ...body, embeds: [] };
}

/** A non-ephemeral message of `channelId`, if any. */
function channelMessage(world: World, channelId: string, messageId: string): APIMessage | undefined {
  const message = world.messages.get(messageId);
  return message && message.channel_id === channelId && ((message.flags ?? 0) & 64) === 0 ? message : undefined;
}

function commandObjects(world: World, body: unknown, guildId?: string): APIApplicationCommand[] {
  const list = Array.isArray(body) ? (body as Array<Record<string, unknown>>) : [];
  return list.map((command) => ({
    type: 1,
    description: '',
    default_member_permissions: null,
    nsfw: false,
    integration_types: [0],
    contexts: null,
    ...command,
    id: world.nextId(),
    application_id: world.applicationId,
    version: world.nextId(),
    ...(guildId ? { guild_id: guildId } : {}),
  }) as APIApplicationCommand);
}

/** A thread channel object (discord-api-docs Channel "Thread-specific Channel Fields"). */
function threadObject(world: World, id: string, parent: StoredChannel, type: ChannelType, body: Record<string, unknown>): APIThreadChannel {
  const now = new Date().toISOString();
  return {
    id,
    guild_id: parent.guild_id ?? '',
    parent_id: parent.id,
    owner_id: world.botUserId,
    type: type as APIThreadChannel['type'],
    name: String(body.name ?? 'thread'),
    last_message_id: null,
    rate_limit_per_user: Number(body.rate_limit_per_user ?? 0),
    message_count: 0,
    member_count: 1,
    total_message_sent: 0,
    flags: 0 as ChannelFlags,
    thread_metadata: {
      archived: false,
      auto_archive_duration: Number(body.auto_archive_duration ?? 1440) as ThreadAutoArchiveDuration,
      archive_timestamp: now,
      locked: false,
      create_timestamp: now,
      ...(type === ChannelType.PrivateThread ? { invitable: body.invitable !== false } : {}),
    },
    member: { id, user_id: world.botUserId, join_timestamp: now, flags: 0 as ThreadMemberFlags },
  };
}

/** Creates a thread and tells the bot (THREAD_CREATE, intent GUILDS). */
function startThread(world: World, hooks: RouteHooks, guild: GuildState, thread: APIThreadChannel): RestResult {
  guild.channels.set(thread.id, thread);
  hooks.dispatch('THREAD_CREATE', { ...thread, newly_created: true }, 1 << 0);
  return { status: 201, body: thread };
}

/** The routes of rest-routes.ts. */
export function coreRoutes(world: World, hooks: RouteHooks): Route[] {
  return [
    { method: 'GET', pattern: '/gateway', auth: false, handle: () => ok({ url: hooks.gatewayUrl() }) },
    {
      method: 'GET',
      pattern: '/gateway/bot',
      auth: true,
      handle: () =>
        ok({
          url: hooks.gatewayUrl(),
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
        }),
    },
    { method: 'GET', pattern: '/users/@me', auth: true, handle: () => ok(botUser(world)) },
    {
      method: 'GET',
      pattern: '/users/:userId',
      auth: true,
      handle: (_req, { userId = '' }) => (world.users.has(userId) ? ok(world.user(userId)) : discordError(404, 10013, 'Unknown User')),
    },
    { method: 'GET', pattern: '/applications/@me', auth: true, handle: () => ok(applicationPayload(world)) },
    {
      method: 'PUT',
      pattern: '/applications/:appId/commands',
      auth: true,
      handle: (req, { appId }) => {
        if (appId !== world.applicationId) return discordError(403, 50001, 'Missing Access');
        world.globalCommands = commandObjects(world, req.body);
        return ok(world.globalCommands);
      },
    },
    { method: 'GET', pattern: '/applications/:appId/commands', auth: true, handle: () => ok(world.globalCommands) },
    {
      method: 'PUT',
      pattern: '/applications/:appId/guilds/:guildId/commands',
      auth: true,
      handle: (req, { appId, guildId = '' }) => {
        if (appId !== world.applicationId || !world.guilds.has(guildId)) return discordError(403, 50001, 'Missing Access');
        const commands = commandObjects(world, req.body, guildId);
        world.guildCommands.set(guildId, commands);
        return ok(commands);
      },
    },
    {
      method: 'GET',
      pattern: '/applications/:appId/guilds/:guildId/commands',
      auth: true,
      handle: (_req, { guildId = '' }) => ok(world.guildCommands.get(guildId) ?? []),
    },
    {
      method: 'GET',
      pattern: '/channels/:channelId',
      auth: true,
      handle: (_req, { channelId = '' }) => {
        const found = visibleChannel(world, channelId);
        return 'status' in found ? found : ok({ ...found.channel, guild_id: found.guild.id });
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/messages',
      auth: true,
      handle: (req, { channelId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        if (!isTextBased(found.channel.type)) return discordError(400, 50008, 'Cannot send messages in a non-text channel');
        const send = isThread(found.channel.type) ? P.SendMessagesInThreads : P.SendMessages;
        if (!hasAll(found.perms, send)) return missingPermissions();
        if (req.files.length > 0 && !hasAll(found.perms, P.AttachFiles)) return missingPermissions();
        const effective = withoutEmbedsUnlessAllowed(asMessageBody(req.body), found.perms);
        if ('status' in effective) return effective;
        const invalid = validateMessageBody(effective, req.files, { creating: true });
        if (invalid) return invalid;
        return ok(createMessage(world, channelId, world.user(world.botUserId), effective, req.files));
      },
    },
    {
      method: 'GET',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (_req, { channelId = '', messageId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        if (!hasAll(found.perms, P.ReadMessageHistory)) return missingAccess();
        const message = channelMessage(world, channelId, messageId);
        return message ? ok(message) : unknownMessage();
      },
    },
    {
      method: 'PATCH',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (req, { channelId = '', messageId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        const message = channelMessage(world, channelId, messageId);
        if (!message) return unknownMessage();
        if (message.author.id !== world.botUserId) return discordError(403, 50005, 'Cannot edit a message authored by another user');
        const effective = withoutEmbedsUnlessAllowed(asMessageBody(req.body), found.perms);
        if ('status' in effective) return effective;
        const invalid = validateMessageBody(effective, req.files, { creating: false });
        if (invalid) return invalid;
        return ok(editMessage(world, message, effective, req.files));
      },
    },
    {
      method: 'DELETE',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (_req, { channelId = '', messageId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        const message = channelMessage(world, channelId, messageId);
        if (!message) return unknownMessage();
        if (message.author.id !== world.botUserId && !hasAll(found.perms, P.ManageMessages)) return missingPermissions();
        world.messages.delete(messageId);
        return noContent;
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/typing',
      auth: true,
      handle: (_req, { channelId = '' }) => {
        const found = visibleChannel(world, channelId);
        return 'status' in found ? found : noContent;
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/messages/:messageId/threads',
      auth: true,
      handle: (req, { channelId = '', messageId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        const { channel, guild } = found;
        if (channel.type !== ChannelType.GuildText) return discordError(400, 50024, 'Cannot execute action on this channel type');
        if (!hasAll(found.perms, P.CreatePublicThreads)) return missingPermissions();
        const message = channelMessage(world, channelId, messageId);
        if (!message) return unknownMessage();
        if (guild.channels.has(messageId)) return discordError(400, 160004, 'A thread has already been created for this message');
        // A thread started from a message has the message's id (discord-api-docs Topics "Threads").
        const thread = threadObject(world, messageId, channel, ChannelType.PublicThread, (req.body ?? {}) as Record<string, unknown>);
        message.thread = thread;
        return startThread(world, hooks, guild, thread);
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/threads',
      auth: true,
      handle: (req, { channelId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        const body = (req.body ?? {}) as Record<string, unknown>;
        if (found.channel.type !== ChannelType.GuildText) return discordError(400, 50024, 'Cannot execute action on this channel type');
        // Without `type`, PRIVATE_THREAD, the default discord-api-docs "Start Thread without Message" gives for v9
        // (it says a later version makes `type` required; discord.js always sends it).
        const type = Number(body.type ?? ChannelType.PrivateThread) as ChannelType;
        const needed = type === ChannelType.PrivateThread ? P.CreatePrivateThreads : P.CreatePublicThreads;
        if (!hasAll(found.perms, needed)) return missingPermissions();
        return startThread(world, hooks, found.guild, threadObject(world, world.nextId(), found.channel, type, body));
      },
    },
    {
      method: 'GET',
      pattern: '/guilds/:guildId/members/:userId',
      auth: true,
      handle: (_req, { guildId = '', userId = '' }) => {
        const guild = world.guilds.get(guildId);
        if (!guild) return discordError(404, 10004, 'Unknown Guild');
        if (!guild.members.has(userId)) return discordError(404, 10007, 'Unknown Member');
        return ok(world.memberPayload(guild, userId));
      },
    },
    {
      // Voice channel status (discord-api-docs, "Modify Voice Channel Status", 2026-04-20): at most 500 characters;
      // needs Set Voice Channel Status, and Manage Channels as well when the caller is not in that voice channel.
      // Everyone in the guild gets VOICE_CHANNEL_STATUS_UPDATE; the answer is 204.
      method: 'PUT',
      pattern: '/channels/:channelId/voice-status',
      auth: true,
      handle: (req, { channelId = '' }) => {
        const found = visibleChannel(world, channelId);
        if ('status' in found) return found;
        if (found.channel.type !== ChannelType.GuildVoice) return discordError(400, 50024, 'Cannot execute action on this channel type');
        const connected = found.guild.voiceStates.get(world.botUserId)?.channelId === channelId;
        const needed = connected ? P.SetVoiceChannelStatus : P.SetVoiceChannelStatus | P.ManageChannels;
        if (!hasAll(found.perms, needed)) return missingPermissions();
        const status = (req.body as { status?: unknown } | undefined)?.status;
        if (status !== null && status !== undefined && (typeof status !== 'string' || [...status].length > 500)) {
          return discordError(400, 50035, 'Invalid Form Body', { status: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 500 or fewer in length.' }] } });
        }
        const text = typeof status === 'string' && status !== '' ? status : null;
        world.voiceChannelStatus.set(channelId, text);
        hooks.dispatch('VOICE_CHANNEL_STATUS_UPDATE', { id: channelId, guild_id: found.guild.id, status: text }, 1 << 0);
        return noContent;
      },
    },
    {
      method: 'PATCH',
      pattern: '/guilds/:guildId/members/@me',
      auth: true,
      handle: (req, { guildId = '' }) => {
        const guild = world.guilds.get(guildId);
        if (!guild) return discordError(404, 10004, 'Unknown Guild');
        const body = (req.body ?? {}) as { nick?: string | null };
        if (!hasAll(guild.permissionsFor(world.botUserId), P.ChangeNickname)) return missingPermissions();
        if (body.nick && [...body.nick].length > 32) {
          return discordError(400, 50035, 'Invalid Form Body', {
            nick: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 32 in length.' }] },
          });
        }
        const member = guild.members.get(world.botUserId);
        if (member && body.nick !== undefined) member.nick = body.nick || null;
        const payload = world.memberPayload(guild, world.botUserId);
        hooks.dispatch('GUILD_MEMBER_UPDATE', { ...payload, guild_id: guild.id }, 1 << 1);
        return ok(payload);
      },
    },
  ];
}
