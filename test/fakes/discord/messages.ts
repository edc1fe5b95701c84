/**
 * Message bodies as Discord checks and stores them, shared by channel, webhook and interaction routes.
 * Limits: discord-api-docs Message "Create Message" (content 2 000 characters, 10 embeds, 10 files) and
 * "Embed Limits" (description 4 096, title 256, field name 256 / value 1 024, footer 2 048, author 256, 25 fields,
 * 6 000 characters in all embeds of a message). Error shapes: "Error Messages" (code 50035 Invalid Form Body).
 */
import type { APIAttachment, APIEmbed, APIMessage, APIUser } from 'discord-api-types/v10';
import { messageObject } from './payloads.ts';
import type { MessageInit } from './payloads.ts';
import type { World } from './model.ts';
import { discordError } from './rest.ts';
import type { RecordedFile, RestResult } from './rest.ts';

/** Attachment size limit of a guild without boosts (discord-api-docs: 10 MiB since 2024-09). */
export const ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024;

/** The fields of a create/edit message body the stand-in reads. */
export interface MessageBody {
  content?: string | null;
  embeds?: APIEmbed[] | null;
  attachments?: Array<{ id: number | string; filename?: string; description?: string }> | null;
  flags?: number | null;
  allowed_mentions?: { parse?: string[]; users?: string[]; roles?: string[]; replied_user?: boolean } | null;
  components?: unknown[] | null;
  sticker_ids?: string[] | null;
  poll?: unknown;
  nonce?: string | number;
  tts?: boolean;
}

/** The body of a request as a {@link MessageBody} (an object, or an empty one). */
export function asMessageBody(body: unknown): MessageBody {
  return typeof body === 'object' && body !== null ? (body as MessageBody) : {};
}

function lengthError(path: string[], max: number): RestResult {
  let errors: Record<string, unknown> = { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${max} or fewer in length.` }] };
  for (const key of [...path].reverse()) errors = { [key]: errors };
  return discordError(400, 50035, 'Invalid Form Body', errors);
}

/** Checks a message body against Discord's limits; returns the error to answer, if any. */
export function validateMessageBody(body: MessageBody, files: RecordedFile[], options: { creating: boolean }): RestResult | undefined {
  const content = body.content ?? '';
  if ([...content].length > 2000) return lengthError(['content'], 2000);
  const embeds = body.embeds ?? [];
  if (embeds.length > 10) return lengthError(['embeds'], 10);
  let total = 0;
  for (const [index, embed] of embeds.entries()) {
    const at = ['embeds', String(index)];
    const checks: Array<[string | undefined, number, string[]]> = [
      [embed.title, 256, [...at, 'title']],
      [embed.description, 4096, [...at, 'description']],
      [embed.footer?.text, 2048, [...at, 'footer', 'text']],
      [embed.author?.name, 256, [...at, 'author', 'name']],
    ];
    if ((embed.fields ?? []).length > 25) return lengthError([...at, 'fields'], 25);
    for (const [fieldIndex, field] of (embed.fields ?? []).entries()) {
      checks.push([field.name, 256, [...at, 'fields', String(fieldIndex), 'name']]);
      checks.push([field.value, 1024, [...at, 'fields', String(fieldIndex), 'value']]);
    }
    for (const [text, max, path] of checks) {
      const length = text === undefined ? 0 : [...text].length;
      if (length > max) return lengthError(path, max);
      total += length;
    }
  }
  if (total > 6000) {
    return discordError(400, 50035, 'Invalid Form Body', {
      embeds: { _errors: [{ code: 'MAX_EMBED_SIZE_EXCEEDED', message: 'Embed size exceeds maximum size of 6000' }] },
    });
  }
  if (files.length > 10) return lengthError(['attachments'], 10);
  if (files.some((file) => file.size > ATTACHMENT_SIZE_LIMIT)) return discordError(413, 40005, 'Request entity too large');
  const empty =
    content === '' && embeds.length === 0 && files.length === 0 && (body.components ?? []).length === 0 &&
    (body.sticker_ids ?? []).length === 0 && body.poll === undefined;
  if (options.creating && empty) return discordError(400, 50006, 'Cannot send an empty message');
  return undefined;
}

/** Attachment objects for uploaded `files`, named per the body's `attachments` metadata (`files[n]` ↔ id n). */
export function buildAttachments(world: World, channelId: string, body: MessageBody, files: RecordedFile[]): APIAttachment[] {
  return files.map((file, index) => {
    const n = /^files\[(\d+)\]$/.exec(file.field)?.[1] ?? String(index);
    const meta = (body.attachments ?? []).find((a) => String(a.id) === n);
    const id = world.nextId();
    const filename = meta?.filename ?? file.name;
    return {
      id,
      filename,
      size: file.size,
      url: `https://cdn.discordapp.com/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`,
      proxy_url: `https://media.discordapp.net/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`,
      ...(file.contentType ? { content_type: file.contentType } : {}),
      ...(meta?.description ? { description: meta.description } : {}),
    };
  });
}

/**
 * Users mentioned in `content` (`<@id>` / `<@!id>`) who may be pinged under `allowed_mentions`
 * (discord-api-docs Message "Allowed Mentions Object": without the object, all user mentions are parsed).
 */
export function resolveMentions(world: World, content: string, allowed: MessageBody['allowed_mentions']): APIUser[] {
  const ids = [...content.matchAll(/<@!?(\d{15,21})>/g)].map((m) => m[1] ?? '');
  const permitted = (id: string): boolean =>
    !allowed || (allowed.parse ?? []).includes('users') || (allowed.users ?? []).includes(id);
  return [...new Set(ids)].filter((id) => permitted(id) && world.users.has(id)).map((id) => world.user(id));
}

/** Creates and stores a message from a request body. */
export function createMessage(
  world: World,
  channelId: string,
  author: APIUser,
  body: MessageBody,
  files: RecordedFile[],
  extra: Partial<MessageInit> = {},
): APIMessage {
  const content = body.content ?? '';
  const message = messageObject(world, {
    channelId,
    author,
    content,
    embeds: body.embeds ?? [],
    attachments: buildAttachments(world, channelId, body, files),
    flags: body.flags ?? 0,
    mentions: resolveMentions(world, content, body.allowed_mentions),
    tts: body.tts ?? false,
    ...(body.nonce === undefined ? {} : { nonce: body.nonce }),
    ...extra,
  });
  world.messages.set(message.id, message);
  return message;
}

/**
 * Applies an edit (discord-api-docs Message "Edit Message"): fields present replace the old ones; `attachments`
 * lists the old attachments to keep (by id) plus new uploads.
 */
export function editMessage(world: World, message: APIMessage, body: MessageBody, files: RecordedFile[]): APIMessage {
  if (body.content !== undefined) message.content = body.content ?? '';
  if (body.embeds !== undefined) message.embeds = body.embeds ?? [];
  if (body.flags !== undefined && body.flags !== null) message.flags = body.flags;
  if (body.attachments !== undefined || files.length > 0) {
    const keep = new Set((body.attachments ?? []).map((a) => String(a.id)));
    const kept = body.attachments === undefined ? message.attachments : message.attachments.filter((a) => keep.has(a.id));
    message.attachments = [...kept, ...buildAttachments(world, message.channel_id, body, files)];
  }
  if (body.content !== undefined || body.allowed_mentions !== undefined) {
    message.mentions = resolveMentions(world, message.content, body.allowed_mentions);
  }
  message.edited_timestamp = new Date().toISOString();
  return message;
}
