/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Part 7 — caption page latency: from a caption leaving the caption pipeline (the production `CaptionFeed` sink
 * receiving a partial or a final) to the browser drawing it.
 *
 * The production caption-page server (fastify, Server-Sent Events) in this process, and the page itself in
 * Debian's headless Chromium (playwright-core, `/usr/bin/chromium`). 10 speakers talk at once for 20 s: each
 * sends a partial every 300 ms and ends a turn with a final every 3 s (about 33 partials and 3.3 finals a second
 * in all), every text unique. In the page a MutationObserver stamps each new text at the next animation frame
 * (when it is drawn); both sides read `performance.timeOrigin + performance.now()` (the same system clock).
 */
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { CaptionFeeds } from '../../src/web/feeds.ts';
import { CaptionLinks, LinkSigner } from '../../src/web/links.ts';
import { startWebServer } from '../../src/web/server.ts';
import { percentile, round } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

const GUILD_ID = '400000000000000001';
const SPEAKERS = 10;
const PARTIAL_EVERY_MS = 300;
const WORDS_PER_TURN = 10;

const wallNow = () => performance.timeOrigin + performance.now();

/** Runs part 7. */
export async function run(options: PartOptions): Promise<PartResult> {
  const durationMs = options.quick ? 3_000 : 20_000;
  const feeds = new CaptionFeeds(systemClock);
  const signer = new LinkSigner(randomBytes(32));
  const server = await startWebServer({ port: 0, host: '127.0.0.1', feeds, signer, logger: silentLogger() });
  const links = new CaptionLinks(signer, `http://127.0.0.1:${server.port}`);
  const feed = feeds.create(GUILD_ID, () => []);
  feeds.bind(feed, 1);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await page.addInitScript(() => {
      const drawn: Array<[string, number]> = [];
      (window as unknown as { drawn: typeof drawn }).drawn = drawn;
      document.addEventListener('DOMContentLoaded', () => {
        const seen = new Set<string>();
        const observer = new MutationObserver(() => {
          const texts = [...document.querySelectorAll('#lines .text, #partials .text')].map((node) => node.textContent ?? '').filter((t) => !seen.has(t));
          for (const text of texts) seen.add(text);
          if (texts.length > 0) requestAnimationFrame(() => {
            const at = performance.timeOrigin + performance.now();
            for (const text of texts) drawn.push([text, at]);
          });
        });
        observer.observe(document.getElementById('captions')!, { childList: true, subtree: true, characterData: true });
      });
    });
    await page.goto(links.linkFor(GUILD_ID, 1, 'bench'));
    await page.locator('#status', { hasText: 'Live' }).waitFor();

    const sentAt = new Map<string, { at: number; kind: 'partial' | 'final' }>();
    const started = performance.now();
    const turns = new Array<number>(SPEAKERS).fill(0);
    const words = new Array<number>(SPEAKERS).fill(0);
    let tick = 0;
    while (performance.now() - started < durationMs) {
      // Speakers are staggered over each 300 ms so their events spread as live speech does.
      const speaker = tick % SPEAKERS;
      tick++;
      const id = `s${speaker}`;
      words[speaker] = (words[speaker] ?? 0) + 1;
      const turn = turns[speaker] ?? 0;
      const text = Array.from({ length: words[speaker] ?? 1 }, (_, i) => `${id}t${turn}w${i}`).join(' ');
      const kind = (words[speaker] ?? 0) >= WORDS_PER_TURN ? 'final' : 'partial';
      sentAt.set(text, { at: wallNow(), kind });
      feed.caption({ kind, speaker: { id, name: `Speaker ${speaker + 1}` }, turnId: `${id}-${turn}`, text, startMs: 0, endMs: 0 });
      if (kind === 'final') {
        turns[speaker] = turn + 1;
        words[speaker] = 0;
      }
      await new Promise((resolve) => setTimeout(resolve, PARTIAL_EVERY_MS / SPEAKERS));
    }
    const finals = [...sentAt.values()].filter((s) => s.kind === 'final').length;
    await page.waitForFunction((n) => document.querySelectorAll('#lines li.final').length >= n, finals, { timeout: 30_000 });
    const drawn = await page.evaluate(() => (window as unknown as { drawn: Array<[string, number]> }).drawn);

    const latency = { partial: [] as number[], final: [] as number[] };
    for (const [text, at] of drawn) {
      const sent = sentAt.get(text);
      if (sent !== undefined) latency[sent.kind].push(at - sent.at);
    }
    const all = [...latency.partial, ...latency.final];
    const partialsSent = sentAt.size - finals;
    return {
      figures: {
        web_caption_latency_ms_p50: round(percentile(all, 50), 1),
        web_caption_latency_ms_p99: round(percentile(all, 99), 1),
        web_final_latency_ms_p99: round(percentile(latency.final, 99), 1),
        web_partial_latency_ms_p99: round(percentile(latency.partial, 99), 1),
      },
      details: { speakers: SPEAKERS, durationMs, finalsSent: finals, finalsDrawn: latency.final.length, partialsSent, partialsDrawn: latency.partial.length },
      notes: [],
    };
  } finally {
    await browser.close();
    await server.close();
    feeds.close();
  }
}
