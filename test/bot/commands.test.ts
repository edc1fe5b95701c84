/**
 * Slash commands end to end through discord.js: each command arrives as INTERACTION_CREATE built by the stand-in
 * from its world (real member, channel and permission bits), the real command handler runs on the interaction
 * object discord.js made from it, and the answer is read back from the REST requests. Mistakes must get private
 * (ephemeral, flag 64) replies that say what is wrong.
 */
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { sessionFrom, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { channelOptions, runCommand, subcommand, type CommandReply } from './support/commands.ts';
import { expectNoMentionsAnywhere } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

/** A second guild where Parley's role lacks Connect in the voice channel and Attach Files in the caption channel. */
const LOCKED = {
  guildId: '1309000000000000900',
  botRoleId: '1309000000000000901',
  voiceChannelId: '1309000000000000902',
  textChannelId: '1309000000000000903',
  oliveId: '1309000000000000904',
  tinyChannelId: '1309000000000000905',
  patId: '1309000000000000906',
  openTextChannelId: '1309000000000000907',
} as const;

function lockedGuildSpec(): GuildSpec {
  return {
    id: LOCKED.guildId,
    name: 'Locked Guild',
    ownerId: LOCKED.oliveId,
    everyonePermissions: P.ViewChannel | P.SendMessages | P.Connect | P.Speak | P.UseApplicationCommands,
    botRolePermissions: P.ViewChannel | P.Connect | P.SendMessages | P.EmbedLinks | P.AttachFiles | P.ChangeNickname,
    botRoleId: LOCKED.botRoleId,
    channels: [
      {
        id: LOCKED.voiceChannelId,
        name: 'Standup',
        type: ChannelType.GuildVoice,
        permissionOverwrites: [{ id: LOCKED.botRoleId, type: 'role', deny: P.Connect }],
      },
      {
        id: LOCKED.textChannelId,
        name: 'notes',
        type: ChannelType.GuildText,
        permissionOverwrites: [{ id: LOCKED.botRoleId, type: 'role', deny: P.AttachFiles }],
      },
      // Parley may join this one, but Pat fills it; and it may post everything here.
      { id: LOCKED.tinyChannelId, name: 'Tiny', type: ChannelType.GuildVoice, userLimit: 1 },
      { id: LOCKED.openTextChannelId, name: 'open-notes', type: ChannelType.GuildText },
    ],
    members: [
      { id: LOCKED.oliveId, username: 'olive', globalName: 'Olive', voiceChannelId: LOCKED.voiceChannelId },
      { id: LOCKED.patId, username: 'pat', globalName: 'Pat', voiceChannelId: LOCKED.tinyChannelId },
    ],
  };
}

/** An ephemeral reply that names what is wrong. */
function expectPrivateError(reply: CommandReply, ...phrases: string[]): void {
  expect(reply.ephemeral).toBe(true);
  for (const phrase of phrases) expect(reply.content).toContain(phrase);
}

describe('slash commands on interactions from real payloads', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [defaultGuildSpec(), lockedGuildSpec()] } });
    bot = await startInProcessBot(world, { STT_KEYTERMS: 'Parley, AssemblyAI' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('uses STT_KEYTERMS while the server has set no keyterms of its own', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.katieId, right);
    const session = await opened;
    expect(session.query.get('keyterms_prompt')).toBe(JSON.stringify(['Parley', 'AssemblyAI']));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(session.terminated).toBe(true);
  });

  it('/join names each permission Parley lacks, privately, and does not join', async () => {
    const { standIn } = world;
    const reply = await runCommand(standIn, { commandName: 'join', guildId: LOCKED.guildId, userId: LOCKED.oliveId });
    expectPrivateError(
      reply,
      `in <#${LOCKED.voiceChannelId}>: **Connect**`,
      `in <#${LOCKED.textChannelId}>: **Attach Files**`,
      'Ask a server admin to grant them',
    );
    // Only what is missing is named.
    for (const granted of ['View Channel', 'Send Messages', 'Embed Links']) expect(reply.content).not.toContain(granted);
    // The error is the direct reply (type 4), not a deferral: nothing was attempted.
    expect(reply.callback.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(standIn.gatewayPayloads.filter((p) => p.op === 4 && (p.d as { guild_id?: string }).guild_id === LOCKED.guildId)).toEqual([]);
    expect(bot.bot.meetings.get(LOCKED.guildId)).toBeUndefined();
  });

  it('/join refuses a full voice channel at once instead of waiting for a join Discord ignores', async () => {
    const { standIn } = world;
    const reply = await runCommand(standIn, { commandName: 'join', guildId: LOCKED.guildId, userId: LOCKED.patId, channelId: LOCKED.openTextChannelId });
    expectPrivateError(reply, `<#${LOCKED.tinyChannelId}> is full (its user limit is 1)`, 'Move Members');
    expect(standIn.gatewayPayloads.filter((p) => p.op === 4 && (p.d as { guild_id?: string }).guild_id === LOCKED.guildId)).toEqual([]);
  });

  it('/join takes the voice and caption channels from its options, for a member with Manage Server not in voice', async () => {
    const { standIn } = world;
    standIn.setVoiceState(ids.steveId, null);
    standIn.setVoiceState(ids.katieId, null);
    try {
      expectPrivateError(await runCommand(standIn, { commandName: 'join', userId: ids.steveId }), 'Join a voice channel first', '`voice_channel`');
      const joined = await runCommand(standIn, {
        commandName: 'join',
        userId: ids.katieId,
        ...channelOptions(standIn, { userId: ids.katieId }, { voice_channel: ids.voiceChannelId, caption_channel: ids.textChannelId }),
      });
      expect(joined.ephemeral).toBe(true);
      expect(joined.content).toBe(`Captioning <#${ids.voiceChannelId}> in <#${ids.textChannelId}>. Use /end to stop.`);
      expect(bot.bot.meetings.get(ids.guildId)?.voiceChannelId).toBe(ids.voiceChannelId);
      // Katie has Manage Server, so she may end it from outside the channel.
      expect((await runCommand(standIn, { commandName: 'end', userId: ids.katieId })).content).toMatch(/^Captioning ended\. 0 captions;/);
    } finally {
      standIn.setVoiceState(ids.steveId, ids.voiceChannelId);
      standIn.setVoiceState(ids.katieId, ids.voiceChannelId);
    }
  });

  it('/keyterms refuses terms over 50 characters, lists over 100 terms and members without Manage Server', async () => {
    const { standIn } = world;
    const keyterms = (userId: string, sub: string, terms?: string) =>
      runCommand(standIn, { commandName: 'keyterms', userId, options: subcommand(sub, terms === undefined ? {} : { terms }) });

    const long = 'x'.repeat(51);
    expectPrivateError(await keyterms(ids.katieId, 'add', `Kubernetes, ${long}`), 'is 51 characters', 'at most 50');
    const many = Array.from({ length: 101 }, (_, i) => `term${i}`).join(', ');
    expectPrivateError(await keyterms(ids.katieId, 'add', many), 'That would make 101 keyterms', 'at most 100');
    expectPrivateError(await keyterms(ids.steveId, 'add', 'Siobhan'), 'Manage Server');
    expectPrivateError(await keyterms(ids.steveId, 'list'), 'Manage Server');

    // None of the refused changes was stored; a valid one is.
    const added = await keyterms(ids.katieId, 'add', 'Kubernetes, Siobhan');
    expect(added.ephemeral).toBe(true);
    expect(added.content).toBe('Added. Keyterms (2/100): Kubernetes, Siobhan');
    expect(bot.bot.settings.keyterms(ids.guildId)).toEqual(['Kubernetes', 'Siobhan']);
  });

  it('/end from a member outside the channel without Manage Server is refused privately; the meeting goes on', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    expectPrivateError(await runCommand(standIn, { commandName: 'end', userId: ids.steveId }), 'not captioning anything');

    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(joined.content).toContain('Captioning');
    expectPrivateError(await runCommand(standIn, { commandName: 'join', userId: ids.katieId }), 'already captioning', '/end');

    // Steve speaks, so a session is open; then he leaves the voice channel and tries to end the captions.
    const session = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.steveId, right);
    const steveSession = await session;
    const speaking = await runCommand(standIn, { commandName: 'status', userId: ids.steveId });
    expect(speaking.ephemeral).toBe(true);
    expect(speaking.content).toContain(`Captioning <#${ids.voiceChannelId}> into <#${ids.textChannelId}>`);
    expect(speaking.content).toMatch(/\n- Steve: (transcribing|connecting to speech-to-text)/);
    standIn.setVoiceState(ids.steveId, null);
    // Leaving closes his session (Terminate, then a normal close).
    await expect(steveSession.closed).resolves.toMatchObject({ code: 1000 });
    expect(steveSession.terminated).toBe(true);
    const leftAt = standIn.gatewayPayloads.entries.length;
    const refused = await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    expectPrivateError(refused, `Only members in <#${ids.voiceChannelId}> (or with Manage Server) can end these captions.`);
    expect(refused.callback.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(bot.bot.meetings.get(ids.guildId)?.ending).toBe(false);

    // Steve is no longer transcribed; Katie, in the channel, may end the captions.
    const status = await runCommand(standIn, { commandName: 'status', userId: ids.steveId });
    expect(status.ephemeral).toBe(true);
    expect(status.content).toContain('Nobody is being transcribed right now.');
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.ephemeral).toBe(true);
    expect(ended.content).toMatch(/^Captioning ended\./);
    await standIn.gatewayPayloads.waitFor(
      (p) => p.op === 4 && (p.d as { channel_id?: unknown }).channel_id === null && standIn.gatewayPayloads.entries.indexOf(p) >= leftAt,
    );
    standIn.setVoiceState(ids.steveId, ids.voiceChannelId);
  });

  it('sends keyterm changes to open sessions at once (UpdateConfiguration)', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.katieId, right);
    const session = await opened;
    expect(session.query.get('keyterms_prompt')).toBe(JSON.stringify(['Kubernetes', 'Siobhan']));
    await runCommand(standIn, { commandName: 'keyterms', userId: ids.katieId, options: subcommand('add', { terms: 'PR-42' }) });
    const update = await session.waitForClientMessage((m) => m['type'] === 'UpdateConfiguration');
    expect(update).toEqual({ type: 'UpdateConfiguration', keyterms_prompt: ['Kubernetes', 'Siobhan', 'PR-42'] });
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(session.terminated).toBe(true);
    expect(stt.violations).toEqual([]);
    expectNoMentionsAnywhere(standIn);
  });
});
