/**
 * Where recordings live and how they go: retention (the daily sweep deletes the folders of meetings it deleted),
 * a member's own tracks (`/optout erase`), and ids that are never paths.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { Recordings } from '../../src/recording/recordings.ts';
import { openDatabase } from '../../src/store/database.ts';
import { MeetingDeletion } from '../../src/store/meeting-deletion.ts';
import { MeetingStore } from '../../src/store/meeting-store.ts';
import { RecordingSettingsStore } from '../../src/store/recording-settings.ts';
import { RetentionSweep } from '../../src/store/retention.ts';

const GUILD = '1309000000000000100';
const OTHER_GUILD = '1309000000000000900';
const KATIE = '1309000000000000301';
const STEVE = '1309000000000000302';
const DAY_MS = 24 * 60 * 60 * 1000;

let dataDir: string;
let db: DatabaseSync;
let recordings: Recordings;
let meetings: MeetingStore;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parley-recordings-'));
  db = openDatabase(dataDir);
  meetings = new MeetingStore(db);
  recordings = new Recordings({ dataDir, settings: new RecordingSettingsStore(db), logger: silentLogger(), retentionDays: 30 });
});

afterEach(async () => {
  db.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** A stored meeting that ended `daysAgo` days ago, with a recording of Katie and Steve in its folder. */
async function recordedMeeting(guildId: string, daysAgo: number): Promise<number> {
  const startedAtMs = Date.now() - daysAgo * DAY_MS - 60_000;
  const id = meetings.startMeeting({ guildId, voiceChannelId: '1', captionChannelId: '2', startedBy: KATIE, startedAtMs });
  meetings.endMeeting(id, startedAtMs + 60_000);
  const dir = recordings.meetingDir(guildId, id);
  await mkdir(dir, { recursive: true });
  for (const file of [`01-Katie-${KATIE}.ogg`, `02-Steve-${STEVE}.ogg`, 'README.txt']) await writeFile(join(dir, file), 'x');
  return id;
}

describe('Recordings', () => {
  it('the retention sweep deletes the recordings of the meetings it deleted, and only those', async () => {
    const old = await recordedMeeting(GUILD, 40);
    const recent = await recordedMeeting(GUILD, 2);
    const otherOld = await recordedMeeting(OTHER_GUILD, 31);
    let swept: Promise<number> | undefined;
    const sweep = new RetentionSweep({
      deletion: new MeetingDeletion(db),
      retentionDays: 30,
      logger: silentLogger(),
      // As the bot wires it (src/bot/app.ts).
      afterSweep: () => {
        swept = recordings.deleteOrphans((guildId, meetingId) => meetings.meeting(guildId, meetingId) !== undefined);
      },
    });
    expect(sweep.sweep()).toBe(2);
    expect(await swept).toBe(2);
    expect(await recordings.files(GUILD, old)).toEqual([]);
    expect(await recordings.files(OTHER_GUILD, otherOld)).toEqual([]);
    expect(await recordings.files(GUILD, recent)).toHaveLength(3);
    expect(recordings.keptFor).toContain('30 days');
  });

  it('/forget deletes one meeting\'s folder; /optout erase deletes one member\'s tracks in one guild', async () => {
    const first = await recordedMeeting(GUILD, 1);
    const second = await recordedMeeting(GUILD, 0);
    const elsewhere = await recordedMeeting(OTHER_GUILD, 0);
    expect(await recordings.deleteMeeting(GUILD, first)).toBe(3);
    await expect(readdir(recordings.meetingDir(GUILD, first))).rejects.toMatchObject({ code: 'ENOENT' });

    expect(await recordings.eraseSpeaker(GUILD, STEVE)).toBe(1);
    expect(await recordings.files(GUILD, second)).toEqual([`01-Katie-${KATIE}.ogg`, 'README.txt']);
    // Another guild's recording of the same member is that guild's business.
    expect(await recordings.files(OTHER_GUILD, elsewhere)).toContain(`02-Steve-${STEVE}.ogg`);
  });

  it('never turns an id into a path outside its folder', () => {
    expect(() => recordings.meetingDir('../..', 1)).toThrow(RangeError);
    expect(() => recordings.meetingDir(GUILD, 0)).toThrow(RangeError);
    expect(() => recordings.meetingDir(GUILD, Number.NaN)).toThrow(RangeError);
    expect(recordings.meetingDir(GUILD, 7)).toBe(join(dataDir, 'recordings', GUILD, '7'));
  });
});
