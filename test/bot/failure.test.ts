/**
 * Failures stay local to the meeting they hit, through the real bot and the Discord stand-in: a database that
 * refuses writes does not stop captions; a caption channel that is deleted or closed to Parley ends the meeting
 * cleanly (sessions terminated, voice left, transcript kept for /recap); a meeting kicked while starting never
 * locks the guild out of /join.
 */
import { ChannelType, OverwriteType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { sessionFrom, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { channelOptions, contentOf, runCommand } from './support/commands.ts';
import { captionLines, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
const SPARE_CHANNEL_ID = '1309000000000000220';

function guildSpec(): GuildSpec {
  const spec = defaultGuildSpec();
  spec.channels = [...(spec.channels ?? []), { id: SPARE_CHANNEL_ID, name: 'spare', type: ChannelType.GuildText }];
  return spec;
}

/** Op 4 payloads the bot sent since `from`, as channel ids. */
function voiceStateUpdates(world: World, from: number): Array<string | null> {
  return world.standIn.gatewayPayloads.entries
    .slice(from)
    .filter((p) => p.op === 4)
    .map((p) => (p.d as { channel_id: string | null }).channel_id);
}

describe('failures stay local', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [guildSpec()] } });
    bot = await startInProcessBot(world, { METRICS_PORT: '0' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('a read-only database does not stop captions: the failure is logged, counted and told once; the transcript is complete', async () => {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    // SQLite now refuses every write on the bot's connection (SQLITE_READONLY), as with a read-only file.
    bot.bot.database.exec('PRAGMA query_only = ON');
    try {
      await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
      await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
      await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Steve:** ')));
      await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
      const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
      const lines = captionLines(standIn, ids.textChannelId, from);
      const turns = (JSON.parse(report.files.find((f) => f.name === 'transcript.json')!.data.toString('utf8')) as { turns: unknown[] }).turns;
      expect(turns).toHaveLength(lines.length);

      const told = standIn.requests.slice(from).filter((r) => r.method === 'POST' && contentOf(r).includes('cannot save to its database'));
      expect(told).toHaveLength(1);
      const failed = bot.logs.lines.filter((l) => l.msg === 'store write failed');
      // Every turn, the meeting's end and its recap were refused.
      expect(failed.map((l) => l['what']).sort()).toEqual([...lines.map(() => 'turn'), 'end', 'recap'].sort());
      expect(failed.every((l) => !l.raw.includes('Session') && String(l['err']).includes('readonly'))).toBe(true);
      const metrics = await fetch(`http://127.0.0.1:${bot.bot.opsPort}/metrics`).then((r) => r.text());
      expect(metrics).toContain(`parley_store_write_failures_total ${failed.length}`);
    } finally {
      bot.bot.database.exec('PRAGMA query_only = OFF');
    }
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
  });

  it('losing access to the caption channel ends the meeting: sessions terminated, voice left, transcript kept for /recap', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, ...channelOptions(standIn, { userId: ids.katieId }, { caption_channel: SPARE_CHANNEL_ID }) });
    const meetingId = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    const opened = sessionFrom(stt, stt.sessions.length);
    const from = standIn.requests.length;
    await standIn.memberSpeak(ids.katieId, right.slice(0, right.length / 2));
    await waitForChannelPost(standIn, SPARE_CHANNEL_ID, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
    const session = await opened;

    // An admin takes View Channel away from Parley's role (Discord sends it no event it must act on).
    const spare = standIn.world.guild().channels.get(SPARE_CHANNEL_ID)!;
    spare.permission_overwrites = [{ id: ids.botRoleId, type: OverwriteType.Role, allow: '0', deny: P.ViewChannel.toString() }];
    await standIn.memberSpeak(ids.katieId, right.slice(right.length / 2));
    const logFrom = bot.logs.lines.length;
    // The rolling live message is edited (PATCH) or a new one posted (POST): either is refused.
    await standIn.waitForRequest((r) => r.route.startsWith(`/channels/${SPARE_CHANNEL_ID}/messages`) && r.status === 403);
    await bot.logs.waitFor((l) => l.msg === 'meeting ended' && bot.logs.lines.indexOf(l) >= logFrom);
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    expect(session.terminated).toBe(true);
    await expect(session.closed).resolves.toMatchObject({ code: 1000 });
    expect(voiceStateUpdates(world, gatewayFrom)).toEqual([ids.voiceChannelId, null]);
    const stored = bot.bot.meetingStore.meeting(ids.guildId, meetingId);
    expect(stored?.endedAtMs).toBeDefined();
    expect(stored?.turnCount).toBeGreaterThanOrEqual(1);
    spare.permission_overwrites = [];

    // Katie (Manage Server) gets it back with /recap.
    const recap = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, options: { meeting: meetingId } });
    expect(recap.content).toMatch(new RegExp(`^📝 Recap of meeting #${meetingId}\\.`));
    expect(recap.answer.files.map((f) => f.name)).toContain('transcript.json');
  });

  it('a deleted caption channel ends the meeting at once', async () => {
    const { standIn } = world;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, ...channelOptions(standIn, { userId: ids.katieId }, { caption_channel: SPARE_CHANNEL_ID }) });
    const logFrom = bot.logs.lines.length;
    const guild = standIn.world.guild();
    const spare = guild.channels.get(SPARE_CHANNEL_ID)!;
    guild.channels.delete(SPARE_CHANNEL_ID);
    standIn.dispatch('CHANNEL_DELETE', { ...spare, guild_id: guild.id });
    try {
      await bot.logs.waitFor((l) => l.msg === 'meeting ended' && bot.logs.lines.indexOf(l) >= logFrom);
      await standIn.gatewayPayloads.waitFor((p) => p.op === 4 && (p.d as { channel_id: unknown }).channel_id === null && standIn.gatewayPayloads.entries.indexOf(p) >= gatewayFrom);
      expect(voiceStateUpdates(world, gatewayFrom)).toEqual([ids.voiceChannelId, null]);
      expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    } finally {
      guild.channels.set(SPARE_CHANNEL_ID, spare);
    }
  });

  it('a meeting kicked from voice while it is still starting is never registered: /join works again', async () => {
    const { standIn } = world;
    // Hold the start at its nickname change (429, retry in 3 s), and kick Parley meanwhile.
    standIn.rateLimitNext((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`, { retryAfterS: 3 });
    const from = standIn.requests.length;
    const payload = standIn.buildCommandInteraction({ commandName: 'join', userId: ids.katieId });
    standIn.sendInteraction(payload);
    await standIn.waitForRequest((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me` && r.status === 429 && standIn.requests.indexOf(r) >= from);
    standIn.disconnectBotFromVoice();
    const answer = await standIn.waitForRequest((r) => r.method === 'PATCH' && r.route === `/webhooks/${standIn.applicationId}/${payload.token}/messages/@original`);
    expect(contentOf(answer)).toContain('removed from the voice channel while it was joining');
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    const again = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(again.content).toBe(`Captioning <#${ids.voiceChannelId}> in <#${ids.textChannelId}>. Use /end to stop.`);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
  });

  // Last: the bot's client forgets the guild. (discord.js destroys its voice adapters then, which ends the meeting.)
  it('being removed from the server ends its meeting: sessions terminated, transcript kept', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const meetingId = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.katieId, right);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
    const session = await opened;
    const logFrom = bot.logs.lines.length;
    standIn.dispatch('GUILD_DELETE', { id: ids.guildId });
    await bot.logs.waitFor((l) => l.msg === 'meeting ended' && bot.logs.lines.indexOf(l) >= logFrom);
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    expect(session.terminated).toBe(true);
    expect(bot.bot.meetingStore.meeting(ids.guildId, meetingId)?.turnCount).toBeGreaterThanOrEqual(1);
  });
});
