/**
 * Invalid command options get a private reply that names what is wrong and how to fix it, and change nothing:
 * unknown language codes in `/languages set` and `/join languages:`, and a `caption_channel` Parley cannot see.
 */
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { channelOptions, runCommand, subcommand, type CommandReply } from './support/commands.ts';

const ids = DEFAULT_IDS;
/** A text channel hidden from Parley's role (members can see it). */
const HIDDEN_CHANNEL_ID = '1309000000000000209';

function expectPrivateError(reply: CommandReply, ...phrases: string[]): void {
  expect(reply.ephemeral).toBe(true);
  for (const phrase of phrases) expect(reply.content).toContain(phrase);
}

describe('invalid command options', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.channels = [
      ...(guild.channels ?? []),
      { id: HIDDEN_CHANNEL_ID, name: 'staff-only', type: ChannelType.GuildText, permissionOverwrites: [{ id: ids.botRoleId, type: 'role', deny: P.ViewChannel }] },
    ];
    world = await startWorld({ standIn: { guilds: [guild] } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  /** Voice joins the bot asked the gateway for. */
  const voiceJoins = () => world.standIn.gatewayPayloads.filter((p) => p.op === 4).length;

  it('/languages set with unknown codes names the bad code and how to fix it, and stores nothing', async () => {
    const { standIn } = world;
    const reply = await runCommand(standIn, { commandName: 'languages', userId: ids.katieId, options: subcommand('set', { codes: 'xx,zz' }) });
    expectPrivateError(reply, 'Unknown language code "xx"', 'Use ISO 639-1 codes such as es, de, ja.');
    expect(bot.bot.settings.languages(ids.guildId)).toEqual([]);
  });

  it('/spoken-languages set refuses unknown codes and regions, saying how to fix them, and stores nothing', async () => {
    const { standIn } = world;
    const unknown = await runCommand(standIn, { commandName: 'spoken-languages', userId: ids.katieId, options: subcommand('set', { codes: 'en,xx' }) });
    expectPrivateError(unknown, 'Unknown language code "xx"', 'Use ISO 639-1 codes such as es, de, ja.');
    const regional = await runCommand(standIn, { commandName: 'spoken-languages', userId: ids.katieId, options: subcommand('set', { codes: 'en,pt-BR' }) });
    expectPrivateError(regional, 'Speech-to-text takes languages without a region: use pt instead of pt-BR.');
    expect(bot.bot.settings.spokenLanguages(ids.guildId)).toEqual([]);
    const steve = await runCommand(standIn, { commandName: 'spoken-languages', userId: ids.steveId, options: subcommand('set', { codes: 'en' }) });
    expectPrivateError(steve, 'Manage Server');
    expect(bot.bot.settings.spokenLanguages(ids.guildId)).toEqual([]);
  });

  it('/join languages:klingon names the bad code and does not join', async () => {
    const { standIn } = world;
    const before = voiceJoins();
    const reply = await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'klingon' } });
    expectPrivateError(reply, 'Unknown language code "klingon"', 'Use ISO 639-1 codes such as es, de, ja.');
    expect(reply.callback.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(voiceJoins()).toBe(before);
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    expect(bot.bot.settings.languages(ids.guildId)).toEqual([]);
  });

  it('/join caption_channel:<a channel Parley cannot see> names the missing permissions, posts nothing and does not join', async () => {
    const { standIn } = world;
    const before = voiceJoins();
    const from = standIn.requests.length;
    const reply = await runCommand(standIn, {
      commandName: 'join',
      userId: ids.katieId,
      ...channelOptions(standIn, { userId: ids.katieId }, { caption_channel: HIDDEN_CHANNEL_ID }),
    });
    // Only View Channel is denied there; granting it is the whole fix, so it is all the reply names.
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toBe(`Parley is missing permissions in <#${HIDDEN_CHANNEL_ID}>: **View Channel**. Ask a server admin to grant them, then run /join again.`);
    expect(voiceJoins()).toBe(before);
    expect(standIn.requests.slice(from).filter((r) => r.route.startsWith('/channels/'))).toEqual([]);
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
  });
});
