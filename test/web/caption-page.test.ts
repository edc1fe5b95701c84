/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The live caption page in a real browser (Debian's Chromium through playwright-core, which never downloads a
 * browser). Captions come from a real recording spoken into the Discord stand-in and recognised by the fake
 * AssemblyAI server, through the real bot: the link is the one `/captions` hands out. Every wait is for a DOM
 * condition or a server event, never a sleep.
 *
 * Screenshots of the page and of the overlay are saved to docs/screenshots/ from this run (the README shows them).
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/chromium.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec } from '../fakes/discord/stand-in.ts';
import type { Recognizer } from '../fakes/assemblyai-server.ts';
import { startWorld, type World } from '../bot/support/world.ts';
import { startInProcessBot, type InProcessBot } from '../bot/support/in-process.ts';
import { runCommand, subcommand } from '../bot/support/commands.ts';
import { sessionThatHeard, twoSpeakers, withPauses } from '../bot/support/audio.ts';
import { closedSessions, finalsOf } from '../bot/support/turns.ts';

const ids = DEFAULT_IDS;
const PRIYA_ID = '1309000000000000303';
const SCREENSHOTS = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

/** Sentences the fake recognizer "hears", one per turn, revealed a word per 150 ms of speech as partials. */
const SCRIPT = [
  'welcome back everyone tonight we finish the chapter on rivers',
  'the delta forms where the current slows and drops its sand',
  'can you share the map from last week please',
  'sure it is pinned in the study channel',
  'great so who wants to start with the first question',
  'I will take it the answer is erosion over thousands of years',
];
const scriptRecognizer: Recognizer = ({ session, turnOrder, startMs, endMs }) => {
  const words = (SCRIPT[(session.index * 3 + turnOrder) % SCRIPT.length] ?? '').split(' ');
  const shown = Math.max(1, Math.min(words.length, Math.floor((endMs - startMs) / 150)));
  return words.slice(0, shown).map((text, i) => ({ text, start: startMs + i * 150, end: startMs + (i + 1) * 150 }));
};

/** A free loopback port (the link's PUBLIC_URL must name the port before the bot starts). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Records, in the page, every partial shown and every final line added, in the order they were drawn. */
async function recordDrawing(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const log: Array<{ kind: 'partial' | 'final'; turn: string; name: string; text: string }> = [];
    (window as unknown as { drawn: typeof log }).drawn = log;
    const start = () => {
      const partials = document.getElementById('partials');
      const lines = document.getElementById('lines');
      if (partials === null || lines === null) return;
      new MutationObserver(() => {
        for (const node of partials.querySelectorAll<HTMLElement>('.partial')) {
          log.push({ kind: 'partial', turn: node.dataset['turn'] ?? '', name: node.querySelector('.name')?.textContent ?? '', text: node.querySelector('.text')?.textContent ?? '' });
        }
      }).observe(partials, { childList: true, subtree: true, characterData: true });
      new MutationObserver((records) => {
        for (const record of records) {
          for (const node of record.addedNodes) {
            if (!(node instanceof HTMLElement) || !node.classList.contains('final')) continue;
            log.push({ kind: 'final', turn: node.dataset['turn'] ?? '', name: node.querySelector('.name')?.textContent ?? '', text: node.querySelector('.text')?.textContent ?? '' });
          }
        }
      }).observe(lines, { childList: true });
    };
    document.addEventListener('DOMContentLoaded', start);
  });
}

/** The final lines on the page: speaker name, shown text, and the original shown under it (if any). */
function finalLines(page: Page): Promise<Array<{ name: string; text: string; original: string; colour: string }>> {
  return page.$$eval('#lines li.final', (items) =>
    items.map((li) => ({
      name: li.querySelector('.name')?.textContent ?? '',
      text: li.querySelector('.text')?.textContent ?? '',
      original: li.querySelector('.original')?.textContent ?? '',
      colour: getComputedStyle(li.querySelector('.name')!).color,
    })),
  );
}

