/**
 * The per-server daily budget of LLM requests (`DAILY_LLM_REQUESTS_PER_GUILD`), through the real bot, the Discord
 * stand-in, the fake AssemblyAI server and the fake LLM Gateway: once the server's requests for the day are used,
 * captions go on, translations stop (each caption marked in its thread as not translated), the channel is told
 * once in plain words, and no recap is asked for at /end or by /recap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { channelWrites, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';
import { isRecap, isTranslation, translatedTurns } from './support/llm.ts';
import { threadsCreated, waitForThreadEntries } from './support/threads.ts';

const ids = DEFAULT_IDS;
const FAILED_MARK = '-# ⚠️ Translation failed; this is the original.';
const SPENT = "This server has used today's budget of 1 LLM request, so captions are not translated and no recap is made until midnight UTC.";

describe('daily LLM request budget', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer } });
    // One request per server per day: the first translation request spends it.
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000', DAILY_LLM_REQUESTS_PER_GUILD: '1' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('stops translating past the budget with one plain notice, captions going on, and makes no recap', async () => {
    const { standIn, stt, llm } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es' } });
    await standIn.memberSpeak(ids.steveId, withPauses(right, 800, 300));
    const finals = (await closedSessions(stt, sessionsBefore, 1)).flatMap(finalsOf);
    expect(finals.length).toBeGreaterThanOrEqual(2);
    // Every caption reached the channel.
    const originals = await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    expect(originals).toEqual(finals.map((text) => `**Steve:** ${text}`));

    // One translation request went out; its captions are translated, every later one is marked as not translated.
    await standIn.waitForRequest(() => threadsCreated(standIn, ids.textChannelId).length >= 1);
    const [thread] = threadsCreated(standIn, ids.textChannelId);
    const entries = await waitForThreadEntries(standIn, thread!.id, from, finals.length);
    const requests = llm.requests.filter(isTranslation);
    expect(requests).toHaveLength(1);
    const translated = new Set(translatedTurns(requests[0]!).map((t) => t.text));
    expect(translated.size).toBeGreaterThanOrEqual(1);
    expect(translated.size).toBeLessThan(finals.length);
    entries.forEach((entry, i) => {
      const text = finals[i]!;
      if (translated.has(text)) expect(entry.line).toBe(`**Steve:** [es] ${text}`);
      else expect(entry).toEqual({ line: `**Steve:** ${text}`, under: FAILED_MARK });
    });

    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\./);
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    expect(contentOf(report)).toBe(`⏹️ Captioning has ended. ${SPENT} ${finals.length} captions from 1 speaker.\nThe transcript is attached.`);
    expect(report.files.map((f) => f.name)).toContain('transcript.md');

    // Told once, in plain words; not as an outage.
    const posted = channelWrites(standIn, ids.textChannelId, from).map(contentOf);
    expect(posted.filter((c) => c.startsWith(`⚠️ ${SPENT}`))).toHaveLength(1);
    expect(posted.filter((c) => c.includes('Translations are unavailable'))).toEqual([]);

    // /recap of that meeting: the transcript again, no recap asked for.
    const again = standIn.requests.length;
    const recap = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId });
    const [, meetingId = ''] = /^Posted the recap of meeting #(\d+)\.$/.exec(recap.content) ?? [];
    const recapReport = await waitForChannelPost(standIn, ids.textChannelId, again, (c) => c.startsWith(`📝 Recap of meeting #${meetingId}.`));
    expect(contentOf(recapReport)).toContain(SPENT);
    expect(recapReport.files.map((f) => f.name)).toContain('transcript.md');
    expect(llm.requests.filter(isRecap)).toEqual([]);
    expect(llm.requests.filter(isTranslation)).toHaveLength(1);
  });
});
