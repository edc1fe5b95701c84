/**
 * End to end: the real bot process, started as `npm start` starts it, against the Discord stand-in and the fake
 * AssemblyAI server. Members speak real recordings as encrypted RTP Opus packets (nothing during silence); the
 * test only acts where Discord would (gateway dispatches, voice packets) and only checks what Discord and
 * AssemblyAI would see.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import type { FakeSession } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import { TEST_DISCORD_TOKEN, sessionFrom, sessionTaggingRecognizer, startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { captionLines, expectNoMentionsAnywhere, waitForChannelPost } from './support/messages.ts';
import { sessionThatHeard, twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

/** Op 4 (Voice State Update) payloads the bot sent for the default guild, as `channel_id`s. */
function voiceStateUpdates(world: World): Array<string | null> {
  return world.standIn.gatewayPayloads
    .filter((p) => p.op === 4 && (p.d as { guild_id?: string }).guild_id === ids.guildId)
    .map((p) => (p.d as { channel_id: string | null }).channel_id);
}

describe('the bot process (`node src/main.ts`)', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: sessionTaggingRecognizer } });
    bot = await startBotProcess(world);
  });

  afterAll(async () => {
    if (bot !== undefined && bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await world?.close();
  });

  it('joins on /join, captions two members under their names, and on /end leaves voice and posts the transcript files', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;

    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(joined.ephemeral).toBe(true);
    expect(joined.content).toBe(`Captioning <#${ids.voiceChannelId}> in <#${ids.textChannelId}>. Use /end to stop.`);
    expect(voiceStateUpdates(world)).toEqual([ids.voiceChannelId]);
    const identify = await standIn.voicePayloads.waitFor((m) => m.op === 0);
    expect(identify.d).toMatchObject({ server_id: ids.guildId, user_id: ids.botUserId });
    // Parley listens: it joins undeafened (a deafened client receives no audio).
    const op4 = standIn.gatewayPayloads.filter((p) => p.op === 4)[0];
    expect(op4?.d).toMatchObject({ self_deaf: false });

    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const finalOf = (name: string) => waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith(`**${name}:** `)));
    await Promise.all([finalOf('Katie'), finalOf('Steve')]);

    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    expect(ended.ephemeral).toBe(true);
    expect(ended.content).toMatch(/^Captioning ended\. \d+ captions?; the transcript is posted in/);
    expect(voiceStateUpdates(world)).toEqual([ids.voiceChannelId, null]);

    // Captions carry the name of the member whose audio the session received.
    const sessions = stt.sessions.slice();
    const sessionOf: Record<string, FakeSession> = { Katie: sessionThatHeard(sessions, left), Steve: sessionThatHeard(sessions, right) };
    const lines = captionLines(standIn, ids.textChannelId, from);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      const [, name = '', index = ''] = /^\*\*(Katie|Steve):\*\* Session(\d+)\.$/.exec(line) ?? [];
      expect(name, line).not.toBe('');
      expect(Number(index), line).toBe(sessionOf[name]?.index);
    }
    for (const session of sessions) {
      expect(session.terminated).toBe(true);
      await expect(session.closed).resolves.toMatchObject({ code: 1000 });
    }

    // The transcript files, as one multipart message.
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    expect(report.headers['content-type']).toMatch(/^multipart\/form-data/);
    const files = new Map(report.files.map((f) => [f.name, f.data.toString('utf8')]));
    expect([...files.keys()]).toEqual(expect.arrayContaining(['transcript.md', 'transcript.srt', 'transcript.vtt', 'transcript.json']));
    expect(files.get('transcript.md')).toMatch(/Katie/);
    expect(files.get('transcript.md')).toMatch(/Steve/);
    expect(files.get('transcript.vtt')).toMatch(/^WEBVTT/);
    expect(files.get('transcript.srt')).toMatch(/^1\r?\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}/);
    const json = JSON.parse(files.get('transcript.json') ?? '{}') as { speakers?: Array<{ id: string; name: string }> };
    expect(json.speakers).toEqual(expect.arrayContaining([expect.objectContaining({ id: ids.katieId, name: 'Katie' }), expect.objectContaining({ id: ids.steveId, name: 'Steve' })]));
    expect(stt.violations).toEqual([]);
    expectNoMentionsAnywhere(standIn);
  });

  it('on SIGTERM terminates every STT session, posts the transcript, leaves voice and exits 0 (before its 5 s deadline)', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });

    // Both are mid-sentence when the signal comes: their sessions are open and have audio.
    const speaking = Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const first = await sessionFrom(stt, sessionsBefore);
    const second = await sessionFrom(stt, sessionsBefore + 1);
    await Promise.all([first.waitForAudioMs(1_000), second.waitForAudioMs(1_000)]);
    const updatesBefore = voiceStateUpdates(world).length;
    // A recap takes an LLM many seconds; one that never answers must not hold up the shutdown.
    world.llm.script({ hold: new Promise(() => {}) });
    const llmRequests = world.llm.requests.length;
    bot.child.kill('SIGTERM');

    // Exit code 0, not the deadline's 1: everything below finished within the bot's own 5 s limit.
    await expect(bot.exited).resolves.toEqual({ code: 0, signal: null });
    await speaking;
    for (const session of [first, second]) {
      expect(session.terminated).toBe(true);
      await expect(session.closed).resolves.toMatchObject({ code: 1000 });
    }
    expect(stt.sessions.slice(sessionsBefore)).toEqual([first, second]);
    expect(voiceStateUpdates(world).slice(updatesBefore)).toEqual([null]);
    const told = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Parley is shutting down, so captioning has ended.'));
    expect(told.status).toBe(200);
    expect(contentOf(told)).toContain('/recap');
    expect(told.files.map((f) => f.name)).toEqual(expect.arrayContaining(['transcript.md', 'transcript.srt', 'transcript.vtt', 'transcript.json']));
    expect(world.llm.requests).toHaveLength(llmRequests);
    expect(stt.violations).toEqual([]);
    // Nothing secret reached the log.
    expect(bot.output()).not.toContain(TEST_DISCORD_TOKEN);
    expect(bot.output()).not.toContain(TEST_API_KEY);
    expectNoMentionsAnywhere(standIn);
  });
});
