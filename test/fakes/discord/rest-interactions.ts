/**
 * Interaction responses and the interaction webhook (discord-api-docs Interactions "Receiving and Responding":
 * Create Interaction Response, Get/Edit/Delete Original Interaction Response, Create/Get/Edit/Delete Followup
 * Message). These routes take no bot token (discord.js sends them with `auth: false`).
 */
import { InteractionResponseType, InteractionType, MessageFlags, MessageType } from 'discord-api-types/v10';
import type { APIMessage } from 'discord-api-types/v10';
import { asMessageBody, createMessage, editMessage, validateMessageBody } from './messages.ts';
import type { InteractionRecord, World } from './model.ts';
import { discordError } from './rest.ts';
import type { RecordedFile, RestResult, Route } from './rest.ts';

const unknownInteraction = (): RestResult => discordError(404, 10062, 'Unknown interaction');
const unknownWebhook = (): RestResult => discordError(404, 10015, 'Unknown Webhook');
const unknownMessage = (): RestResult => discordError(404, 10008, 'Unknown Message');

/** Creates a message on behalf of the interaction (author: the bot; webhook_id: the application). */
function interactionMessage(world: World, interaction: InteractionRecord, data: unknown, files: RecordedFile[], flags: number): APIMessage {
  const guild = world.guild(interaction.guildId);
  return createMessage(world, interaction.channelId, world.user(world.botUserId), { ...asMessageBody(data), flags }, files, {
    type: MessageType.ChatInputCommand,
    webhookId: world.applicationId,
    applicationId: world.applicationId,
    interactionMetadata: {
      id: interaction.id,
      type: InteractionType.ApplicationCommand,
      user: world.user(interaction.userId),
      authorizing_integration_owners: { 0: guild.id },
    },
  });
}

/** The interaction whose webhook is `/webhooks/:appId/:token`, once it has been acknowledged. */
function webhookInteraction(world: World, appId: string, token: string): InteractionRecord | undefined {
  const interaction = world.interactions.get(token);
  return appId === world.applicationId && interaction?.callbackType !== undefined ? interaction : undefined;
}

/** `@original` or a follow-up id, as a message of this interaction. */
function webhookMessage(world: World, interaction: InteractionRecord, messageId: string): APIMessage | undefined {
  const id = messageId === '@original' ? interaction.originalMessageId : messageId;
  const message = id ? world.messages.get(id) : undefined;
  return message?.interaction_metadata?.id === interaction.id ? message : undefined;
}

/** The routes of rest-interactions.ts. */
export function interactionRoutes(world: World): Route[] {
  return [
    {
      method: 'POST',
      pattern: '/interactions/:interactionId/:token/callback',
      auth: false,
      handle: (req, { interactionId, token = '' }) => {
        const interaction = world.interactions.get(token);
        if (!interaction || interaction.id !== interactionId) return unknownInteraction();
        if (interaction.callbackType !== undefined) return discordError(400, 40060, 'Interaction has already been acknowledged.');
        const body = (req.body ?? {}) as { type?: number; data?: { flags?: number } & Record<string, unknown> };
        const type = Number(body.type);
        let message: APIMessage | undefined;
        if (type === InteractionResponseType.ChannelMessageWithSource) {
          const data = asMessageBody(body.data);
          const invalid = validateMessageBody(data, req.files, { creating: true });
          if (invalid) return invalid;
          message = interactionMessage(world, interaction, data, req.files, data.flags ?? 0);
        } else if (type === InteractionResponseType.DeferredChannelMessageWithSource) {
          const flags = MessageFlags.Loading | ((body.data?.flags ?? 0) & MessageFlags.Ephemeral);
          message = interactionMessage(world, interaction, {}, [], flags);
        } else if (!Object.values(InteractionResponseType).includes(type)) {
          return discordError(400, 50035, 'Invalid Form Body', {
            type: { _errors: [{ code: 'BASE_TYPE_CHOICES', message: `Value must be one of InteractionResponseType.` }] },
          });
        }
        interaction.callbackType = type;
        if (message) interaction.originalMessageId = message.id;
        if (req.query.with_response !== 'true') return { status: 204 };
        const flags = message?.flags ?? 0;
        return {
          status: 200,
          body: {
            interaction: {
              id: interaction.id,
              type: InteractionType.ApplicationCommand,
              ...(message
                ? {
                    response_message_id: message.id,
                    response_message_loading: (flags & MessageFlags.Loading) !== 0,
                    response_message_ephemeral: (flags & MessageFlags.Ephemeral) !== 0,
                  }
                : {}),
            },
            resource: { type, ...(message ? { message } : {}) },
          },
        };
      },
    },
    {
      method: 'POST',
      pattern: '/webhooks/:appId/:token',
      auth: false,
      handle: (req, { appId = '', token = '' }) => {
        const interaction = webhookInteraction(world, appId, token);
        if (!interaction) return unknownWebhook();
        const data = asMessageBody(req.body);
        const invalid = validateMessageBody(data, req.files, { creating: true });
        if (invalid) return invalid;
        const message = interactionMessage(world, interaction, data, req.files, data.flags ?? 0);
        return req.query.wait === 'true' ? { status: 200, body: message } : { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: '/webhooks/:appId/:token/messages/:messageId',
      auth: false,
      handle: (_req, { appId = '', token = '', messageId = '' }) => {
        const interaction = webhookInteraction(world, appId, token);
        if (!interaction) return unknownWebhook();
        const message = webhookMessage(world, interaction, messageId);
        return message ? { status: 200, body: message } : unknownMessage();
      },
    },
    {
      method: 'PATCH',
      pattern: '/webhooks/:appId/:token/messages/:messageId',
      auth: false,
      handle: (req, { appId = '', token = '', messageId = '' }) => {
        const interaction = webhookInteraction(world, appId, token);
        if (!interaction) return unknownWebhook();
        const message = webhookMessage(world, interaction, messageId);
        if (!message) return unknownMessage();
        const body = asMessageBody(req.body);
        const invalid = validateMessageBody(body, req.files, { creating: false });
        if (invalid) return invalid;
        // Editing a deferred response replaces the "thinking" state (flag LOADING) with the content.
        message.flags = ((message.flags ?? 0) & ~MessageFlags.Loading) as MessageFlags;
        return { status: 200, body: editMessage(world, message, { ...body, flags: undefined }, req.files) };
      },
    },
    {
      method: 'DELETE',
      pattern: '/webhooks/:appId/:token/messages/:messageId',
      auth: false,
      handle: (_req, { appId = '', token = '', messageId = '' }) => {
        const interaction = webhookInteraction(world, appId, token);
        if (!interaction) return unknownWebhook();
        const message = webhookMessage(world, interaction, messageId);
        if (!message) return unknownMessage();
        world.messages.delete(message.id);
        return { status: 204 };
      },
    },
  ];
}
