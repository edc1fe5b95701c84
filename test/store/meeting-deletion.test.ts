import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { MeetingStore, type MeetingStart } from '../../src/store/meeting-store.ts';
import { MeetingDeletion } from '../../src/store/meeting-deletion.ts';

const alice = { id: 'u-alice', name: 'Alice' };
const bob = { id: 'u-bob', name: 'Bob' };
const carol = { id: 'u-carol', name: 'Carol' };

let dataDir: string;
let db: DatabaseSync;
let store: MeetingStore;
let deletion: MeetingDeletion;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parley-deletion-'));
  db = openDatabase(dataDir);
  store = new MeetingStore(db);
  deletion = new MeetingDeletion(db);
});

afterEach(async () => {
  if (db.isOpen) db.close();
  await rm(dataDir, { recursive: true, force: true });
});

function start(guildId: string, startedAtMs: number): MeetingStart {
  return { guildId, voiceChannelId: `${guildId}-voice`, captionChannelId: `${guildId}-text`, startedBy: alice.id, startedAtMs };
}

/** A meeting with a turn by Alice and one by Bob, each translated, ended, with a recap. */
function meetingWithTurns(guildId: string, startedAtMs: number, endedAtMs: number | undefined): number {
  const id = store.startMeeting(start(guildId, startedAtMs));
  store.recordSpeaker(id, carol);
  store.recordTurn(id, { turnId: 'a1', speaker: alice, startMs: 0, endMs: 900, text: 'Alice speaks.' });
  store.recordTurn(id, { turnId: 'b1', speaker: bob, startMs: 1_000, endMs: 1_900, text: 'Bob speaks.' });
  store.recordTranslation(id, 'a1', 'es', 'Alice habla.');
  store.recordTranslation(id, 'b1', 'es', 'Bob habla.');
  store.saveRecap(id, '{"summary":"Alice and Bob spoke."}');
  if (endedAtMs !== undefined) store.endMeeting(id, endedAtMs);
  return id;
}

/** Rows of each table that belong to the meeting. */
function rowsOf(meetingId: number): Record<string, number> {
  const count = (sql: string) => Number(db.prepare(sql).get(meetingId)?.['n']);
  return {
    meetings: count('SELECT COUNT(*) AS n FROM meetings WHERE id = ?'),
    speakers: count('SELECT COUNT(*) AS n FROM meeting_speakers WHERE meeting_id = ?'),
    turns: count('SELECT COUNT(*) AS n FROM meeting_turns WHERE meeting_id = ?'),
    translations: count('SELECT COUNT(*) AS n FROM meeting_translations WHERE meeting_id = ?'),
  };
}

const NONE = { meetings: 0, speakers: 0, turns: 0, translations: 0 };

describe('MeetingDeletion', () => {
  it('deleteMeeting leaves no row of that meeting, and only within its own guild', () => {
    const id = meetingWithTurns('g1', 1_000, 2_000);
    const other = meetingWithTurns('g1', 3_000, 4_000);
    expect(rowsOf(id)).toEqual({ meetings: 1, speakers: 3, turns: 2, translations: 2 });
    expect(deletion.deleteMeeting('g2', id)).toBe(false);
    expect(rowsOf(id).meetings).toBe(1);
    expect(deletion.deleteMeeting('g1', id)).toBe(true);
    expect(rowsOf(id)).toEqual(NONE);
    expect(rowsOf(other)).toEqual({ meetings: 1, speakers: 3, turns: 2, translations: 2 });
    expect(deletion.deleteMeeting('g1', id)).toBe(false);
  });

  it('deleteEndedBefore deletes meetings that ended before the cutoff, and unfinished ones that started before it', () => {
    const old = meetingWithTurns('g1', 1_000, 2_000);
    const crashed = meetingWithTurns('g2', 1_500, undefined);
    const endedAfter = meetingWithTurns('g1', 4_000, 6_000);
    const running = meetingWithTurns('g2', 6_000, undefined);
    expect(deletion.deleteEndedBefore(5_000)).toBe(2);
    expect(rowsOf(old)).toEqual(NONE);
    expect(rowsOf(crashed)).toEqual(NONE);
    expect(rowsOf(endedAfter).turns).toBe(2);
    expect(rowsOf(running).turns).toBe(2);
  });

  it("eraseSpeaker deletes one member's turns and translations in one guild, forgets them as a speaker, and drops affected recaps", () => {
    const first = meetingWithTurns('g1', 1_000, 2_000);
    const second = meetingWithTurns('g1', 3_000, 4_000);
    const elsewhere = meetingWithTurns('g2', 1_000, 2_000);
    const silent = store.startMeeting(start('g1', 5_000));
    store.recordSpeaker(silent, bob);
    expect(deletion.eraseSpeaker('g1', bob.id)).toEqual({ turns: 2, meetings: 2 });
    for (const id of [first, second]) {
      const transcript = store.loadTranscript('g1', id)!;
      expect(transcript.turns.map((t) => t.speaker.id)).toEqual([alice.id]);
      expect(transcript.speakers.map((s) => s.id)).not.toContain(bob.id);
      expect(Object.keys(transcript.turns[0]?.translations ?? {})).toEqual(['es']);
      expect(store.meeting('g1', id)?.recap).toBeUndefined();
      expect(rowsOf(id)).toEqual({ meetings: 1, speakers: 2, turns: 1, translations: 1 });
    }
    expect(store.loadTranscript('g1', silent)?.speakers).toEqual([]);
    // Another guild's meetings are untouched.
    expect(rowsOf(elsewhere)).toEqual({ meetings: 1, speakers: 3, turns: 2, translations: 2 });
    expect(store.meeting('g2', elsewhere)?.recap).toBeDefined();
  });
});
