/**
 * The receive path with the real @discordjs/voice: members' speech goes to the bot as encrypted RTP through the
 * stand-in's voice UDP, into real AudioReceiveStreams, through the caption pipeline to the fake AssemblyAI server.
 * Which member a session belongs to is decided from the audio it received. (Attribution of captions to Katie and
 * Steve speaking at once is asserted in captions.test.ts.)
 */
import { KeyObject } from 'node:crypto';
import { getVoiceConnection } from '@discordjs/voice';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec } from '../fakes/discord/stand-in.ts';
import { sessionFrom, sessionTaggingRecognizer, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { captionLines, liveMessageWrites, waitForChannelPost } from './support/messages.ts';
import { matchScores, sessionThatHeard, twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
/** A member who is not in voice when the bot starts, so the gateway has not told the bot about her yet. */
const PRIYA_ID = '1309000000000000303';

/** Below this match a session's audio is not the given speech (the same speech scores 1; the other speaker's, under 0.45). */
const NOT_THIS_SPEECH = 0.6;

describe('receiving members audio through @discordjs/voice', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.members = [...(guild.members ?? []), { id: PRIYA_ID, username: 'priya_k', globalName: 'Priya' }];
    world = await startWorld({ stt: { recognizer: sessionTaggingRecognizer }, standIn: { guilds: [guild] } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it("never sends an opted-out member's audio anywhere, and stops at once when they opt out mid-meeting", async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();

    const optedOut = await runCommand(standIn, { commandName: 'optout', userId: ids.steveId });
    expect(optedOut.ephemeral).toBe(true);
    expect(optedOut.content).toContain('will not send your audio anywhere');
    expect(bot.bot.settings.isOptedOut(ids.steveId)).toBe(true);

    // Both speak at once; only Katie's speech may reach AssemblyAI.
    let from = standIn.requests.length;
    let sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    // Steve's audio was not even subscribed to.
    const receiver = getVoiceConnection(ids.guildId)?.receiver;
    expect(receiver?.subscriptions.has(ids.katieId)).toBe(true);
    expect(receiver?.subscriptions.has(ids.steveId)).toBe(false);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    let sessions = stt.sessions.slice(sessionsBefore);
    expect(sessions).toHaveLength(1);
    expect(sessionThatHeard(sessions, left)).toBe(sessions[0]);
    for (const score of matchScores(sessions, right)) expect(score).toBeLessThan(NOT_THIS_SPEECH);
    expect(captionLines(standIn, ids.textChannelId, from).every((line) => line.startsWith('**Katie:** '))).toBe(true);
    expect(liveMessageWrites(standIn, ids.textChannelId, from).some((w) => JSON.stringify(w.body).includes('Steve'))).toBe(false);

    // Opted back in, Steve is captioned; opting out again stops his session at once.
    const optedIn = await runCommand(standIn, { commandName: 'optin', userId: ids.steveId });
    expect(optedIn.ephemeral).toBe(true);
    from = standIn.requests.length;
    sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.steveId, right);
    const steveSession = await opened;
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** '));
    await runCommand(standIn, { commandName: 'optout', userId: ids.steveId });
    expect(steveSession.terminated).toBe(true);
    await expect(steveSession.closed).resolves.toMatchObject({ code: 1000 });
    const heardBefore = steveSession.audioMs;
    await standIn.memberSpeak(ids.steveId, right);
    // His packets arrived after the opt-out: still no subscription and no new session.
    expect(getVoiceConnection(ids.guildId)?.receiver.subscriptions.has(ids.steveId)).toBe(false);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    sessions = stt.sessions.slice(sessionsBefore);
    expect(sessions).toEqual([steveSession]);
    expect(steveSession.audioMs).toBe(heardBefore);
    expect(sessionThatHeard(sessions, right)).toBe(steveSession);
    await runCommand(standIn, { commandName: 'optin', userId: ids.steveId });
    expect(stt.violations).toEqual([]);
  });

  it("re-subscribes a member whose receive stream was destroyed by a corrupt packet, and keeps captioning them", async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.katieId, right);
    const session = await opened;
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    const heardFirst = session.audioMs;

    // A packet from Katie's SSRC that does not decrypt: @discordjs/voice destroys her stream.
    const receiver = getVoiceConnection(ids.guildId)?.receiver;
    const broken = receiver?.subscriptions.get(ids.katieId);
    expect(broken?.destroyed).toBe(false);
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = 0x78;
    header.writeUInt32BE(standIn.ssrcOf(ids.katieId), 8);
    await standIn.sendRawUdp(Buffer.concat([header, Buffer.alloc(40, 0xab)]));
    const resubscribed = await bot.logs.waitFor((line) => line.msg === 'speaker re-subscribed' && line['userId'] === ids.katieId);
    expect(resubscribed['reason']).toBe('stream closed');
    expect(broken?.destroyed).toBe(true);
    const healed = receiver?.subscriptions.get(ids.katieId);
    expect(healed).toBeDefined();
    expect(healed).not.toBe(broken);
    expect(healed?.destroyed).toBe(false);

    // Her next words are captioned: in the same session, or in a new one if it idled shut in between (750 ms).
    const secondFrom = standIn.requests.length;
    await standIn.memberSpeak(ids.katieId, right);
    await waitForChannelPost(standIn, ids.textChannelId, secondFrom, (c) => c.startsWith('**Katie:** '));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const since = stt.sessions.slice(stt.sessions.indexOf(session));
    expect(since.reduce((ms, s) => ms + s.audioMs, 0)).toBeGreaterThan(heardFirst);
    expect(captionLines(standIn, ids.textChannelId, from).filter((line) => line.startsWith('**Katie:** ')).length).toBeGreaterThanOrEqual(2);
    expect(stt.violations).toEqual([]);
  });

  it('decrypts with the transport key as a KeyObject (no key rebuilt per packet), and the whole speech arrives', async () => {
    const { standIn, stt } = world;
    const { left } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const receiver = getVoiceConnection(ids.guildId)?.receiver as unknown as { connectionData: { secretKey?: unknown } } | undefined;
    expect(receiver?.connectionData.secretKey).toBeInstanceOf(KeyObject);
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(ids.katieId, left);
    const session = await opened;
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(matchScores([session], left)[0]).toBeGreaterThan(0.8);
  });

  it('captions a member who joins the channel mid-meeting under her display name', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    // Without the privileged members intent, GUILD_CREATE listed only members in voice: Priya is unknown so far.
    expect(bot.bot.client.guilds.cache.get(ids.guildId)?.members.cache.has(PRIYA_ID)).toBe(false);
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    standIn.setVoiceState(PRIYA_ID, ids.voiceChannelId);
    const opened = sessionFrom(stt, stt.sessions.length);
    await standIn.memberSpeak(PRIYA_ID, right);
    await opened;
    const caption = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => /^\*\*[^*]+:\*\* Session\d+\.$/m.test(c));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(captionLines(standIn, ids.textChannelId, from)).toEqual([expect.stringMatching(/^\*\*Priya:\*\* Session\d+\.$/)]);
    expect(caption.status).toBe(200);
    standIn.setVoiceState(PRIYA_ID, null);
  });
});
