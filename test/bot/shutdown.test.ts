/**
 * SIGTERM on the real bot process (`node src/main.ts`) with translation into three languages and an LLM Gateway
 * that never answers: the shutdown deadline (one AbortSignal passed down) still gets every session terminated and
 * the transcript posted, and the process exits 0, within its own 5 s limit (it exits 1 when the limit passes).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { sessionFrom, startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { turnNamingRecognizer } from './support/turns.ts';

const ids = DEFAULT_IDS;

describe('shutdown deadline', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    // The gateway takes every request and never answers.
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer }, llm: { handler: () => ({ hold: new Promise(() => {}) }) } });
    bot = await startBotProcess(world);
  });

  afterAll(async () => {
    if (bot !== undefined && bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await world?.close();
  });

  it('SIGTERM with three translation languages and a stalled LLM posts the transcript and exits 0 before its deadline', async () => {
    const { standIn, stt, llm } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es,de,fr' } });
    expect(joined.content).toContain('Captioning');
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Steve:** ')));
    // A translation is in flight and stalled.
    await llm.waitForRequests(1);
    const sessions = [await sessionFrom(stt, sessionsBefore), await sessionFrom(stt, sessionsBefore + 1)];

    bot.child.kill('SIGTERM');
    // 0, not the hard deadline's 1.
    await expect(bot.exited).resolves.toEqual({ code: 0, signal: null });
    for (const session of sessions) expect(session.terminated).toBe(true);
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Parley is shutting down, so captioning has ended.'));
    expect(report.status).toBe(200);
    expect(contentOf(report)).toContain('/recap');
    const turns = (JSON.parse(report.files.find((f) => f.name === 'transcript.json')!.data.toString('utf8')) as { turns: unknown[] }).turns;
    expect(turns.length).toBeGreaterThanOrEqual(2);
    // No recap was asked for: only translations reached the gateway.
    expect(llm.requests.every((r) => JSON.stringify(r.body).includes('translat'))).toBe(true);
  });
});

describe('unhandled rejection', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer } });
    const preload = fileURLToPath(new URL('./support/reject-on-signal.ts', import.meta.url));
    bot = await startBotProcess(world, { NODE_OPTIONS: `--import=${preload}` });
  });

  afterAll(async () => {
    if (bot !== undefined && bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await world?.close();
  });

  it('is logged, and ends meetings as SIGTERM would (sessions terminated, transcript posted), then exits 1', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = sessionFrom(stt, sessionsBefore);
    await standIn.memberSpeak(ids.katieId, right);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
    const session = await opened;

    bot.child.kill('SIGUSR2');
    await expect(bot.exited).resolves.toEqual({ code: 1, signal: null });
    expect(bot.output()).toContain('unhandled promise rejection; ending meetings and exiting');
    expect(bot.output()).toContain('injected unhandled rejection');
    expect(session.terminated).toBe(true);
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Parley is shutting down'));
    expect(report.files.map((f) => f.name)).toContain('transcript.json');
  });
});
