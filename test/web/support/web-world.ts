/**
 * A caption-page server on loopback with feeds the test drives itself (the feed is a caption sink: the test feeds
 * it caption and translation events as the pipeline and the translation sink would), a link signer, and a wall
 * clock the test can move to expire links. Plus a TCP proxy in front of the server whose connections the test can
 * cut and hold, to drop a browser's event stream for real.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock } from '../../../src/clock.ts';
import { silentLogger } from '../../../src/log.ts';
import type { CaptionEvent, Speaker } from '../../../src/captions/caption.ts';
import { CaptionFeeds } from '../../../src/web/feeds.ts';
import type { CaptionFeed } from '../../../src/web/caption-feed.ts';
import { CaptionLinks, LinkSigner } from '../../../src/web/links.ts';
import { startWebServer, type WebServer } from '../../../src/web/server.ts';

export const GUILD_ID = '200000000000000001';
export const OTHER_GUILD_ID = '200000000000000002';

/** A server, its feeds and a movable wall clock. */
export interface WebWorld {
  server: WebServer;
  feeds: CaptionFeeds;
  signer: LinkSigner;
  links: CaptionLinks;
  baseUrl: string;
  /** Moves the wall clock used for link expiry, ms. */
  advanceWallClock(ms: number): void;
  /** Starts a meeting's feed, bound as meeting `meetingId` of `guildId`. */
  meeting(meetingId: number, guildId?: string, languages?: string[]): CaptionFeed;
  close(): Promise<void>;
}

export async function startWebWorld(): Promise<WebWorld> {
  let offset = 0;
  const now = () => Date.now() + offset;
  const feeds = new CaptionFeeds(systemClock, now);
  const signer = new LinkSigner(randomBytes(32));
  const server = await startWebServer({ port: 0, host: '127.0.0.1', feeds, signer, logger: silentLogger() });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  return {
    server,
    feeds,
    signer,
    links: new CaptionLinks(signer, baseUrl, now),
    baseUrl,
    advanceWallClock(ms) {
      offset += ms;
    },
    meeting(meetingId, guildId = GUILD_ID, languages = ['es']) {
      const feed = feeds.create(guildId, () => languages);
      feeds.bind(feed, meetingId);
      return feed;
    },
    async close() {
      feeds.close();
      await server.close();
    },
  };
}

/** A caption event as the pipeline makes it. */
export function captionEvent(speaker: Speaker, kind: 'partial' | 'final', text: string, turnId: string): CaptionEvent {
  return { kind, speaker, text, turnId, startMs: 0, endMs: 1 };
}

/** A TCP proxy to `port`: `cut()` drops every connection through it; `hold()` keeps new ones waiting until released. */
export interface CuttableProxy {
  port: number;
  /** Every request head that passed through, as text (e.g. to see `last-event-id`). */
  readonly heads: string[];
  cut(): void;
  hold(): () => void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  const { connect } = await import('node:net');
  const sockets = new Set<Socket>();
  const heads: string[] = [];
  let held: Array<() => void> | null = null;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const pipe = () => {
      if (client.destroyed) return;
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      client.on('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        if (/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(text)) heads.push(text.slice(0, text.indexOf('\r\n\r\n')));
        upstream.write(chunk);
      });
      upstream.pipe(client);
    };
    if (held === null) pipe();
    else held.push(pipe);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('proxy did not bind');
  return {
    port: address.port,
    heads,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    hold() {
      held = [];
      return () => {
        const waiting = held ?? [];
        held = null;
        for (const pipe of waiting) pipe();
      };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
