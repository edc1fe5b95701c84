/**
 * The real bot process (`node src/main.ts`) in a DAVE v1 call, as every Discord call runs since 2026-03-01: the
 * stand-in requires DAVE (close 4017 otherwise), the members are MLS group members encrypting their Opus end to
 * end, and the bot is welcomed into their group. Mid-speech, a member joins and the voice gateway's proposals for
 * the bot are for an epoch it lacks: the stock @discordjs/voice 0.19.2 throws from its WebSocket handler and the
 * process dies (test/voice/support/dave-scenario.ts measures it). Parley contains it, re-initialises DAVE, and the
 * meeting goes on: captions, STT sessions and the transcript.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec, type TimedOpusPacket } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { VOICE_NOTICES } from '../../src/voice/voice-link.ts';
import { captionLines, waitForChannelPost } from './support/messages.ts';
import { sessionThatHeard, twoSpeakers } from './support/audio.ts';
import { finalsOf, turnNamingRecognizer } from './support/turns.ts';

const ids = DEFAULT_IDS;
const OLIVE_ID = '1309000000000000303';

/** The packets from `from` on, re-timed to start at once. */
function rest(packets: readonly TimedOpusPacket[], from: number): TimedOpusPacket[] {
  const first = packets[from];
  if (first === undefined) return [];
  return packets.slice(from).map((p) => ({ atMs: p.atMs - first.atMs + 20, packet: p.packet }));
}

describe('the bot process under DAVE v1', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.members = [...(guild.members ?? []), { id: OLIVE_ID, username: 'olive', globalName: 'Olive', voiceChannelId: null }];
    world = await startWorld({
      stt: { recognizer: turnNamingRecognizer },
      standIn: { guilds: [guild], daveProtocolVersion: 1, requireDave: true, dave: { memberCommitDelayMs: 100 } },
    });
    bot = await startBotProcess(world, { STT_IDLE_CLOSE_MS: '2000' });
  });

  afterAll(async () => {
    if (bot !== undefined && bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await world?.close();
  });

  it('captions both members through a stale-epoch fault that kills the stock library, and ends with the whole transcript', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await standIn.waitForVoiceReady();
    const call = standIn.daveCall();
    if (!call) throw new Error('the stand-in runs no DAVE v1 call');
    // Welcomed into the members' group, the bot says it is ready for the transition (op 23).
    await standIn.voicePayloads.waitFor((m) => m.op === 23);
    await bot.waitForLog((l) => l.msg === 'voice server version');

    const cut = Math.floor(left.length / 3);
    const steve = standIn.memberSpeak(ids.steveId, right);
    await standIn.memberSpeak(ids.katieId, left.slice(0, cut));
    call.inject('stale-proposals');
    standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId);
    await bot.waitForLog((l) => l.msg === 'voice library error contained; re-initialising DAVE');
    const after = rest(left, cut);
    await standIn.memberSpeak(ids.katieId, after);
    await steve;
    expect(bot.child.exitCode).toBeNull();
    expect(call.events.entries.some((e) => e.kind === 'invalid' && e.userId === ids.botUserId)).toBe(true);

    // Katie's whole speech reached AssemblyAI (scored chunk by chunk, so the part after the fault must be there
    // too): the bot was re-welcomed and decrypts her again.
    const heard = sessionThatHeard(stt.sessions, left, 0.6);
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\./);
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    const transcript = report.files.find((f) => f.name === 'transcript.md')?.data.toString('utf8') ?? '';
    const finals = stt.sessions.flatMap(finalsOf);
    expect(finalsOf(heard).length).toBeGreaterThan(0);
    for (const final of finals) expect(transcript).toContain(final);
    expect(captionLines(standIn, ids.textChannelId, from).length).toBe(finals.length);
    expect(bot.child.exitCode).toBeNull();

    // Debug log: each transition with its epoch and members, and each recovery step.
    const transition = await bot.waitForLog((l) => l.msg === 'DAVE transition executed');
    expect(transition).toMatchObject({ members: expect.arrayContaining([ids.katieId, ids.steveId, ids.botUserId]) });
    await bot.waitForLog((l) => l.msg === 'DAVE recovery step' && l['step'] === 'reinit');
  });

  it('rejoins the voice channel when its welcomes keep getting lost, tells the channel so once, and captions the speaker again', async () => {
    const { standIn, stt } = world;
    const { left } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await standIn.waitForVoiceReady();
    const call = standIn.daveCall();
    if (!call) throw new Error('the stand-in runs no DAVE v1 call');
    // The welcome of this join and of the two re-initialisations after it never reach the bot.
    for (let i = 0; i < 3; i++) call.inject('lose-welcome');
    const sessionsBefore = stt.sessions.length;
    // Katie keeps talking until the bot has rejoined; then she says one more thing.
    const voiceStart = standIn.voicePayloads.entries.length;
    let voiceMark = Infinity;
    const rejoined = bot.waitForLog((l) => l.msg === 'DAVE recovery step' && l['step'] === 'rejoin');
    let done = false;
    void rejoined.then(() => {
      done = true;
      voiceMark = standIn.voicePayloads.entries.length;
    });
    while (!done) await standIn.memberSpeak(ids.katieId, left.slice(0, 50));
    expect(standIn.voicePayloads.entries.slice(voiceStart, voiceMark).filter((m) => m.op === 23)).toEqual([]);
    const notice = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes('reconnected to the voice channel'));
    expect(contentOf(notice)).toContain(VOICE_NOTICES.rejoined);
    // The new voice session is welcomed: op 23 after the rejoin (the three lost welcomes got none).
    await standIn.voicePayloads.waitFor((m) => m.op === 23 && standIn.voicePayloads.entries.indexOf(m) >= voiceMark);
    await standIn.memberSpeak(ids.katieId, left);
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\./);
    expect(sessionThatHeard(stt.sessions.slice(sessionsBefore), left, 0.6)).toBeDefined();
    const notices = standIn.requests.slice(from).filter((r) => contentOf(r).includes('reconnected to the voice channel'));
    expect(notices).toHaveLength(1);
    expect(bot.child.exitCode).toBeNull();
  });
});
