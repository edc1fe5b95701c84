/**
 * Abuse limits, through the real bot and the Discord stand-in: cooldowns on /join, /end and /recap per member and
 * per guild; a maximum meeting length with a warning before it; leaving a voice channel nobody is in. Each limit
 * is exercised in its own guild, so one's cooldowns never touch another's meetings.
 */
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand, type CommandReply } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

/** A guild with a voice channel, a text channel and one member (the owner) in the voice channel. */
function smallGuild(n: number): GuildSpec & { ids: { guildId: string; voiceChannelId: string; textChannelId: string; ownerId: string } } {
  const base = `13090000000000${n}0`;
  const guildIds = { guildId: `${base}0`, voiceChannelId: `${base}1`, textChannelId: `${base}2`, ownerId: `${base}3` };
  return {
    ids: guildIds,
    id: guildIds.guildId,
    name: `Guild ${n}`,
    ownerId: guildIds.ownerId,
    everyonePermissions: DEFAULT_EVERYONE_PERMISSIONS,
    botRolePermissions: DEFAULT_BOT_PERMISSIONS,
    botRoleId: `${base}4`,
    channels: [
      { id: guildIds.voiceChannelId, name: 'Voice', type: ChannelType.GuildVoice },
      { id: guildIds.textChannelId, name: 'text', type: ChannelType.GuildText },
    ],
    members: [{ id: guildIds.ownerId, username: `owner${n}`, globalName: `Owner ${n}`, voiceChannelId: guildIds.voiceChannelId }],
  };
}

const LONG = smallGuild(71);
const EMPTY = smallGuild(72);

function expectRefused(reply: CommandReply, phrase: string): void {
  expect(reply.ephemeral).toBe(true);
  expect(reply.content).toContain(phrase);
}

describe('limits', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [defaultGuildSpec(), LONG, EMPTY] } });
    bot = await startInProcessBot(world, {
      COOLDOWN_MEMBER_S: '60',
      COOLDOWN_GUILD_S: '60',
      // 6 s, warned 3 s before; an empty channel is left after 1.2 s.
      MAX_MEETING_MINUTES: '0.1',
      MAX_MEETING_WARNING_MINUTES: '0.05',
      EMPTY_CHANNEL_LEAVE_MINUTES: '0.02',
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('a member, then the guild, must wait out the cooldown of /join; a refused command starts none', async () => {
    const { standIn } = world;
    // Steve may not post in #captions: refused by the command, so no cooldown starts.
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.steveId }), 'Send Messages');
    expect((await runCommand(standIn, { commandName: 'join', userId: ids.katieId })).content).toContain('Captioning');
    expect((await runCommand(standIn, { commandName: 'end', userId: ids.katieId })).content).toContain('Captioning ended');
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.katieId }), 'You used /join moments ago. Try again in');
    // Steve, from the voice channel's chat where he can post, meets the guild's cooldown.
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.steveId, channelId: ids.voiceChannelId }), '/join was used in this server moments ago');
    expectRefused(await runCommand(standIn, { commandName: 'end', userId: ids.katieId }), 'You used /end moments ago');
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
  });

  it('warns before the maximum meeting length, then ends the meeting and posts the transcript', async () => {
    const { standIn } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', guildId: LONG.ids.guildId, userId: LONG.ids.ownerId });
    await standIn.memberSpeak(LONG.ids.ownerId, right);
    const warning = await waitForChannelPost(standIn, LONG.ids.textChannelId, from, (c) => c.includes("reaches Parley's maximum length"));
    expect(contentOf(warning)).toContain('the transcript is posted');
    const report = await waitForChannelPost(standIn, LONG.ids.textChannelId, from, (c) => c.startsWith("⏹️ This meeting reached Parley's maximum length"));
    expect(report.files.map((f) => f.name)).toContain('transcript.md');
    expect(standIn.requests.indexOf(warning)).toBeLessThan(standIn.requests.indexOf(report));
    await bot.logs.waitFor((l) => l.msg === 'meeting ended' && l['guildId'] === LONG.ids.guildId);
    expect(bot.bot.meetings.get(LONG.ids.guildId)).toBeUndefined();
  });

  it('leaves a voice channel nobody is in, posting the transcript', async () => {
    const { standIn } = world;
    const from = standIn.requests.length;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    await runCommand(standIn, { commandName: 'join', guildId: EMPTY.ids.guildId, userId: EMPTY.ids.ownerId });
    standIn.setVoiceState(EMPTY.ids.ownerId, null);
    const report = await waitForChannelPost(standIn, EMPTY.ids.textChannelId, from, (c) => c.startsWith('⏹️ Nobody has been in the voice channel for a while'));
    expect(report.status).toBe(200);
    const leaves = standIn.gatewayPayloads.entries
      .slice(gatewayFrom)
      .filter((p) => p.op === 4 && (p.d as { guild_id: string }).guild_id === EMPTY.ids.guildId)
      .map((p) => (p.d as { channel_id: string | null }).channel_id);
    expect(leaves).toEqual([EMPTY.ids.voiceChannelId, null]);
    await bot.logs.waitFor((l) => l.msg === 'meeting ended' && l['guildId'] === EMPTY.ids.guildId);
    expect(bot.bot.meetings.get(EMPTY.ids.guildId)).toBeUndefined();
  });
});

describe('daily speech-to-text budget', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld();
    // 1.2 s of session time per server per day: one utterance spends it.
    bot = await startInProcessBot(world, { DAILY_STT_MINUTES_PER_GUILD: '0.02' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('ends the meeting with a plain notice once the server has used it, and refuses /join until the next UTC day', async () => {
    const { standIn } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await standIn.memberSpeak(ids.katieId, right);
    const notice = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes("used today's speech-to-text budget"));
    expect(contentOf(notice)).toContain('after midnight UTC');
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ This server has used its speech-to-text time for today'));
    expect(report.files.map((f) => f.name)).toContain('transcript.md');
    await bot.logs.waitFor((l) => l.msg === 'meeting ended');
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.katieId }), 'used its speech-to-text time for today');
  });
});
