/**
 * Slash commands as Discord delivers them: a payload built by the stand-in from its world (real permission bits,
 * member, channel), sent as INTERACTION_CREATE over the gateway to the real discord.js client, and the bot's
 * answer read from the REST requests it made (interaction callback, then the edit of a deferred reply).
 */
import { ApplicationCommandOptionType, InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import type { APIApplicationCommandInteractionDataOption, APIInteractionDataResolvedChannel } from 'discord-api-types/v10';
import type { CommandInteractionInit, DiscordStandIn, RecordedRequest } from '../../fakes/discord/stand-in.ts';

/** How the bot answered one command. */
export interface CommandReply {
  /** The interaction's id and token. */
  interactionId: string;
  token: string;
  /** The callback request (type 4 reply or type 5 deferral). */
  callback: RecordedRequest;
  /** The request that carried the answer's content: the callback itself, or the PATCH of `@original`. */
  answer: RecordedRequest;
  content: string;
  /** Whether only the invoking member sees it (flag 64 on the reply or the deferral). */
  ephemeral: boolean;
}

interface MessageBodyShape {
  content?: string;
  flags?: number;
  allowed_mentions?: unknown;
}

function body(request: RecordedRequest): MessageBodyShape {
  return (request.body ?? {}) as MessageBodyShape;
}

/** Delivers a slash command and resolves with the bot's final answer to it. */
export async function runCommand(standIn: DiscordStandIn, init: CommandInteractionInit): Promise<CommandReply> {
  const payload = standIn.buildCommandInteraction(init);
  standIn.sendInteraction(payload);
  const callback = await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/interactions/${payload.id}/${payload.token}/callback`);
  const callbackBody = (callback.body ?? {}) as { type?: number; data?: MessageBodyShape };
  const ephemeral = ((callbackBody.data?.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
  let answer = callback;
  let content = callbackBody.data?.content ?? '';
  if (callbackBody.type === InteractionResponseType.DeferredChannelMessageWithSource) {
    answer = await standIn.waitForRequest(
      (r) => r.method === 'PATCH' && r.route === `/webhooks/${standIn.applicationId}/${payload.token}/messages/@original`,
      { timeoutMs: 45_000 },
    );
    content = body(answer).content ?? '';
  }
  return { interactionId: payload.id, token: payload.token, callback, answer, content, ephemeral };
}

/** Options of a subcommand invocation, e.g. `/keyterms add terms:…`. */
export function subcommand(name: string, options: Record<string, string> = {}): APIApplicationCommandInteractionDataOption[] {
  return [
    {
      type: ApplicationCommandOptionType.Subcommand,
      name,
      options: Object.entries(options).map(([option, value]) => ({ type: ApplicationCommandOptionType.String, name: option, value })),
    },
  ];
}

/**
 * Channel options (`{ voice_channel: id }`) with the `resolved.channels` data Discord sends alongside them: each
 * channel's id, name, type and the invoking member's permissions in it, computed from the stand-in's world.
 */
export function channelOptions(
  standIn: DiscordStandIn,
  init: { guildId?: string; userId: string },
  options: Record<string, string>,
): Pick<CommandInteractionInit, 'options' | 'resolved'> {
  const guild = standIn.world.guild(init.guildId);
  const channels: Record<string, APIInteractionDataResolvedChannel> = {};
  for (const id of Object.values(options)) {
    const channel = guild.channels.get(id);
    if (channel === undefined) throw new Error(`no channel ${id}`);
    channels[id] = { id, name: channel.name ?? '', type: channel.type, permissions: guild.permissionsFor(init.userId, id).toString() } as APIInteractionDataResolvedChannel;
  }
  return {
    options: Object.entries(options).map(([name, value]): APIApplicationCommandInteractionDataOption => ({ type: ApplicationCommandOptionType.Channel, name, value })),
    resolved: { channels },
  };
}

/** True for requests that create or edit a message (in a channel, or as an interaction response or follow-up). */
export function isMessageWrite(request: RecordedRequest): boolean {
  if (request.method === 'POST' && /^\/channels\/\d+\/messages$/.test(request.route)) return true;
  if (request.method === 'PATCH' && /^\/channels\/\d+\/messages\/\d+$/.test(request.route)) return true;
  if (request.method === 'POST' && /^\/interactions\/\d+\/[^/]+\/callback$/.test(request.route)) {
    return (request.body as { type?: number } | undefined)?.type === InteractionResponseType.ChannelMessageWithSource;
  }
  if (/^\/webhooks\/\d+\/[^/]+(\/messages\/[^/]+)?$/.test(request.route)) return request.method === 'POST' || request.method === 'PATCH';
  return false;
}

/** The allowed_mentions of a message write (inside `data` for interaction callbacks). */
export function allowedMentionsOf(request: RecordedRequest): unknown {
  const raw = (request.body ?? {}) as { data?: MessageBodyShape } & MessageBodyShape;
  return request.route.startsWith('/interactions/') ? raw.data?.allowed_mentions : raw.allowed_mentions;
}

/** Content of a channel message request. */
export function contentOf(request: RecordedRequest): string {
  return body(request).content ?? '';
}
