/**
 * A crash mid-meeting: the real bot process is SIGKILLed after members' captions were posted; a new process on
 * the same DATA_DIR finishes the interrupted meeting on /end from disk, with every caption said before the kill
 * and a recap. Another guild, where Parley is also a member, can see nothing of it.
 */
import { ChannelType } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { expectNoMentionsAnywhere, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';
import { isRecap } from './support/llm.ts';

const ids = DEFAULT_IDS;

/** A second guild with its own members and channels; Parley is in it too. */
const OTHER = {
  guildId: '1309000000000000700',
  botRoleId: '1309000000000000701',
  voiceChannelId: '1309000000000000702',
  textChannelId: '1309000000000000703',
  oliveId: '1309000000000000704',
} as const;

function otherGuildSpec(): GuildSpec {
  return {
    id: OTHER.guildId,
    name: 'Other Guild',
    ownerId: OTHER.oliveId,
    everyonePermissions: DEFAULT_EVERYONE_PERMISSIONS,
    botRolePermissions: DEFAULT_BOT_PERMISSIONS,
    botRoleId: OTHER.botRoleId,
    channels: [
      { id: OTHER.voiceChannelId, name: 'Lounge', type: ChannelType.GuildVoice },
      { id: OTHER.textChannelId, name: 'general', type: ChannelType.GuildText },
    ],
    members: [{ id: OTHER.oliveId, username: 'olive', globalName: 'Olive', voiceChannelId: OTHER.voiceChannelId }],
  };
}

async function killed(bot: BotProcess | undefined): Promise<void> {
  if (bot === undefined || bot.child.exitCode !== null || bot.child.signalCode !== null) return;
  bot.child.kill('SIGKILL');
  await bot.exited;
}

describe('a meeting interrupted by a crash', () => {
  let world: World;
  const processes: BotProcess[] = [];
  /** Sessions close 2 s after a speaker stops, so a test knows when every final has been sent. */
  const env = { STT_IDLE_CLOSE_MS: '2000' };
  const start = async (): Promise<BotProcess> => {
    const bot = await startBotProcess(world, env);
    processes.push(bot);
    return bot;
  };

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer }, standIn: { guilds: [defaultGuildSpec(), otherGuildSpec()] } });
  });

  afterAll(async () => {
    for (const bot of processes) await killed(bot);
    await world?.close();
  });

  it('is finished from disk by /end after a restart, with every caption said before the kill and a recap; other guilds see none of it', async () => {
    const { standIn, stt, llm } = world;
    const { left, right } = await twoSpeakers();
    const first = await start();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const finals = (await closedSessions(stt, 0, 2)).flatMap(finalsOf);
    const posted = await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    expect(posted.map((line) => line.replace(/^\*\*(Katie|Steve):\*\* /, '')).sort()).toEqual([...finals].sort());

    first.child.kill('SIGKILL');
    await expect(first.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
    expect(standIn.requests.slice(from).some((r) => contentOf(r).startsWith('⏹️'))).toBe(false);

    const restartedAt = standIn.requests.length;
    await start();
    const announced = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⚠️ Parley restarted while captioning'));
    expect(contentOf(announced)).toContain('/end');
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.ephemeral).toBe(true);
    const [, meetingId = ''] = /^Ended the interrupted meeting #(\d+); its transcript is posted in <#(\d+)>\.$/.exec(ended.content) ?? [];
    expect(meetingId).not.toBe('');
    expect(ended.content).toContain(`<#${ids.textChannelId}>`);

    const report = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⏹️ This meeting was interrupted'));
    expect(contentOf(report)).toBe(
      `⏹️ This meeting was interrupted when Parley restarted; here is everything said before that. ${finals.length} captions from 2 speakers.\nThe transcript is attached.`,
    );
    const files = new Map(report.files.map((f) => [f.name, f.data.toString('utf8')]));
    expect([...files.keys()].sort()).toEqual(['recap.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    // Every caption posted before the kill, under the same name, and nothing else.
    const turns = (JSON.parse(files.get('transcript.json') ?? '{}') as { turns: Array<{ speaker: string; text: string }> }).turns;
    const speakers = (JSON.parse(files.get('transcript.json') ?? '{}') as { speakers: Array<{ id: string; name: string }> }).speakers;
    const nameOf = new Map(speakers.map((s) => [s.id, s.name]));
    expect(turns.map((t) => `**${nameOf.get(t.speaker) ?? t.speaker}:** ${t.text}`).sort()).toEqual([...posted].sort());
    const embeds = (report.body as { embeds?: Array<{ description?: string }> }).embeds ?? [];
    expect(embeds[0]?.description).toContain(`A meeting of ${finals.length} transcript lines`);
    expect(llm.requests.filter(isRecap)).toHaveLength(1);

    // The meeting is finished: a second /end finds nothing to end.
    const again = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(again.content).toBe('Parley is not captioning anything in this server. Use /join to start.');

    // Another guild: no meetings, by default or by number, and nothing posted there.
    const otherFrom = standIn.requests.length;
    const latest = await runCommand(standIn, { commandName: 'recap', guildId: OTHER.guildId, userId: OTHER.oliveId });
    expect(latest.ephemeral).toBe(true);
    expect(latest.content).toBe('No meetings have been captioned in this server yet.');
    const named = await runCommand(standIn, { commandName: 'recap', guildId: OTHER.guildId, userId: OTHER.oliveId, options: { meeting: Number(meetingId) } });
    expect(named.ephemeral).toBe(true);
    expect(named.content).toBe(`There is no meeting #${meetingId} in this server.`);
    const otherEnd = await runCommand(standIn, { commandName: 'end', guildId: OTHER.guildId, userId: OTHER.oliveId });
    expect(otherEnd.content).toBe('Parley is not captioning anything in this server. Use /join to start.');
    const otherWrites = standIn.requests.slice(otherFrom).filter((r) => r.files.length > 0 || r.route.startsWith('/channels/'));
    expect(otherWrites).toEqual([]);

    // In its own guild the meeting's recap comes back from disk, without asking the LLM again.
    const recap = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, options: { meeting: Number(meetingId) } });
    expect(recap.content).toBe(`Posted the recap of meeting #${meetingId}.`);
    const reposted = await waitForChannelPost(standIn, ids.textChannelId, otherFrom, (c) => c.startsWith(`📝 Recap of meeting #${meetingId}.`));
    expect(reposted.files.map((f) => f.name).sort()).toEqual(['recap.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    expect(llm.requests.filter(isRecap)).toHaveLength(1);
    expect(stt.violations).toEqual([]);
  });

  it('after another crash, announces the interrupted meeting; /join closes it and names it, and /recap of it works while the new meeting runs', async () => {
    const { standIn } = world;
    const crashed = processes.at(-1) ?? (await start());
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    const restartedAt = standIn.requests.length;
    await start();
    const announced = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⚠️ Parley restarted'));
    expect(contentOf(announced)).toContain(`captioning <#${ids.voiceChannelId}>`);

    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const [, interrupted = ''] = /`\/recap meeting:(\d+)`/.exec(joined.content) ?? [];
    expect(joined.content).toBe(
      `Captioning <#${ids.voiceChannelId}> in <#${ids.textChannelId}>. Use /end to stop. The meeting interrupted by Parley's restart was closed; \`/recap meeting:${interrupted}\` posts its transcript and recap.`,
    );
    // The latest meeting is the running one: not yet.
    const running = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId });
    expect(running.content).toBe('That meeting is still being captioned. Use /end to finish it; the recap comes then.');
    const from = standIn.requests.length;
    const recapped = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, options: { meeting: Number(interrupted) } });
    expect(recapped.content).toBe(`Posted the recap of meeting #${interrupted}.`);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith(`📝 Recap of meeting #${interrupted}. 0 captions`));

    // /end ends the running meeting; nothing is left unfinished.
    expect((await runCommand(standIn, { commandName: 'end', userId: ids.katieId })).content).toMatch(/^Captioning ended\. 0 captions;/);
    expect((await runCommand(standIn, { commandName: 'end', userId: ids.katieId })).content).toBe('Parley is not captioning anything in this server. Use /join to start.');
    // The restart announcements, reports, recaps and replies of both processes ping no one.
    expectNoMentionsAnywhere(standIn);
  });
});
