/**
 * The caption page's HTTP server over loopback: who may open a meeting (signed, scoped, expiring links; a plain
 * 403 page otherwise), the security headers, the event stream (scrollback, then live; resumed after
 * `Last-Event-ID` with nothing lost or repeated) and the per-address request limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINK_MAX_AGE_MS, LINK_TTL_AFTER_END_MS, LinkSigner } from '../../src/web/links.ts';
import { REQUESTS_PER_MINUTE } from '../../src/web/server.ts';
import { GUILD_ID, OTHER_GUILD_ID, captionEvent, startWebWorld, type WebWorld } from './support/web-world.ts';

interface StreamEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads an event stream until `until` holds for the events so far; then cancels it. */
async function readEvents(url: string, until: (events: StreamEvent[]) => boolean, headers: Record<string, string> = {}): Promise<StreamEvent[]> {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: StreamEvent[] = [];
  let buffer = '';
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: StreamEvent = { event: 'message', data: '' };
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
        else if (field === 'data') event.data = value;
      }
      // Keep-alive comments carry no event.
      if (block.split('\n').some((line) => line.startsWith('event: '))) events.push(event);
    }
  }
  await reader.cancel();
  return events;
}

const katie = { id: '300000000000000001', name: 'Katie <b>' };

describe('caption page server', () => {
  let web: WebWorld;

  beforeAll(async () => {
    web = await startWebWorld();
  });

  afterAll(async () => {
    await web?.close();
  });

  it('serves the page for a valid link with a strict CSP, no caching and no referrer', async () => {
    web.meeting(1);
    const response = await fetch(web.links.linkFor(GUILD_ID, 1, katie.id));
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await response.text();
    // No inline script: every script is an external module from this origin.
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="/assets/app.js">']);
  });

  it('refuses a forged, tampered, other-guild, other-meeting or expired link with a plain 403 page', async () => {
    const feed = web.meeting(2);
    const good = web.links.linkFor(GUILD_ID, 2, katie.id);
    const token = good.split('/').at(-1)!;
    const [body, mac] = token.split('.');
    const forged = new LinkSigner(Buffer.alloc(32, 7)).sign({ guildId: GUILD_ID, meetingId: 2, userId: katie.id, expiresAt: Date.now() + 60_000 });
    const tampered = `${Buffer.from(JSON.stringify({ g: GUILD_ID, m: 1, u: katie.id, e: Date.now() + 60_000 })).toString('base64url')}.${mac}`;
    const otherGuildMeeting = web.meeting(3, OTHER_GUILD_ID);
    const refused = [
      `${web.baseUrl}/captions/${GUILD_ID}/${forged}`,
      `${web.baseUrl}/captions/${GUILD_ID}/${tampered}`,
      `${web.baseUrl}/captions/${GUILD_ID}/${body}`,
      // A valid token for this guild's meeting, presented under another guild.
      `${web.baseUrl}/captions/${OTHER_GUILD_ID}/${token}`,
      // A valid token for another guild's meeting 3 cannot open this guild's meeting 3.
      `${web.baseUrl}/captions/${GUILD_ID}/${web.links.linkFor(OTHER_GUILD_ID, 3, katie.id).split('/').at(-1)!}`,
      `${web.baseUrl}/captions/${GUILD_ID}/${web.signer.sign({ guildId: GUILD_ID, meetingId: 2, userId: katie.id, expiresAt: Date.now() - 1 })}`,
    ];
    expect(otherGuildMeeting.guildId).toBe(OTHER_GUILD_ID);
    for (const url of refused) {
      for (const path of ['', '/events']) {
        const response = await fetch(url + path);
        expect({ url: url + path, status: response.status }).toEqual({ url: url + path, status: 403 });
        expect(response.headers.get('content-type')).toContain('text/html');
        expect(await response.text()).toContain('This caption link is not valid');
      }
    }
    expect((await fetch(good)).status).toBe(200);
    // After the meeting ends the link works for 2 hours, then it is refused.
    feed.end();
    web.advanceWallClock(LINK_TTL_AFTER_END_MS - 60_000);
    expect((await fetch(good)).status).toBe(200);
    web.advanceWallClock(120_000);
    expect((await fetch(good)).status).toBe(403);
    // And a link never outlives its 24 hours, even for a meeting still running.
    const running = web.meeting(4);
    const link = web.links.linkFor(GUILD_ID, 4, katie.id);
    web.advanceWallClock(LINK_MAX_AGE_MS + 1);
    expect(running.endedAt).toBeNull();
    expect((await fetch(link)).status).toBe(403);
  });

  it('streams the scrollback then live events, and resumes after Last-Event-ID with nothing lost or repeated', async () => {
    const feed = web.meeting(5);
    const url = `${web.links.linkFor(GUILD_ID, 5, katie.id)}/events`;
    feed.caption(captionEvent(katie, 'partial', 'hello', 't1'));
    feed.caption(captionEvent(katie, 'final', 'Hello there.', 't1'));
    feed.translated({ event: captionEvent(katie, 'final', 'Hello there.', 't1'), translations: { es: 'Hola.' }, failed: [] });
    feed.caption(captionEvent(katie, 'partial', 'and then', 't2'));
    const first = await readEvents(url, (events) => events.some((e) => e.event === 'ready'));
    expect(first.map((e) => [e.event, e.id])).toEqual([
      ['meta', undefined],
      ['final', '1'],
      ['translation', '2'],
      ['partial', undefined],
      ['ready', undefined],
    ]);
    expect(JSON.parse(first[0]!.data)).toEqual({ languages: ['es'], ended: false });
    expect(JSON.parse(first[1]!.data)).toMatchObject({ kind: 'final', name: 'Katie <b>', text: 'Hello there.', turnId: 't1' });
    // Missed while away: a final and a translation; a reconnect after id 2 gets exactly those.
    feed.caption(captionEvent(katie, 'final', 'And then we left.', 't2'));
    feed.translated({ event: captionEvent(katie, 'final', 'And then we left.', 't2'), translations: { es: 'Y luego nos fuimos.' }, failed: [] });
    const resumed = await readEvents(url, (events) => events.some((e) => e.event === 'ready'), { 'last-event-id': '2' });
    expect(resumed.filter((e) => e.id !== undefined).map((e) => [e.event, e.id, JSON.parse(e.data).text])).toEqual([
      ['final', '3', 'And then we left.'],
      ['translation', '4', 'Y luego nos fuimos.'],
    ]);
    // Live: what happens after connecting arrives as it happens.
    const live = readEvents(url, (events) => events.some((e) => e.event === 'end'), { 'last-event-id': '4' });
    await waitForStreams(web, 1);
    feed.caption(captionEvent(katie, 'final', 'Bye.', 't3'));
    feed.end();
    expect((await live).filter((e) => e.id !== undefined).map((e) => [e.event, e.id])).toEqual([
      ['final', '5'],
      ['end', '6'],
    ]);
  });

  it('limits requests per address', async () => {
    web.meeting(6);
    const link = web.links.linkFor(GUILD_ID, 6, katie.id);
    const statuses: number[] = [];
    for (let i = 0; i < REQUESTS_PER_MINUTE + 5; i++) statuses.push((await fetch(link)).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.indexOf(429)).toBeLessThanOrEqual(REQUESTS_PER_MINUTE);
  });
});

/** Resolves once the server holds `count` open event streams (checked on each turn of the event loop). */
async function waitForStreams(web: WebWorld, count: number): Promise<void> {
  while (web.server.streams < count) await new Promise((resolve) => setImmediate(resolve));
}
