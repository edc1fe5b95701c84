/**
 * A configured model the LLM Gateway no longer serves (the fake lists only some models and answers any other with
 * 400 "model … is not supported", as the gateway does): the bot names it in a warning at start-up, and the recap
 * falls back to the next configured model instead of failing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { closedSessions, turnNamingRecognizer } from './support/turns.ts';
import { isRecap, modelOf } from './support/llm.ts';

const ids = DEFAULT_IDS;
const RETIRED = 'claude-retired-model';
const SERVED = ['gemini-2.5-flash-lite', 'claude-sonnet-4-6'];

describe('a configured model the gateway no longer serves', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer }, llm: { models: SERVED } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000', RECAP_MODEL: RETIRED, RECAP_FALLBACK_MODELS: 'claude-sonnet-4-6' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('is named in a warning at start-up, and the recap falls back to the next model at once', async () => {
    const { standIn, stt, llm } = world;
    const warning = await bot.logs.waitFor((line) => line.level === 40 && line.msg.includes(`does not list model ${RETIRED}`));
    expect(warning.raw).toContain(`"model":"${RETIRED}"`);
    expect(bot.logs.lines.filter((line) => line.msg.includes('does not list model'))).toHaveLength(1);

    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await standIn.memberSpeak(ids.steveId, right);
    await closedSessions(stt, sessionsBefore, 1);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    expect(contentOf(report)).not.toContain('could not be made');
    expect(report.files.map((file) => file.name)).toContain('recap.md');
    // One request to the retired model (no retries of it), then the fallback.
    expect(llm.requests.filter(isRecap).map(modelOf)).toEqual([RETIRED, 'claude-sonnet-4-6']);
  });
});
