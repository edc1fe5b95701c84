/**
 * Data controls through the real bot and the Discord stand-in: `/forget` (Manage Server) leaves no row of a
 * meeting; `/optout erase:true` deletes the member's own stored turns from this server's past meetings;
 * `DATA_RETENTION_DAYS` deletes old meetings at start-up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { openDatabase } from '../../src/store/database.ts';
import { MeetingStore } from '../../src/store/meeting-store.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Rows in each meeting table that belong to `meetingId`, read from the bot's own database connection. */
function rowsOf(bot: InProcessBot, meetingId: number): Record<string, number> {
  const count = (sql: string) => Number(bot.bot.database.prepare(sql).get(meetingId)?.['n']);
  return {
    meetings: count('SELECT COUNT(*) AS n FROM meetings WHERE id = ?'),
    speakers: count('SELECT COUNT(*) AS n FROM meeting_speakers WHERE meeting_id = ?'),
    turns: count('SELECT COUNT(*) AS n FROM meeting_turns WHERE meeting_id = ?'),
    translations: count('SELECT COUNT(*) AS n FROM meeting_translations WHERE meeting_id = ?'),
  };
}

describe('/forget and /optout erase', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  /** A meeting where Katie and Steve both spoke, ended, with its captions stored. */
  async function meeting(): Promise<number> {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const id = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Katie:** ')));
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.split('\n').some((l) => l.startsWith('**Steve:** ')));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    return id;
  }

  it('/forget is refused without Manage Server; with it, no row of the meeting is left', async () => {
    const { standIn } = world;
    const id = await meeting();
    expect(rowsOf(bot, id).turns).toBeGreaterThanOrEqual(2);
    const refused = await runCommand(standIn, { commandName: 'forget', userId: ids.steveId, options: { meeting: id } });
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toContain('Manage Server');
    expect(rowsOf(bot, id).meetings).toBe(1);

    const forgotten = await runCommand(standIn, { commandName: 'forget', userId: ids.katieId, options: { meeting: id } });
    expect(forgotten.ephemeral).toBe(true);
    expect(forgotten.content).toContain(`Deleted meeting #${id}`);
    expect(rowsOf(bot, id)).toEqual({ meetings: 0, speakers: 0, turns: 0, translations: 0 });
    expect((await runCommand(standIn, { commandName: 'recap', userId: ids.katieId, options: { meeting: id } })).content).toContain(`There is no meeting #${id}`);
    expect((await runCommand(standIn, { commandName: 'forget', userId: ids.katieId, options: { meeting: id } })).content).toContain(`There is no meeting #${id}`);
  });

  it("/optout erase:true deletes the member's own stored turns from this server's past meetings, and no one else's", async () => {
    const { standIn } = world;
    const first = await meeting();
    const second = await meeting();
    const turnsOf = (userId: string) =>
      Number(bot.bot.database.prepare('SELECT COUNT(*) AS n FROM meeting_turns WHERE speaker_id = ? AND meeting_id IN (?, ?)').get(userId, first, second)?.['n']);
    const katieBefore = turnsOf(ids.katieId);
    const steveBefore = turnsOf(ids.steveId);
    expect(steveBefore).toBeGreaterThanOrEqual(2);

    const reply = await runCommand(standIn, { commandName: 'optout', userId: ids.steveId, options: { erase: true } });
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toContain(`Deleted ${steveBefore} captions of yours from 2 past meetings of this server`);
    expect(turnsOf(ids.steveId)).toBe(0);
    expect(turnsOf(ids.katieId)).toBe(katieBefore);
    const transcript = bot.bot.meetingStore.loadTranscript(ids.guildId, second);
    expect(transcript?.speakers.map((s) => s.id)).toEqual([ids.katieId]);
    await runCommand(standIn, { commandName: 'optin', userId: ids.steveId });
  });
});

describe('DATA_RETENTION_DAYS', () => {
  let world: World;
  let bot: InProcessBot | undefined;

  beforeAll(async () => {
    world = await startWorld();
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('deletes meetings that ended before the retention period at start-up, and keeps newer ones', async () => {
    const db = openDatabase(world.dataDir);
    const store = new MeetingStore(db);
    const start = (startedAtMs: number) => ({ guildId: ids.guildId, voiceChannelId: ids.voiceChannelId, captionChannelId: ids.textChannelId, startedBy: ids.katieId, startedAtMs });
    const now = Date.now();
    const old = store.startMeeting(start(now - 3 * DAY_MS));
    store.recordTurn(old, { turnId: 't1', speaker: { id: ids.katieId, name: 'Katie' }, startMs: 0, endMs: 500, text: 'Old words.' });
    store.endMeeting(old, now - 3 * DAY_MS + 60_000);
    const recent = store.startMeeting(start(now - DAY_MS));
    store.recordTurn(recent, { turnId: 't1', speaker: { id: ids.katieId, name: 'Katie' }, startMs: 0, endMs: 500, text: 'Recent words.' });
    store.endMeeting(recent, now - DAY_MS + 60_000);
    db.close();

    bot = await startInProcessBot(world, { DATA_RETENTION_DAYS: '2' });
    expect(rowsOf(bot, old)).toEqual({ meetings: 0, speakers: 0, turns: 0, translations: 0 });
    expect(rowsOf(bot, recent)).toMatchObject({ meetings: 1, turns: 1 });
    expect(bot.logs.lines.find((l) => l.msg === 'retention sweep')).toMatchObject({ deleted: 1, retentionDays: 2 });
  });
});
