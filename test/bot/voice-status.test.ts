/**
 * The captioning sign: with Set Voice Channel Status, Parley sets the voice channel's status while it captions
 * and clears it before it leaves (after leaving, clearing would also need Manage Channels); without it, the
 * nickname carries a 🔴 instead. Against the Discord stand-in's `PUT /channels/{id}/voice-status`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PermissionFlagsBits as P } from 'discord-api-types/v10';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_IDS, defaultGuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand, subcommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { CAPTIONING_STATUS, RECORDING_STATUS, nicknameSign } from '../../src/meeting/captioning-indicator.ts';

const ids = DEFAULT_IDS;
const statusRoute = `/channels/${ids.voiceChannelId}/voice-status`;

describe('the captioning sign in the voice channel', () => {
  let world: World | undefined;
  let bot: InProcessBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    await world?.close();
    bot = undefined;
    world = undefined;
  });

  async function start(botPermissions: bigint): Promise<World> {
    const guild = defaultGuildSpec();
    guild.botRolePermissions = botPermissions;
    world = await startWorld({ standIn: { guilds: [guild] } });
    bot = await startInProcessBot(world);
    return world;
  }

  it('sets the voice channel status while captioning and clears it before leaving; the nickname stays', async () => {
    const { standIn } = await start(DEFAULT_BOT_PERMISSIONS | P.SetVoiceChannelStatus);
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes('Captioning <#'));
    const set = standIn.requests.slice(from).filter((r) => r.method === 'PUT' && r.route === statusRoute);
    expect(set.map((r) => [r.status, r.body])).toEqual([[204, { status: CAPTIONING_STATUS }]]);
    expect(standIn.world.voiceChannelStatus.get(ids.voiceChannelId)).toBe(CAPTIONING_STATUS);
    expect(standIn.requests.slice(from).some((r) => r.route === `/guilds/${ids.guildId}/members/@me`)).toBe(false);

    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    await waitForChannelPost(standIn, ids.textChannelId, endFrom, (c) => c.startsWith('⏹️ Captioning has ended.'));
    const cleared = standIn.requests.slice(endFrom).filter((r) => r.method === 'PUT' && r.route === statusRoute);
    // 204, not 403: it was cleared while Parley was still in the channel (the bot role has no Manage Channels).
    expect(cleared.map((r) => [r.status, r.body])).toEqual([[204, { status: '' }]]);
    expect(standIn.world.voiceChannelStatus.get(ids.voiceChannelId)).toBeNull();
  });

  it('falls back to the nickname without Set Voice Channel Status, and restores it', async () => {
    const { standIn } = await start(DEFAULT_BOT_PERMISSIONS);
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes('Captioning <#'));
    const refused = standIn.requests.slice(from).filter((r) => r.method === 'PUT' && r.route === statusRoute);
    expect(refused.map((r) => r.status)).toEqual([403]);
    const nick = standIn.requests.slice(from).filter((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`);
    expect(nick.map((r) => (r.body as { nick: string }).nick)).toEqual([expect.stringMatching(/^🔴 .* \(captioning\)$/)]);

    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    await waitForChannelPost(standIn, ids.textChannelId, endFrom, (c) => c.startsWith('⏹️ Captioning has ended.'));
    expect(standIn.requests.slice(endFrom).some((r) => r.method === 'PUT' && r.route === statusRoute)).toBe(false);
    const restored = standIn.requests.slice(endFrom).filter((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`);
    expect(restored.map((r) => (r.body as { nick: unknown }).nick)).toEqual([null]);
  });

  it('says "(recording)" in the fallback nickname while recording, and restores the nickname', async () => {
    const { standIn } = await start(DEFAULT_BOT_PERMISSIONS);
    await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes('Recording and captioning <#'));
    const refused = standIn.requests.slice(from).filter((r) => r.method === 'PUT' && r.route === statusRoute);
    expect(refused.map((r) => [r.status, r.body])).toEqual([[403, { status: RECORDING_STATUS }]]);
    const nick = standIn.requests.slice(from).filter((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`);
    expect(nick.map((r) => [r.status, (r.body as { nick: string }).nick])).toEqual([[200, expect.stringMatching(/^🔴 .* \(recording\)$/)]]);

    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    await waitForChannelPost(standIn, ids.textChannelId, endFrom, (c) => c.startsWith('⏹️'));
    const restored = standIn.requests.slice(endFrom).filter((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`);
    expect(restored.map((r) => (r.body as { nick: unknown }).nick)).toEqual([null]);
  });

  it('shortens a long name, never the marker, to fit the 32-character nickname', () => {
    const long = 'A very long display name for the captioning bot';
    // Counted in UTF-16 code units (🔴 is two), which never undercounts Discord's characters.
    expect(nicknameSign(long, RECORDING_STATUS)).toBe('🔴 A very long displ (recording)');
    expect(nicknameSign(long, CAPTIONING_STATUS)).toBe('🔴 A very long disp (captioning)');
    expect(nicknameSign(long, RECORDING_STATUS)).toHaveLength(32);
    expect(nicknameSign('Parley', CAPTIONING_STATUS)).toBe('🔴 Parley (captioning)');
  });
});
