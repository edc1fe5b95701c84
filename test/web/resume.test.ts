/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The caption page in Chromium when its connection drops for real (a TCP proxy between browser and server cuts
 * every connection and holds reconnects while captions keep coming), and when its link is forged, expired or for
 * another guild. The feed is driven by the test as the caption pipeline would drive it.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.ts';
import { LINK_TTL_AFTER_END_MS, LinkSigner } from '../../src/web/links.ts';
import { GUILD_ID, OTHER_GUILD_ID, captionEvent, startProxy, startWebWorld, type CuttableProxy, type WebWorld } from './support/web-world.ts';

const katie = { id: '300000000000000001', name: 'Katie' };
const steve = { id: '300000000000000002', name: 'Steve' };

describe('caption page connection and access, in Chromium', () => {
  let web: WebWorld;
  let proxy: CuttableProxy;
  let browser: Browser;

  beforeAll(async () => {
    web = await startWebWorld();
    proxy = await startProxy(web.server.port);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await web?.close();
  });

  it('resumes after a dropped connection with no line lost and none repeated', async () => {
    const feed = web.meeting(10);
    const link = web.links.linkFor(GUILD_ID, 10, katie.id).replace(web.baseUrl, `http://127.0.0.1:${proxy.port}`);
    const say = (speaker: typeof katie, n: number) => {
      feed.caption(captionEvent(speaker, 'partial', `line ${n} so`, `t${n}`));
      feed.caption(captionEvent(speaker, 'final', `Line ${n} said.`, `t${n}`));
    };
    for (let n = 1; n <= 3; n++) say(n % 2 === 0 ? steve : katie, n);
    const page = await browser.newPage();
    await page.goto(link);
    await page.waitForFunction(() => document.querySelectorAll('#lines li.final').length === 3);
    const streamsBefore = proxy.heads.filter((h) => h.includes('/events')).length;

    // The connection drops; while the browser cannot get back, the meeting goes on.
    const release = proxy.hold();
    proxy.cut();
    await page.locator('#status', { hasText: 'Reconnecting' }).waitFor();
    for (let n = 4; n <= 8; n++) say(n % 2 === 0 ? steve : katie, n);
    feed.caption(captionEvent(katie, 'partial', 'and now', 't9'));
    release();
    await page.waitForFunction(() => document.querySelectorAll('#lines li.final').length >= 8 && document.querySelector('#partials .partial') !== null);
    await page.locator('#status', { hasText: 'Live' }).waitFor();
    // Live again: a final after the reconnect arrives too.
    say(katie, 9);
    await page.waitForFunction(() => document.querySelectorAll('#lines li.final').length >= 9);

    const texts = await page.$$eval('#lines li.final .text', (items) => items.map((t) => t.textContent));
    expect(texts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `Line ${n} said.`));
    expect(await page.locator('#partials .partial').count()).toBe(0);
    // The browser asked to resume after the last line it had (EventSource's Last-Event-ID).
    const resumed = proxy.heads.filter((h) => h.includes('/events')).slice(streamsBefore);
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    expect(resumed[0]?.toLowerCase()).toContain('last-event-id: 3');
    await page.close();
  });

  it('shows the original, marked, where a translation failed, and the translation where it came', async () => {
    const feed = web.meeting(13);
    const first = captionEvent(katie, 'final', 'Good evening.', 'a');
    const second = captionEvent(steve, 'final', 'Hello all.', 'b');
    feed.caption(first);
    feed.caption(second);
    feed.translated({ event: first, translations: {}, failed: ['es'] });
    feed.translated({ event: second, translations: { es: 'Hola a todos.' }, failed: [] });
    const page = await browser.newPage();
    await page.goto(`${web.links.linkFor(GUILD_ID, 13, katie.id)}?overlay=1&lang=es&lines=5`);
    await page.waitForFunction(() => document.querySelectorAll('#lines li.final').length === 2 && document.querySelector('#lines li.untranslated') !== null);
    const shown = await page.$$eval('#lines li.final', (items) => items.map((li) => [li.querySelector('.text')?.textContent, li.className.includes('untranslated'), li.className.includes('pending')]));
    expect(shown).toEqual([
      ['Good evening.', true, false],
      ['Hola a todos.', false, false],
    ]);
    await page.close();
  });

  it('meets WCAG AA contrast (4.5:1) for names, captions, partials and controls in every theme', async () => {
    web.meeting(12);
    const page = await browser.newPage();
    await page.goto(web.links.linkFor(GUILD_ID, 12, katie.id));
    await page.locator('#status', { hasText: 'Live' }).waitFor();
    const ratios = await page.evaluate(() => {
      const luminance = (css: string) => {
        const [r = 0, g = 0, b = 0] = (css.match(/[\d.]+/g) ?? []).map(Number).map((v) => v / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const contrast = (a: string, b: string) => {
        const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
        return (hi + 0.05) / (lo + 0.05);
      };
      // One caption line per speaker colour, a partial and a notice, as the page draws them.
      const lines = document.getElementById('lines')!;
      for (let i = 0; i < 8; i++) {
        const li = document.createElement('li');
        li.className = `line final spk-${i}`;
        li.innerHTML = '<span class="name">Name</span><span class="text">text</span><span class="original">original</span>';
        lines.append(li);
      }
      const partial = document.createElement('div');
      partial.className = 'line partial spk-0';
      partial.innerHTML = '<span class="name">Name</span><span class="text">partial</span>';
      document.getElementById('partials')!.append(partial);
      const root = document.documentElement;
      const results: Array<{ look: string; what: string; ratio: number }> = [];
      for (const theme of ['dark', 'light']) {
        for (const contrastMode of ['normal', 'high']) {
          root.dataset['theme'] = theme;
          root.dataset['contrast'] = contrastMode;
          const page = getComputedStyle(document.body).backgroundColor;
          const panel = getComputedStyle(document.getElementById('controls')!).backgroundColor;
          const check = (what: string, node: Element, against: string) => results.push({ look: `${theme}/${contrastMode}`, what, ratio: contrast(getComputedStyle(node).color, against) });
          for (const node of document.querySelectorAll('#lines .name, #lines .text, #lines .original, #partials .text')) check(`${node.parentElement?.className} ${node.className}`, node, page);
          for (const node of document.querySelectorAll('#controls label, #status, #controls select')) check(node.id || node.tagName, node, panel);
        }
      }
      return results;
    });
    expect(ratios.length).toBeGreaterThan(80);
    expect(ratios.filter((r) => r.ratio < 4.5)).toEqual([]);
    await page.close();
  });

  it('shows a plain 403 page for a forged, expired or other-guild link', async () => {
    const feed = web.meeting(11);
    const good = web.links.linkFor(GUILD_ID, 11, katie.id);
    const token = good.split('/').at(-1)!;
    const forged = new LinkSigner(Buffer.alloc(32, 1)).sign({ guildId: GUILD_ID, meetingId: 11, userId: katie.id, expiresAt: Date.now() + 60_000 });
    const page = await browser.newPage();
    for (const url of [`${web.baseUrl}/captions/${GUILD_ID}/${forged}`, `${web.baseUrl}/captions/${OTHER_GUILD_ID}/${token}`]) {
      const response = await page.goto(url);
      expect(response?.status()).toBe(403);
      expect(await page.textContent('h1')).toBe('This caption link is not valid');
      expect(await page.locator('script').count()).toBe(0);
    }
    const open = await page.goto(good);
    expect(open?.status()).toBe(200);
    // The meeting ends; 2 hours later the open page's stream and a fresh load are both refused.
    feed.end();
    await page.locator('#status', { hasText: 'ended' }).waitFor();
    web.advanceWallClock(LINK_TTL_AFTER_END_MS + 1_000);
    const expired = await page.goto(good);
    expect(expired?.status()).toBe(403);
    expect(await page.textContent('body')).toContain('expired');
    await page.close();
  });
});
