/**
 * `/autojoin`, through the real bot and the Discord stand-in: members gathering in a voice channel start a meeting
 * (bot joins, consent notice), the channel emptying ends it (transcript posted), `clear` stops it, `list` shows it,
 * bad options get an ephemeral reply saying how to fix them, and a start that fails (a full channel) tells the
 * caption channel once and does not retry in a loop. Each scenario has its own guild.
 */
import { ApplicationCommandOptionType, ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import type { APIApplicationCommandInteractionDataOption } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, type DiscordStandIn, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { channelOptions, contentOf, runCommand, type CommandReply } from './support/commands.ts';
import { captionLines, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

interface AutoGuildIds {
  guildId: string;
  voiceChannelId: string;
  textChannelId: string;
  lockedVoiceId: string;
  categoryId: string;
  sideVoiceId: string;
  ownerId: string;
  annaId: string;
  benId: string;
  helperId: string;
}

/** A guild whose owner and members start outside any voice channel; "Locked" denies the bot Connect; "Rooms" is a category. */
function autoGuild(n: number, options: { userLimit?: number } = {}): GuildSpec & { ids: AutoGuildIds } {
  const base = `13130000000000${n}0`;
  const ids: AutoGuildIds = {
    guildId: `${base}0`,
    voiceChannelId: `${base}1`,
    textChannelId: `${base}2`,
    lockedVoiceId: `${base}3`,
    ownerId: `${base}4`,
    annaId: `${base}5`,
    benId: `${base}6`,
    helperId: `${base}7`,
    categoryId: `${base}9`,
    sideVoiceId: `${base.slice(0, -1)}99`,
  };
  const botRoleId = `${base}8`;
  return {
    ids,
    id: ids.guildId,
    name: `Auto ${n}`,
    ownerId: ids.ownerId,
    everyonePermissions: DEFAULT_EVERYONE_PERMISSIONS,
    botRolePermissions: DEFAULT_BOT_PERMISSIONS,
    botRoleId,
    channels: [
      { id: ids.voiceChannelId, name: 'Lounge', type: ChannelType.GuildVoice, ...(options.userLimit !== undefined && { userLimit: options.userLimit }) },
      { id: ids.textChannelId, name: 'captions', type: ChannelType.GuildText },
      { id: ids.lockedVoiceId, name: 'Locked', type: ChannelType.GuildVoice, permissionOverwrites: [{ id: botRoleId, type: 'role', deny: P.Connect }] },
      { id: ids.categoryId, name: 'Rooms', type: ChannelType.GuildCategory },
      { id: ids.sideVoiceId, name: 'Side', type: ChannelType.GuildVoice },
    ],
    members: [
      { id: ids.ownerId, username: `owner${n}`, globalName: `Owner ${n}` },
      { id: ids.annaId, username: `anna${n}`, globalName: 'Anna' },
      { id: ids.benId, username: `ben${n}`, globalName: 'Ben' },
      { id: ids.helperId, username: `helper${n}`, globalName: 'Helper' },
    ],
  };
}

const MAIN = autoGuild(1);
const OTHER = autoGuild(2);
const FULL = autoGuild(3, { userLimit: 2 });
const READONLY = autoGuild(4);

function sub(name: string, options: APIApplicationCommandInteractionDataOption[] = []): APIApplicationCommandInteractionDataOption[] {
  return [{ type: ApplicationCommandOptionType.Subcommand, name, options } as APIApplicationCommandInteractionDataOption];
}

/** `/autojoin set` as Discord sends it: two channel options with their resolved data, and an integer. */
function autojoinSet(standIn: DiscordStandIn, g: AutoGuildIds, voice: string, caption: string, minMembers: number, userId = g.ownerId): Promise<CommandReply> {
  const init = { guildId: g.guildId, userId };
  const channels = channelOptions(standIn, init, { voice_channel: voice, caption_channel: caption });
  const options = [...(channels.options as APIApplicationCommandInteractionDataOption[]), { type: ApplicationCommandOptionType.Integer, name: 'min_members', value: minMembers }];
  return runCommand(standIn, { commandName: 'autojoin', ...init, channelId: g.textChannelId, options: sub('set', options as APIApplicationCommandInteractionDataOption[]), resolved: channels.resolved ?? {} });
}

function autojoin(standIn: DiscordStandIn, g: AutoGuildIds, name: 'list' | 'clear', voice?: string): Promise<CommandReply> {
  const init = { guildId: g.guildId, userId: g.ownerId };
  const channels = voice === undefined ? undefined : channelOptions(standIn, init, { voice_channel: voice });
  return runCommand(standIn, {
    commandName: 'autojoin',
    ...init,
    channelId: g.textChannelId,
    options: sub(name, (channels?.options ?? []) as APIApplicationCommandInteractionDataOption[]),
    ...(channels?.resolved !== undefined && { resolved: channels.resolved }),
  });
}

/** The channel ids the bot asked to be in (gateway op 4) for a guild since `from`. */
function voiceJoins(standIn: DiscordStandIn, guildId: string, from: number): Array<string | null> {
  return standIn.gatewayPayloads.entries
    .slice(from)
    .filter((p) => p.op === 4 && (p.d as { guild_id: string }).guild_id === guildId)
    .map((p) => (p.d as { channel_id: string | null }).channel_id);
}

function expectRefused(reply: CommandReply, phrase: string): void {
  expect(reply.ephemeral).toBe(true);
  expect(reply.content).toContain(phrase);
}

describe('/autojoin', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [MAIN, OTHER, FULL, READONLY] } });
    // An empty channel is left after 1.2 s.
    bot = await startInProcessBot(world, { EMPTY_CHANNEL_LEAVE_MINUTES: '0.02' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('refuses bad options privately, saying how to fix them, and stores nothing', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    expectRefused(await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 0), '`min_members` must be a whole number from 1 to 99');
    expectRefused(await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 100), '`min_members` must be a whole number from 1 to 99');
    expectRefused(await autojoinSet(standIn, g, g.textChannelId, g.textChannelId, 2), 'Pick a voice channel of this server for `voice_channel`');
    expectRefused(await autojoinSet(standIn, g, g.voiceChannelId, g.categoryId, 2), 'Pick a text channel of this server for `caption_channel`');
    expectRefused(await autojoinSet(standIn, g, g.lockedVoiceId, g.textChannelId, 2), `Parley is missing permissions in <#${g.lockedVoiceId}>: **Connect**`);
    expectRefused(await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 2, g.annaId), 'Manage Server');
    expect(bot.bot.autoJoinRules.list(g.guildId)).toEqual([]);
  });

  it('joins when enough members gather, posts the consent notice, and leaves with the transcript once the channel empties', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    const set = await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 2);
    expect(set.ephemeral).toBe(true);
    expect(set.content).toContain(`Parley captions <#${g.voiceChannelId}> in <#${g.textChannelId}> by itself when 2 members are in it`);

    const listed = await autojoin(standIn, g, 'list');
    expect(listed.ephemeral).toBe(true);
    expect(listed.content).toContain(`<#${g.voiceChannelId}> → captions in <#${g.textChannelId}> when 2 members are in it (set by <@${g.ownerId}>)`);

    const from = standIn.requests.length;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    // One member is not enough: the bot answers a command after handling that voice state, and has not joined.
    await autojoin(standIn, g, 'list');
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([]);

    standIn.setVoiceState(g.benId, g.voiceChannelId, { guildId: g.guildId });
    const notice = await waitForChannelPost(standIn, g.textChannelId, from, (c) => c.startsWith('ℹ️'));
    expect(contentOf(notice)).toContain(`Captioning <#${g.voiceChannelId}>`);
    expect(contentOf(notice)).toContain('/optout');
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([g.voiceChannelId]);
    expect(bot.bot.meetings.get(g.guildId)?.voiceChannelId).toBe(g.voiceChannelId);

    const { right } = await twoSpeakers();
    await standIn.memberSpeak(g.annaId, right);
    await standIn.waitForRequest(() => captionLines(standIn, g.textChannelId, from).some((line) => line.startsWith('**Anna:**')));

    standIn.setVoiceState(g.annaId, null, { guildId: g.guildId });
    standIn.setVoiceState(g.benId, null, { guildId: g.guildId });
    const report = await waitForChannelPost(standIn, g.textChannelId, from, (c) => c.startsWith('⏹️ Nobody has been in the voice channel for a while'));
    expect(report.files.map((f) => f.name)).toContain('transcript.md');
    await bot.logs.waitFor((l) => l.msg === 'meeting ended' && l['guildId'] === g.guildId);
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([g.voiceChannelId, null]);
  });

  it('does not start again for the same gathering after /end, only once the channel has emptied', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    const from = standIn.requests.length;
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    standIn.setVoiceState(g.benId, g.voiceChannelId, { guildId: g.guildId });
    await waitForChannelPost(standIn, g.textChannelId, from, (c) => c.startsWith('ℹ️'));
    const ended = await runCommand(standIn, { commandName: 'end', guildId: g.guildId, userId: g.annaId, channelId: g.textChannelId });
    expect(ended.content).toContain('Captioning ended');
    // A third member joins the same gathering: no new meeting.
    standIn.setVoiceState(g.helperId, g.voiceChannelId, { guildId: g.guildId });
    await autojoin(standIn, g, 'list');
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([g.voiceChannelId, null]);
    expect(bot.bot.meetings.get(g.guildId)).toBeUndefined();
    // The gathering disperses and meets again: a new meeting.
    for (const id of [g.annaId, g.benId, g.helperId]) standIn.setVoiceState(id, null, { guildId: g.guildId });
    const again = standIn.requests.length;
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    standIn.setVoiceState(g.benId, g.voiceChannelId, { guildId: g.guildId });
    await waitForChannelPost(standIn, g.textChannelId, again, (c) => c.startsWith('ℹ️'));
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([g.voiceChannelId, null, g.voiceChannelId]);
    await runCommand(standIn, { commandName: 'end', guildId: g.guildId, userId: g.annaId, channelId: g.textChannelId });
    for (const id of [g.annaId, g.benId]) standIn.setVoiceState(id, null, { guildId: g.guildId });
  });

  it('keeps each server to its own rules, and clear stops auto-join', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    const o = OTHER.ids;
    expect((await autojoinSet(standIn, o, o.voiceChannelId, o.textChannelId, 1)).content).toContain('by itself when 1 member is in it');
    const otherList = await autojoin(standIn, o, 'list');
    expect(otherList.content).toContain(`<#${o.voiceChannelId}>`);
    expect(otherList.content).not.toContain(g.voiceChannelId);
    expect(bot.bot.autoJoinRules.list(g.guildId).map((r) => r.voiceChannelId)).toEqual([g.voiceChannelId]);

    const cleared = await autojoin(standIn, g, 'clear', g.voiceChannelId);
    expect(cleared.content).toContain(`Parley no longer joins <#${g.voiceChannelId}> by itself`);
    expect((await autojoin(standIn, g, 'list')).content).toContain('This server has no auto-join channels');
    // The other server's rule stays.
    expect(bot.bot.autoJoinRules.list(o.guildId).map((r) => r.voiceChannelId)).toEqual([o.voiceChannelId]);

    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    standIn.setVoiceState(g.benId, g.voiceChannelId, { guildId: g.guildId });
    await autojoin(standIn, g, 'list');
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([]);
    expect(bot.bot.meetings.get(g.guildId)).toBeUndefined();
    expect((await autojoin(standIn, o, 'clear')).content).toContain('Removed 1 auto-join channel');
  });

  it('does not start while the server has a meeting in another channel', async () => {
    const { standIn } = world;
    const o = OTHER.ids;
    const init = { guildId: o.guildId, userId: o.ownerId };
    const joined = await runCommand(standIn, { commandName: 'join', ...init, channelId: o.textChannelId, ...channelOptions(standIn, init, { voice_channel: o.sideVoiceId }) });
    expect(joined.content).toContain(`Captioning <#${o.sideVoiceId}>`);
    await autojoinSet(standIn, o, o.voiceChannelId, o.textChannelId, 1);
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    const mark = bot.logs.lines.length;
    standIn.setVoiceState(o.annaId, o.voiceChannelId, { guildId: o.guildId });
    const evaluated = await bot.logs.waitFor((l) => bot.logs.lines.indexOf(l) >= mark && l.msg === 'auto-join evaluated' && l['guildId'] === o.guildId && l['members'] === 1);
    expect(evaluated['outcome']).toBe('a meeting runs in this server');
    expect(voiceJoins(standIn, o.guildId, gatewayFrom)).toEqual([]);
    expect(bot.bot.meetings.get(o.guildId)?.voiceChannelId).toBe(o.sideVoiceId);
    await runCommand(standIn, { commandName: 'end', ...init, channelId: o.textChannelId });
    await autojoin(standIn, o, 'clear');
    standIn.setVoiceState(o.annaId, null, { guildId: o.guildId });
  });

  it('a start that fails tells the caption channel once and cools off instead of retrying on every change', async () => {
    const { standIn } = world;
    const f = FULL.ids;
    // The channel's user limit is 2: with 2 members in, it is full and the bot (without Move Members) cannot join.
    expect((await autojoinSet(standIn, f, f.voiceChannelId, f.textChannelId, 2)).ephemeral).toBe(true);
    const from = standIn.requests.length;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    standIn.setVoiceState(f.annaId, f.voiceChannelId, { guildId: f.guildId });
    standIn.setVoiceState(f.benId, f.voiceChannelId, { guildId: f.guildId });
    const told = await waitForChannelPost(standIn, f.textChannelId, from, (c) => c.startsWith('⚠️ Parley could not start captioning'));
    expect(contentOf(told)).toContain('is full');
    // More changes in the channel: each is evaluated and refused while cooling off, with no second attempt or notice.
    const mark = bot.logs.lines.length;
    standIn.setVoiceState(f.annaId, null, { guildId: f.guildId });
    standIn.setVoiceState(f.annaId, f.voiceChannelId, { guildId: f.guildId });
    const rejoined = await bot.logs.waitFor((l) => bot.logs.lines.indexOf(l) >= mark && l.msg === 'auto-join evaluated' && l['guildId'] === f.guildId && l['members'] === 2);
    expect(rejoined['outcome']).toBe('cooling off after a failure');
    await autojoin(standIn, f, 'list');
    expect(bot.logs.lines.filter((l) => l.msg === 'auto-join could not start' && l['guildId'] === f.guildId)).toHaveLength(1);
    expect(standIn.requests.slice(from).filter((r) => r.method === 'POST' && r.route === `/channels/${f.textChannelId}/messages`)).toHaveLength(1);
    expect(voiceJoins(standIn, f.guildId, gatewayFrom)).toEqual([]);
  });

  it('a database that refuses writes stops only that start: logged, counted, told once, and the bot goes on', async () => {
    const { standIn } = world;
    const r = READONLY.ids;
    expect((await autojoinSet(standIn, r, r.voiceChannelId, r.textChannelId, 1)).ephemeral).toBe(true);
    // A meeting left open by a crash: the start must close it first, and that write fails.
    bot.bot.meetingStore.startMeeting({ guildId: r.guildId, voiceChannelId: r.voiceChannelId, captionChannelId: r.textChannelId, startedBy: r.ownerId, startedAtMs: Date.now() - 60_000 });
    const from = standIn.requests.length;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    bot.bot.database.exec('PRAGMA query_only = ON');
    try {
      standIn.setVoiceState(r.annaId, r.voiceChannelId, { guildId: r.guildId });
      const told = await waitForChannelPost(standIn, r.textChannelId, from, (c) => c.startsWith('⚠️ Parley could not start captioning'));
      expect(contentOf(told)).toContain('could not write to its database');
      const logged = await bot.logs.waitFor((l) => l.msg === 'auto-join could not close the interrupted meeting' && l['guildId'] === r.guildId);
      expect(String(logged['err'])).toContain('readonly');
    } finally {
      bot.bot.database.exec('PRAGMA query_only = OFF');
    }
    expect(voiceJoins(standIn, r.guildId, gatewayFrom)).toEqual([]);
    // The process is alive and answers.
    expect((await autojoin(standIn, r, 'list')).content).toContain(r.voiceChannelId);
  });

  it('a deleted voice channel takes its rule with it', async () => {
    const { standIn } = world;
    const o = OTHER.ids;
    await autojoinSet(standIn, o, o.sideVoiceId, o.textChannelId, 3);
    await autojoinSet(standIn, o, o.voiceChannelId, o.textChannelId, 3);
    const guild = standIn.world.guild(o.guildId);
    const side = guild.channels.get(o.sideVoiceId)!;
    guild.channels.delete(o.sideVoiceId);
    standIn.dispatch('CHANNEL_DELETE', { ...side, guild_id: o.guildId });
    // The bot handles the deletion before the command that follows it.
    const listed = await autojoin(standIn, o, 'list');
    expect(listed.content).not.toContain(o.sideVoiceId);
    expect(listed.content).toContain(`<#${o.voiceChannelId}>`);
    expect(bot.bot.autoJoinRules.list(o.guildId).map((r) => r.voiceChannelId)).toEqual([o.voiceChannelId]);
  });
});

