/**
 * The daily LLM request budget (`DAILY_LLM_REQUESTS_PER_GUILD`) in in-stream mode, through the real bot, the Discord
 * stand-in, the fake AssemblyAI server (which runs the `llm_gateway` prompt on every final turn against the fake
 * LLM Gateway) and that gateway. Parley makes no translation request itself here: each `LLMGatewayResponse` is one
 * request of the guild's. Once the budget is used, sessions open without `llm_gateway`, so AssemblyAI stops making
 * requests for this guild; captions go on, later ones are marked as not translated, and the channel is told once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { inStreamPayload } from '../fakes/llm-server.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { channelWrites, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';
import { threadsCreated, waitForThreadEntries } from './support/threads.ts';

const ids = DEFAULT_IDS;
const FAILED_MARK = '-# ⚠️ Translation failed; this is the original.';
const SPENT = "This server has used today's budget of 2 LLM requests";

describe('daily LLM request budget in in-stream mode', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000', TRANSLATION_MODE: 'in-stream', DAILY_LLM_REQUESTS_PER_GUILD: '2' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it("stops AssemblyAI's server-side requests once the guild's budget is used: the next session has no llm_gateway", async () => {
    const { standIn, stt, llm } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es' } });

    // Speech whose finals spend the budget part way: the session that carried llm_gateway is renewed without it.
    await standIn.memberSpeak(ids.steveId, withPauses(right, 800, 300));
    await standIn.memberSpeak(ids.steveId, right);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    const [first, ...later] = stt.sessions.slice(sessionsBefore);
    await Promise.all([first, ...later].map((s) => s?.closed));
    expect(first!.query.get('llm_gateway')).not.toBeNull();
    expect(later.length).toBeGreaterThanOrEqual(1);
    for (const session of later) expect(session.query.get('llm_gateway')).toBeNull();
    const firstFinals = finalsOf(first!);
    const secondFinals = later.flatMap(finalsOf);
    expect(firstFinals.length).toBeGreaterThanOrEqual(2);
    expect(secondFinals.length).toBeGreaterThanOrEqual(1);

    const finals = [...firstFinals, ...secondFinals];
    await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    const [thread] = threadsCreated(standIn, ids.textChannelId);
    const entries = await waitForThreadEntries(standIn, thread!.id, from, finals.length);

    // AssemblyAI asked the gateway only for the first session's finals; none for the second's.
    const asked = llm.requests.flatMap((r) => {
      const payload = inStreamPayload((r.body as { messages?: unknown[] }).messages ?? []);
      return payload === undefined ? [] : [payload.text];
    });
    expect(asked.sort()).toEqual([...firstFinals].sort());
    // The second session's captions are marked as not translated, and the channel was told once.
    expect(entries.slice(firstFinals.length)).toEqual(secondFinals.map((text) => ({ line: `**Steve:** ${text}`, under: FAILED_MARK })));
    const posted = channelWrites(standIn, ids.textChannelId, from).map(contentOf);
    expect(posted.filter((c) => c.startsWith(`⚠️ ${SPENT}`))).toHaveLength(1);
    expect(stt.violations).toEqual([]);
  });
});
