/**
 * The voice connection's life during a meeting, through the real @discordjs/voice against the stand-in:
 * - the voice server drops the connection (4015: resumable; 4006: session gone, the library identifies anew):
 *   the meeting goes on and members are still captioned;
 * - Parley is removed from the voice channel (a moderator's "Disconnect": VOICE_STATE_UPDATE with channel_id
 *   null for the bot, and the voice WebSocket closed with 4014): the meeting ends cleanly, with every STT session
 *   terminated, the channel told, the transcript posted, and no attempt to come back.
 */
import { VoiceConnectionStatus, entersState, getVoiceConnection } from '@discordjs/voice';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { sessionFrom, sessionTaggingRecognizer, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { expectNoMentionsAnywhere, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

describe('the voice connection during a meeting', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: sessionTaggingRecognizer } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('keeps captioning through a resumed (4015) and a re-identified (4006) voice connection', async () => {
    const { standIn } = world;
    const { right } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const meeting = bot.bot.meetings.get(ids.guildId);
    const connection = getVoiceConnection(ids.guildId);
    if (meeting === undefined || connection === undefined) throw new Error('no meeting');
    for (const [code, op] of [
      [4015, 7], // RESUME
      [4006, 0], // IDENTIFY
    ] as const) {
      const from = standIn.requests.length;
      const sent = standIn.voicePayloads.entries.length;
      standIn.dropVoiceConnection(undefined, code);
      await standIn.voicePayloads.waitFor((m) => m.op === op && standIn.voicePayloads.entries.indexOf(m) >= sent);
      await entersState(connection, VoiceConnectionStatus.Ready, 30_000);
      await standIn.waitForVoiceReady();
      await standIn.memberSpeak(ids.katieId, right);
      await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
      expect(bot.bot.meetings.get(ids.guildId)).toBe(meeting);
      expect(meeting.ending).toBe(false);
    }
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\./);
  });

  it('ends the meeting when Parley is disconnected: sessions terminated, transcript posted, voice not rejoined', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const first = sessionFrom(stt, sessionsBefore);
    const katieSpeaks = standIn.memberSpeak(ids.katieId, left);
    await standIn.memberSpeak(ids.steveId, right);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** '));
    await first;
    const second = await sessionFrom(stt, sessionsBefore + 1);
    await katieSpeaks;
    const joins = standIn.gatewayPayloads.filter((p) => p.op === 4 && (p.d as { channel_id: unknown }).channel_id !== null).length;

    const meetingId = bot.bot.meetings.get(ids.guildId)?.id;
    standIn.disconnectBotFromVoice();
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Parley was removed from the voice channel'));
    await bot.logs.waitFor((line) => line.msg === 'meeting ended' && line['meetingId'] === meetingId);

    // Both sessions (Katie may still be mid-turn) were terminated and closed normally.
    const sessions = stt.sessions.slice(sessionsBefore);
    expect(sessions).toHaveLength(2);
    expect(sessions).toContain(second);
    for (const session of sessions) {
      expect(session.terminated).toBe(true);
      await expect(session.closed).resolves.toMatchObject({ code: 1000 });
    }
    expect(stt.violations).toEqual([]);
    // The transcript files came with the closing message, which was posted once.
    expect(report.files.map((f) => f.name)).toEqual(expect.arrayContaining(['transcript.md', 'transcript.srt', 'transcript.vtt', 'transcript.json']));
    const transcript = JSON.parse(report.files.find((f) => f.name === 'transcript.json')?.data.toString('utf8') ?? '{}') as { speakers?: Array<{ name: string }> };
    expect(transcript.speakers?.map((s) => s.name).sort()).toEqual(['Katie', 'Steve']);
    expect(standIn.requests.slice(from).filter((r) => r.method === 'POST' && contentOf(r).startsWith('⏹️'))).toHaveLength(1);
    // The meeting is gone, the connection destroyed, and Parley did not try to join again.
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    expect(getVoiceConnection(ids.guildId)).toBeUndefined();
    expect(standIn.gatewayPayloads.filter((p) => p.op === 4 && (p.d as { channel_id: unknown }).channel_id !== null)).toHaveLength(joins);
    const status = await runCommand(standIn, { commandName: 'status', userId: ids.katieId });
    expect(status.content).toContain('not captioning anything');
    expectNoMentionsAnywhere(standIn);
  });
});