/** Whether a PNG's pixel at (x, y) is fully transparent, decoded by the browser (about:blank has no CSP). */
async function alphaAt(browser: Browser, png: Buffer, x: number, y: number): Promise<number> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(
      async ({ base64, x, y }) => {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const context = canvas.getContext('2d')!;
        context.drawImage(bitmap, 0, 0);
        return context.getImageData(x, y, 1, 1).data[3] ?? -1;
      },
      { base64: png.toString('base64'), x, y },
    );
  } finally {
    await page.close();
  }
}

describe('the live caption page in Chromium, fed by the bot', () => {
  let world: World;
  let bot: InProcessBot;
  let browser: Browser;
  let link = '';
  let finals: Record<'Katie' | 'Steve', string[]> = { Katie: [], Steve: [] };

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.members = [...(guild.members ?? []), { id: PRIYA_ID, username: 'priya', globalName: 'Priya' }];
    const voice = guild.channels?.find((c) => c.type === ChannelType.GuildVoice);
    voice?.permissionOverwrites?.push({ id: PRIYA_ID, type: 'member', deny: P.ViewChannel });
    world = await startWorld({ stt: { recognizer: scriptRecognizer }, standIn: { guilds: [guild] } });
    const port = await freePort();
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000', WEB_PORT: String(port), WEB_HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}` });
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await bot?.stop();
    await world?.close();
  });

  it('/captions gives a member who can see the voice channel a personal link, and refuses one who cannot', async () => {
    const { standIn } = world;
    await runCommand(standIn, { commandName: 'languages', userId: ids.katieId, options: subcommand('set', { codes: 'es' }) });
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(joined.content).toContain('/captions');
    const reply = await runCommand(standIn, { commandName: 'captions', userId: ids.steveId });
    expect(reply.ephemeral).toBe(true);
    link = /<(http:\/\/127\.0\.0\.1:\d+\/captions\/\d+\/[\w.-]+)>/.exec(reply.content)?.[1] ?? '';
    expect(link).toContain(`/captions/${ids.guildId}/`);
    const refused = await runCommand(standIn, { commandName: 'captions', userId: PRIYA_ID });
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toContain("You can't view the voice channel");
    expect(refused.content).not.toContain('http');
    // The token never reaches the bot's log.
    const token = link.split('/').at(-1)!;
    expect(bot.logs.lines.some((line) => line.raw.includes(token))).toBe(false);
  });

  it('shows partials then finals of a real recording live, in order, attributed, each speaker in one colour', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    await recordDrawing(page);
    await page.goto(link);
    await page.locator('#status', { hasText: 'Live' }).waitFor();
    const sessionsBefore = stt.sessions.length;
    // Pauses longer than max_turn_silence (1 s): each stretch of speech is its own turn.
    const katieSays = withPauses(left, 2_000, 1_200);
    const steveSays = withPauses(right, 2_000, 1_200);
    await Promise.all([standIn.memberSpeak(ids.katieId, katieSays), standIn.memberSpeak(ids.steveId, steveSays)]);
    const sessions = await closedSessions(stt, sessionsBefore, 2);
    finals = { Katie: finalsOf(sessionThatHeard(sessions, katieSays)), Steve: finalsOf(sessionThatHeard(sessions, steveSays)) };
    const total = finals.Katie.length + finals.Steve.length;
    expect(total).toBeGreaterThanOrEqual(3);
    await page.waitForFunction((n) => document.querySelectorAll('#lines li.final').length >= n, total);

    const lines = await finalLines(page);
    expect(lines).toHaveLength(total);
    for (const name of ['Katie', 'Steve'] as const) {
      expect(lines.filter((l) => l.name === name).map((l) => l.text)).toEqual(finals[name]);
      expect(new Set(lines.filter((l) => l.name === name).map((l) => l.colour)).size).toBe(1);
    }
    expect(lines.find((l) => l.name === 'Katie')?.colour).not.toBe(lines.find((l) => l.name === 'Steve')?.colour);
    // Partials were drawn before their finals, and none was drawn after its turn's final.
    const drawn = await page.evaluate(() => (window as unknown as { drawn: Array<{ kind: string; turn: string; name: string; text: string }> }).drawn);
    const finalAt = new Map(drawn.flatMap((d, i) => (d.kind === 'final' ? [[d.turn, i] as const] : [])));
    const partialTurns = drawn.flatMap((d, i) => (d.kind === 'partial' ? [{ ...d, i }] : []));
    expect(partialTurns.length).toBeGreaterThan(0);
    for (const partial of partialTurns) expect(partial.i, `partial of ${partial.turn} drawn after its final`).toBeLessThan(finalAt.get(partial.turn) ?? Infinity);
    expect(partialTurns.filter((p) => finalAt.has(p.turn)).length).toBeGreaterThan(0);
    // Only finals are announced to screen readers, and the partial area is empty once everyone is quiet.
    expect(await page.locator('#partials .partial').count()).toBe(0);
    expect(await page.getAttribute('#announcer', 'aria-live')).toBe('polite');
    const announced = await page.$$eval('#announcer p', (ps) => ps.map((p) => p.textContent));
    expect(announced.length).toBeGreaterThan(0);
    for (const text of announced) expect([...finals.Katie.map((f) => `Katie: ${f}`), ...finals.Steve.map((f) => `Steve: ${f}`)]).toContain(text);
    await page.close();
  });

  it('switches to a translation with the keyboard, keeps the original under it on request, and remembers the choice', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    await page.goto(link);
    const total = finals.Katie.length + finals.Steve.length;
    await page.waitForFunction((n) => document.querySelectorAll('#lines li.final').length >= n, total);
    // Keyboard only: tab to the language picker, choose Spanish, tab to the checkbox and tick it.
    await page.locator('#language option[value="es"]').waitFor({ state: 'attached' });
    await page.focus('#language');
    await page.keyboard.press('ArrowDown');
    expect(await page.inputValue('#language')).toBe('es');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    expect(await page.isChecked('#show-original')).toBe(true);
    await page.waitForFunction(() => [...document.querySelectorAll('#lines li.final .text')].every((t) => t.textContent?.startsWith('[es] ')));
    const lines = await finalLines(page);
    for (const name of ['Katie', 'Steve'] as const) {
      const mine = lines.filter((l) => l.name === name);
      expect(mine.map((l) => l.text)).toEqual(finals[name].map((f) => `[es] ${f}`));
      expect(mine.map((l) => l.original)).toEqual(finals[name]);
    }
    await page.screenshot({ path: `${SCREENSHOTS}caption-page.png` });
    // Remembered: a reload shows Spanish straight away.
    await page.reload();
    await page.waitForFunction((n) => document.querySelectorAll('#lines li.final').length >= n, total);
    expect(await page.inputValue('#language')).toBe('es');
    await page.close();
  });

  it('renders the overlay with a transparent background, the last lines only, large text, language from the URL', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 300 } });
    await page.goto(`${link}?overlay=1&lang=es&size=44&lines=2`);
    await page.waitForFunction(() => document.querySelectorAll('#lines li.final:not([hidden])').length === 2 && [...document.querySelectorAll('#lines li.final:not([hidden]) .text')].every((t) => t.textContent?.startsWith('[es] ')));
    const look = await page.evaluate(() => ({
      html: getComputedStyle(document.documentElement).backgroundColor,
      body: getComputedStyle(document.body).backgroundColor,
      controls: getComputedStyle(document.getElementById('controls')!).display,
      size: getComputedStyle(document.getElementById('captions')!).fontSize,
    }));
    expect(look).toEqual({ html: 'rgba(0, 0, 0, 0)', body: 'rgba(0, 0, 0, 0)', controls: 'none', size: '44px' });
    const png = await page.screenshot({ omitBackground: true, path: `${SCREENSHOTS}overlay.png` });
    // The top-left corner is page background, above the bottom-aligned lines: see-through in OBS.
    expect(await alphaAt(browser, png, 2, 2)).toBe(0);
    await page.close();
  });
});
