/**
 * The LLM Gateway down during a meeting: the translation model answers 500, the fallback model never answers
 * (each attempt times out after LLM_TIMEOUT_MS), the recap model answers 500. Nothing said may be lost: originals
 * keep flowing in the caption channel, each thread marks every caption it could not translate, the channel is
 * told once, and /end still posts every transcript file, saying the recap failed. Every failure is counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { defaultCompletion, type FakeLlmHandler } from '../fakes/llm-server.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { channelWrites, expectNoMentionsAnywhere, waitForChannelPost, writtenAt } from './support/messages.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';
import { isRecap, isTranslation, modelOf, translatedTurns } from './support/llm.ts';
import { threadPosts, threadsCreated, waitForThreadEntries } from './support/threads.ts';

const ids = DEFAULT_IDS;
const MAIN_MODEL = 'gemini-2.5-flash-lite';
const FALLBACK_MODEL = 'parley-fallback-translator';
const RECAP_MODEL = 'claude-sonnet-4-6';
const FAILED_MARK = '-# ⚠️ Translation failed; this is the original.';

/** The gateway down: 500 for the translation and recap models, no answer at all from the fallback. */
const gatewayDown: FakeLlmHandler = (request) => (modelOf(request) === FALLBACK_MODEL && !isRecap(request) ? { delayMs: 120_000 } : { status: 500 });

describe('the LLM Gateway failing during a meeting', () => {
  let world: World;
  let bot: InProcessBot;
  let gateway: FakeLlmHandler = gatewayDown;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer }, llm: { handler: (request) => gateway(request) } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000', LLM_TIMEOUT_MS: '1000', TRANSLATION_FALLBACK_MODELS: FALLBACK_MODEL });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  /** `parley_llm_errors_total` now. */
  const llmErrors = async (): Promise<number> => {
    const value = (await bot.bot.metrics.registry.getSingleMetric('parley_llm_errors_total')?.get())?.values[0]?.value;
    if (value === undefined) throw new Error('parley_llm_errors_total is not registered');
    return value;
  };

  it('keeps captions flowing untranslated, marks each in the threads, tells the channel once, tries the fallback, and posts the files saying the recap failed', async () => {
    const { standIn, stt, llm } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;

    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es,de' } });
    await standIn.memberSpeak(ids.steveId, withPauses(right, 800, 300));
    const finals = (await closedSessions(stt, sessionsBefore, 1)).flatMap(finalsOf);
    expect(finals.length).toBeGreaterThanOrEqual(2);
    const originals = await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    expect(originals).toEqual(finals.map((text) => `**Steve:** ${text}`));

    // Every caption reaches both threads, marked as failed (each batch fails on two models: a few seconds).
    await standIn.waitForRequest(() => threadsCreated(standIn, ids.textChannelId).length >= 2, { timeoutMs: 30_000 });
    const threads = threadsCreated(standIn, ids.textChannelId);
    expect(threads.map((t) => t.name).sort()).toEqual(['Captions · Deutsch', 'Captions · Español']);
    for (const thread of threads) {
      const entries = await waitForThreadEntries(standIn, thread.id, from, finals.length, 45_000);
      expect(entries).toEqual(originals.map((line) => ({ line, under: FAILED_MARK })));
    }
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toBe(`Captioning ended. ${finals.length} captions; the transcript is posted in <#${ids.textChannelId}>.`);

    // The original was never held back: each was in the channel before its failure mark reached a thread.
    const mainPosts = channelWrites(standIn, ids.textChannelId, from);
    for (const text of finals) {
      const original = mainPosts.find((r) => contentOf(r).split('\n').includes(`**Steve:** ${text}`));
      for (const thread of threads) {
        const marked = threadPosts(standIn, thread.id, from).find((r) => contentOf(r).split('\n').includes(`**Steve:** ${text}`));
        expect(writtenAt(original!)).toBeLessThan(writtenAt(marked!));
      }
    }
    // Told once, in plain words.
    const notices = mainPosts.map(contentOf).filter((c) => c.startsWith('⚠️ Translations are unavailable right now'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('Captions continue in the original language; failed translations are marked.');

    // Each batch was tried three times on the translation model, then three times on the fallback.
    const translations = llm.requests.filter(isTranslation);
    const batches = new Map<string, string[]>();
    for (const request of translations) {
      const key = translatedTurns(request).map((t) => t.text).join('|');
      batches.set(key, [...(batches.get(key) ?? []), modelOf(request)]);
    }
    expect([...batches.keys()].flatMap((key) => key.split('|')).sort()).toEqual([...finals].sort());
    for (const models of batches.values()) expect(models).toEqual([MAIN_MODEL, MAIN_MODEL, MAIN_MODEL, FALLBACK_MODEL, FALLBACK_MODEL, FALLBACK_MODEL]);

    // /end: the transcript files all the same, and a message saying the recap failed.
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    expect(contentOf(report)).toMatch(/^⏹️ Captioning has ended\. \d+ captions from 1 speaker\.\nThe recap could not be made \(.*HTTP 500.*\)\. The transcript files are attached; use \/recap later to try again\.\nThe transcript is attached\.$/);
    expect(report.files.map((f) => f.name).sort()).toEqual(['transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    expect((report.body as { embeds?: unknown[] }).embeds ?? []).toEqual([]);
    const turns = (JSON.parse(report.files.find((f) => f.name === 'transcript.json')!.data.toString('utf8')) as { turns: Array<{ text: string }> }).turns;
    expect(turns.map((t) => t.text)).toEqual(finals);
    expect(llm.requests.filter(isRecap).map(modelOf)).toEqual([RECAP_MODEL, RECAP_MODEL, RECAP_MODEL]);

    // Exactly what was lost is counted: every caption's translation, and the recap.
    expect(await llmErrors()).toBe(finals.length + 1);
  });

  it('/recap while the gateway is still down posts the files and says so again; once it is back, /recap makes the recap', async () => {
    const { standIn, llm } = world;
    const errorsBefore = await llmErrors();
    const from = standIn.requests.length;
    const down = await runCommand(standIn, { commandName: 'recap', userId: ids.steveId });
    const [, meetingId = ''] = /^Posted the recap of meeting #(\d+)\.$/.exec(down.content) ?? [];
    expect(meetingId).not.toBe('');
    const failed = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith(`📝 Recap of meeting #${meetingId}.`));
    expect(contentOf(failed)).toContain('The recap could not be made');
    expect(failed.files.map((f) => f.name).sort()).toEqual(['transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    expect(await llmErrors()).toBe(errorsBefore + 1);

    gateway = defaultCompletion;
    const recapsBefore = llm.requests.filter(isRecap).length;
    const again = standIn.requests.length;
    expect((await runCommand(standIn, { commandName: 'recap', userId: ids.steveId })).content).toBe(`Posted the recap of meeting #${meetingId}.`);
    const made = await waitForChannelPost(standIn, ids.textChannelId, again, (c) => c.startsWith(`📝 Recap of meeting #${meetingId}.`));
    expect(contentOf(made)).not.toContain('could not be made');
    expect(made.files.map((f) => f.name)).toContain('recap.md');
    expect(((made.body as { embeds?: unknown[] }).embeds ?? []).length).toBeGreaterThan(0);
    expect(llm.requests.filter(isRecap)).toHaveLength(recapsBefore + 1);
    expect(await llmErrors()).toBe(errorsBefore + 1);
    expectNoMentionsAnywhere(standIn);
  });
});
