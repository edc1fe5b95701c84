/**
 * A minimal local stand-in for Discord's REST API, for latency benchmarks: `POST /api/v10/channels/:id/messages`
 * answers 200 with a message object at once, `PATCH /api/v10/channels/:id/messages/:id` answers 200 with the
 * edited message. No rate limits (the real per-channel limit is 5 messages per 5 s; Parley batches finals under
 * it, which this bench does not exercise). Every request's arrival is recorded with an epoch timestamp
 * comparable across processes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { epochMs } from './stats.ts';

/** One request as it arrived. */
export interface DiscordRestRecord {
  method: string;
  path: string;
  /** `epochMs()` when the request line and headers arrived. */
  arrivedAt: number;
  /** The message content, when the body had one. */
  content?: string;
}

/** A running stand-in. */
export interface DiscordRest {
  /** Pass as discord.js `rest.api` (e.g. `http://127.0.0.1:PORT/api`). */
  api: string;
  records: DiscordRestRecord[];
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1 (OS-assigned port). */
export async function startDiscordRest(): Promise<DiscordRest> {
  const records: DiscordRestRecord[] = [];
  let nextId = 1_000_000_000_000_000n;
  const server = createServer((req, res) => {
    const arrivedAt = epochMs();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const record: DiscordRestRecord = { method: req.method ?? 'GET', path, arrivedAt };
      let body: { content?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { content?: unknown };
      } catch {
        body = {};
      }
      if (typeof body.content === 'string') record.content = body.content;
      records.push(record);
      const post = /^\/api\/v10\/channels\/(\d+)\/messages$/.exec(path);
      const patch = /^\/api\/v10\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
      let status = 404;
      let answer: unknown = { message: '404: Not Found', code: 0 };
      if (req.method === 'POST' && post !== null) {
        status = 200;
        answer = message(String(nextId++), post[1] ?? '0', record.content ?? '');
      } else if (req.method === 'PATCH' && patch !== null) {
        status = 200;
        answer = message(patch[2] ?? '0', patch[1] ?? '0', record.content ?? '');
      }
      const text = JSON.stringify(answer);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    api: `http://127.0.0.1:${port}/api`,
    records,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function message(id: string, channelId: string, content: string): Record<string, unknown> {
  return {
    id,
    type: 0,
    channel_id: channelId,
    content,
    author: { id: '2', username: 'Parley', discriminator: '0', global_name: null, avatar: null, bot: true },
    attachments: [],
    embeds: [],
    mentions: [],
    mention_roles: [],
    pinned: false,
    mention_everyone: false,
    tts: false,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    flags: 0,
    components: [],
  };
}
