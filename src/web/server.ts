/**
 * The caption page's HTTP server (fastify): `GET /captions/:guildId/:token` serves the page,
 * `GET /captions/:guildId/:token/events` streams the meeting as Server-Sent Events, `/assets/*` serves the page's
 * ES modules and stylesheet. It knows only {@link CaptionFeeds}: nothing on the audio or STT path knows about it.
 *
 * Security: a strict Content-Security-Policy (scripts, styles and connections from this origin only, no inline
 * script, no framing), `Referrer-Policy: no-referrer` (tokens are in the path), `Cache-Control: no-store` on
 * everything that carries caption data, per-address request limits (@fastify/rate-limit:
 * {@link REQUESTS_PER_MINUTE} a minute) and at most {@link STREAMS_PER_ADDRESS} open event streams per address.
 * Requests are not logged: their paths hold tokens.
 *
 * Event stream: `event: meta` first (languages, whether the meeting ended); then every kept entry after the
 * request's `Last-Event-ID` (all of them on a first connection), each with its sequence number as `id`; then the
 * current partials; `event: ready` (what follows is new: the page announces it); then live events. Partials and `clear` carry no `id`, so a reconnect resumes after the last
 * final, translation or notice received: nothing lost, nothing repeated. A stream whose client reads too slowly
 * (over {@link MAX_STREAM_BUFFER_BYTES} unsent) is closed; the browser reconnects and resumes.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { Logger } from '../log.ts';
import type { FeedEntry, FeedMessage } from './caption-feed.ts';
import { FeedFullError } from './caption-feed.ts';
import type { CaptionFeeds } from './feeds.ts';
import { LINK_TTL_AFTER_END_MS, type LinkSigner } from './links.ts';
import { registerRecordingDownloads, type RecordingDownloadsOptions } from './recording-downloads.ts';

/** Requests a minute one address may make (page loads, reconnects, assets). */
export const REQUESTS_PER_MINUTE = 120;
/** Event streams one address may hold open at once. */
export const STREAMS_PER_ADDRESS = 20;
/** Unsent bytes after which a slow stream is closed (the browser resumes with Last-Event-ID). */
export const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;
/** Comment sent on idle streams so proxies keep them open, ms. */
export const HEARTBEAT_MS = 15_000;
/** How long the browser waits before reconnecting a dropped stream, ms (the SSE `retry` field). */
export const RECONNECT_MS = 1_000;

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Options for {@link startWebServer}. */
export interface WebServerOptions {
  port: number;
  /** Address to listen on, e.g. `0.0.0.0`. */
  host: string;
  feeds: CaptionFeeds;
  signer: LinkSigner;
  logger: Logger;
  /** Recording downloads (recording-downloads.ts); undefined: none served. */
  recordings?: RecordingDownloadsOptions | undefined;
}

/** A running caption-page server. */
export interface WebServer {
  /** The port listened on (useful when asked for port 0). */
  port: number;
  /** Open event streams. */
  readonly streams: number;
  /** Ends every event stream and stops listening. */
  close(): Promise<void>;
}

const FORBIDDEN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Link not valid</title></head>
<body><h1>This caption link is not valid</h1>
<p>It may have expired (links stop working ${LINK_TTL_AFTER_END_MS / 3_600_000} hours after the meeting ends), or belong to another server or meeting. Run <code>/captions</code> in Discord for a new one.</p>
</body></html>
`;

/**
 * Starts serving the caption page.
 *
 * @throws if the port cannot be bound.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { feeds, signer, logger } = options;
  const page = await readFile(new URL('./public/caption-page.html', import.meta.url), 'utf8');
  // Tokens are about 150 characters: above find-my-way's default limit on a path parameter (100).
  const app: FastifyInstance = Fastify({ logger: false, routerOptions: { maxParamLength: 600 } });
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'"],
        imgSrc: ["'self'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
  });
  await app.register(rateLimit, { max: REQUESTS_PER_MINUTE, timeWindow: 60_000 });
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/assets/', index: false, maxAge: 60 * 60 * 1000 });

  const open = new Set<ServerResponse>();
  const perAddress = new Map<string, number>();

  const forbid = (reply: FastifyReply, reason: string) => {
    logger.debug({ reason }, 'caption link refused');
    return reply.code(403).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(FORBIDDEN_PAGE);
  };

  app.get<{ Params: { guildId: string; token: string } }>('/captions/:guildId/:token', async (request, reply) => {
    const feed = feeds.open(signer.verify(request.params.token), request.params.guildId);
    if (typeof feed === 'string') return forbid(reply, feed);
    return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page);
  });

  app.get<{ Params: { guildId: string; token: string } }>('/captions/:guildId/:token/events', async (request, reply) => {
    const feed = feeds.open(signer.verify(request.params.token), request.params.guildId);
    if (typeof feed === 'string') return forbid(reply, feed);
    const address = request.ip;
    const held = perAddress.get(address) ?? 0;
    if (held >= STREAMS_PER_ADDRESS) return reply.code(429).header('cache-control', 'no-store').send('Too many open caption pages from this address.');
    const lastSeen = Number.parseInt(String(request.headers['last-event-id'] ?? '0'), 10);
    const after = Number.isSafeInteger(lastSeen) && lastSeen > 0 ? lastSeen : 0;

    const res = reply.raw;
    let unsubscribe: () => void = () => {};
    const send = (chunk: string) => {
      if (res.destroyed) return;
      res.write(chunk);
      if (res.writableLength > MAX_STREAM_BUFFER_BYTES) res.destroy();
    };
    const onMessage = (message: FeedMessage) => send(eventOf(message));
    try {
      unsubscribe = feed.subscribe(onMessage);
    } catch (error) {
      if (error instanceof FeedFullError) return reply.code(503).header('cache-control', 'no-store').send(error.message);
      throw error;
    }
    reply.hijack();
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    open.add(res);
    perAddress.set(address, held + 1);
    const heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(res);
      const now = (perAddress.get(address) ?? 1) - 1;
      if (now <= 0) perAddress.delete(address);
      else perAddress.set(address, now);
    });
    send(`retry: ${RECONNECT_MS}\nevent: meta\ndata: ${JSON.stringify({ languages: feed.languages, ended: feed.endedAt !== null })}\n\n`);
    for (const entry of feed.entriesAfter(after)) send(entryEvent(entry));
    for (const partial of feed.partials()) send(eventOf({ type: 'partial', partial }));
    send('event: ready\ndata: {}\n\n');
  });

  if (options.recordings !== undefined) registerRecordingDownloads(app, options.recordings);

  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    port,
    get streams() {
      return open.size;
    },
    async close() {
      for (const res of open) res.end();
      await app.close();
    },
  };
}

function entryEvent(entry: FeedEntry): string {
  return `id: ${entry.seq}\nevent: ${entry.kind}\ndata: ${JSON.stringify(entry)}\n\n`;
}

function eventOf(message: FeedMessage): string {
  switch (message.type) {
    case 'entry':
      return entryEvent(message.entry);
    case 'partial':
      return `event: partial\ndata: ${JSON.stringify(message.partial)}\n\n`;
    case 'clear':
      return `event: clear\ndata: ${JSON.stringify({ speakerId: message.speakerId })}\n\n`;
  }
}
