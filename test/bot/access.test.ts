/**
 * A meeting stays with the people who could see it: `/recap` shows a meeting's text only to members who can view
 * its caption channel (or have Manage Server), publicly only in that channel; `/join` sends captions only where
 * the caller can read and post, of a call the caller is in; and the consent notice reaches the call's own chat.
 * Everything goes through the real bot and the Discord stand-in, with permission bits computed from its world.
 */
import { ChannelType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { channelOptions, contentOf, isMessageWrite, runCommand, type CommandReply } from './support/commands.ts';
import { expectNoMentionsAnywhere, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
/** A staff-only text channel (only Katie, the owner, and Parley can see it) and an open one. */
const STAFF_CHANNEL_ID = '1309000000000000210';
const GENERAL_CHANNEL_ID = '1309000000000000211';

function guildSpec(): GuildSpec {
  const spec = defaultGuildSpec();
  spec.channels = [
    ...(spec.channels ?? []),
    {
      id: STAFF_CHANNEL_ID,
      name: 'staff',
      type: ChannelType.GuildText,
      permissionOverwrites: [
        { id: ids.guildId, type: 'role', deny: P.ViewChannel },
        { id: ids.botRoleId, type: 'role', allow: P.ViewChannel | P.SendMessages | P.EmbedLinks | P.AttachFiles },
      ],
    },
    { id: GENERAL_CHANNEL_ID, name: 'general', type: ChannelType.GuildText },
  ];
  return spec;
}

function expectRefused(reply: CommandReply, ...phrases: string[]): void {
  expect(reply.ephemeral).toBe(true);
  for (const phrase of phrases) expect(reply.content).toContain(phrase);
}

/** Channel messages the bot posted since request `from` (interaction replies are not channel messages). */
function channelPosts(world: World, from: number) {
  return world.standIn.requests.slice(from).filter((r) => r.method === 'POST' && /^\/channels\/\d+\/messages$/.test(r.route));
}

describe('who may see and start captions', () => {
  let world: World;
  let bot: InProcessBot;
  let staffMeetingId = 0;

  beforeAll(async () => {
    world = await startWorld({ standIn: { guilds: [guildSpec()] } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('/join posts the consent notice in the voice channel\'s own chat too', async () => {
    const { standIn } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    const joined = await runCommand(standIn, {
      commandName: 'join',
      userId: ids.katieId,
      ...channelOptions(standIn, { userId: ids.katieId }, { caption_channel: STAFF_CHANNEL_ID }),
    });
    expect(joined.content).toBe(`Captioning <#${ids.voiceChannelId}> in <#${STAFF_CHANNEL_ID}>. Use /end to stop.`);
    await standIn.memberSpeak(ids.katieId, right);
    await waitForChannelPost(standIn, STAFF_CHANNEL_ID, from, (c) => c.startsWith('**Katie:**'));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    await waitForChannelPost(standIn, STAFF_CHANNEL_ID, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    staffMeetingId = bot.bot.meetingStore.recentMeetings(ids.guildId, 1)[0]?.id ?? 0;
    expect(staffMeetingId).toBeGreaterThan(0);
    const inVoiceChat = channelPosts(world, from).find((r) => r.route === `/channels/${ids.voiceChannelId}/messages`);
    expect(inVoiceChat === undefined ? '' : contentOf(inVoiceChat)).toContain('Parley is captioning this voice channel');
    expect(contentOf(inVoiceChat!)).toContain(`posted in <#${STAFF_CHANNEL_ID}>`);
    expect(contentOf(inVoiceChat!)).toContain('/optout');
  });

  it('/recap of a staff-only meeting: a member who cannot view its channel is refused privately, and nothing is posted', async () => {
    const { standIn } = world;
    const from = standIn.requests.length;
    const named = await runCommand(standIn, { commandName: 'recap', userId: ids.steveId, options: { meeting: staffMeetingId } });
    expectRefused(named, `Meeting #${staffMeetingId} was captioned in <#${STAFF_CHANNEL_ID}>, which you cannot view`);
    expect(named.callback.body).toMatchObject({ type: 4, data: { flags: 64 } });
    // "The latest meeting" means the latest one Steve could see: there is none.
    expectRefused(await runCommand(standIn, { commandName: 'recap', userId: ids.steveId }), 'no captioned meeting in this server that you can see');
    expectRefused(
      await runCommand(standIn, { commandName: 'recap', userId: ids.steveId, channelId: GENERAL_CHANNEL_ID, options: { meeting: staffMeetingId } }),
      'which you cannot view',
    );
    expect(channelPosts(world, from)).toEqual([]);
    expect(standIn.requests.slice(from).filter(isMessageWrite).every((r) => r.route.startsWith('/interactions/'))).toBe(true);
  });

  it('/recap asked outside the caption channel answers the caller privately; asked in it, posts there', async () => {
    const { standIn } = world;
    const from = standIn.requests.length;
    const elsewhere = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, channelId: GENERAL_CHANNEL_ID, options: { meeting: staffMeetingId } });
    expect(elsewhere.ephemeral).toBe(true);
    expect(elsewhere.content).toMatch(new RegExp(`^📝 Recap of meeting #${staffMeetingId}\\. \\d+ captions? from 1 speaker\\.`));
    expect(elsewhere.answer.files.map((f) => f.name)).toContain('transcript.md');
    expect(channelPosts(world, from)).toEqual([]);

    const here = standIn.requests.length;
    const inChannel = await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, channelId: STAFF_CHANNEL_ID, options: { meeting: staffMeetingId } });
    expect(inChannel.content).toBe(`Posted the recap of meeting #${staffMeetingId}.`);
    const posted = await waitForChannelPost(standIn, STAFF_CHANNEL_ID, here, (c) => c.startsWith(`📝 Recap of meeting #${staffMeetingId}.`));
    expect(posted.files.map((f) => f.name)).toContain('transcript.md');
    expect(channelPosts(world, here).every((r) => r.route === `/channels/${STAFF_CHANNEL_ID}/messages`)).toBe(true);
  });

  it('/join refuses a caption channel the caller cannot see or post in, and a call the caller is not in', async () => {
    const { standIn } = world;
    const from = standIn.requests.length;
    const gatewayFrom = standIn.gatewayPayloads.entries.length;
    // Steve cannot see #staff.
    expectRefused(
      await runCommand(standIn, { commandName: 'join', userId: ids.steveId, ...channelOptions(standIn, { userId: ids.steveId }, { caption_channel: STAFF_CHANNEL_ID }) }),
      '**View Channel**',
      `<#${STAFF_CHANNEL_ID}>`,
      '`caption_channel`',
    );
    // #captions is read-only for him.
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.steveId }), `You don't have **Send Messages** in <#${ids.textChannelId}>`);
    // Out of the call, without Manage Server, he cannot caption it from #general.
    standIn.setVoiceState(ids.steveId, null);
    try {
      expectRefused(
        await runCommand(standIn, {
          commandName: 'join',
          userId: ids.steveId,
          channelId: GENERAL_CHANNEL_ID,
          ...channelOptions(standIn, { userId: ids.steveId }, { voice_channel: ids.voiceChannelId }),
        }),
        `Join <#${ids.voiceChannelId}> first`,
      );
    } finally {
      standIn.setVoiceState(ids.steveId, ids.voiceChannelId);
    }
    expect(standIn.gatewayPayloads.entries.slice(gatewayFrom).filter((p) => p.op === 4)).toEqual([]);
    expect(channelPosts(world, from)).toEqual([]);
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();

    // In the call, in a channel he can post in, he may.
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.steveId, channelId: GENERAL_CHANNEL_ID });
    expect(joined.content).toBe(`Captioning <#${ids.voiceChannelId}> in <#${GENERAL_CHANNEL_ID}>. Use /end to stop.`);
    await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    expectNoMentionsAnywhere(standIn);
  });
});