describe('/autojoin at start-up', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [MAIN] } });
  });

  afterAll(async () => {
    await world?.close();
  });

  it('joins a channel where enough members already are when Parley comes online', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    const first = await startInProcessBot(world);
    await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 1);
    await first.stop();
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    const from = standIn.requests.length;
    const second = await startInProcessBot(world);
    try {
      const notice = await waitForChannelPost(standIn, g.textChannelId, from, (c) => c.startsWith('ℹ️'));
      expect(contentOf(notice)).toContain(`Captioning <#${g.voiceChannelId}>`);
      expect(second.bot.meetings.get(g.guildId)?.voiceChannelId).toBe(g.voiceChannelId);
    } finally {
      await second.stop();
    }
  });
});

describe('/autojoin under the /join cooldown', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [MAIN] } });
    bot = await startInProcessBot(world, { COOLDOWN_GUILD_S: '60' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('waits out the server cooldown of /join rather than starting at once after one', async () => {
    const { standIn } = world;
    const g = MAIN.ids;
    const init = { guildId: g.guildId, userId: g.ownerId };
    expect((await runCommand(standIn, { commandName: 'join', ...init, channelId: g.textChannelId, ...channelOptions(standIn, init, { voice_channel: g.voiceChannelId }) })).content).toContain('Captioning');
    await runCommand(standIn, { commandName: 'end', ...init, channelId: g.textChannelId });
    await bot.logs.waitFor((l) => l.msg === 'meeting ended');
    await autojoinSet(standIn, g, g.voiceChannelId, g.textChannelId, 1);
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    standIn.setVoiceState(g.annaId, g.voiceChannelId, { guildId: g.guildId });
    const outcome = await bot.logs.waitFor((l) => (l.msg === 'auto-join waits for the /join cooldown' || l.msg === 'auto-joined a voice channel') && l['guildId'] === g.guildId);
    expect(outcome.msg).toBe('auto-join waits for the /join cooldown');
    expect(voiceJoins(standIn, g.guildId, gatewayFrom)).toEqual([]);
    expect(bot.bot.meetings.get(g.guildId)).toBeUndefined();
  });
});
