import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, openDatabase } from '../../src/store/database.ts';
import { MeetingStore, type MeetingStart } from '../../src/store/meeting-store.ts';

const alice = { id: 'u-alice', name: 'Alice' };
const bob = { id: 'u-bob', name: 'Bob' };
const carol = { id: 'u-carol', name: 'Carol' };

let dataDir: string;
let db: DatabaseSync;
let store: MeetingStore;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parley-meetings-'));
  db = openDatabase(dataDir);
  store = new MeetingStore(db);
});

afterEach(async () => {
  if (db.isOpen) db.close();
  await rm(dataDir, { recursive: true, force: true });
});

function start(guildId: string, startedAtMs: number): MeetingStart {
  return { guildId, voiceChannelId: `${guildId}-voice`, captionChannelId: `${guildId}-text`, startedBy: alice.id, startedAtMs };
}

describe('MeetingStore', () => {
  it('round-trips a meeting: record, speakers, turns in start order, translations, end and recap', () => {
    const id = store.startMeeting(start('g1', 1_700_000_000_000));
    store.recordSpeaker(id, carol); // joined, never spoke
    store.recordTurn(id, { turnId: 't2', speaker: bob, startMs: 3_000, endMs: 4_000, text: 'Second.' });
    store.recordTurn(id, { turnId: 't1', speaker: alice, startMs: 1_000, endMs: 2_500, text: 'First.' });
    store.recordTurn(id, { turnId: 't3', speaker: alice, startMs: 3_000, endMs: 3_500, text: 'Same start, later.' });
    store.recordTranslation(id, 't1', 'de', 'Erstens.');
    store.recordTranslation(id, 't1', 'ja', '最初。');
    store.recordTranslation(id, 't3', 'de', 'Alt.');
    store.recordTranslation(id, 't3', 'de', 'Gleicher Start, später.'); // replaces

    expect(store.meeting('g1', id)).toEqual({ id, ...start('g1', 1_700_000_000_000), turnCount: 3 });
    store.endMeeting(id, 1_700_000_600_000);
    store.saveRecap(id, '## Recap\n- First, then second.');

    // Reopen: everything was committed, nothing lives only in this store instance.
    db.close();
    db = openDatabase(dataDir);
    store = new MeetingStore(db);
    expect(store.meeting('g1', id)).toEqual({
      id,
      ...start('g1', 1_700_000_000_000),
      endedAtMs: 1_700_000_600_000,
      turnCount: 3,
      recap: '## Recap\n- First, then second.',
    });
    const transcript = store.loadTranscript('g1', id);
    expect(transcript?.speakers).toEqual([carol, bob, alice]);
    expect(transcript?.turns).toEqual([
      { turnId: 't1', speaker: alice, startMs: 1_000, endMs: 2_500, text: 'First.', translations: { de: 'Erstens.', ja: '最初。' } },
      { turnId: 't2', speaker: bob, startMs: 3_000, endMs: 4_000, text: 'Second.' },
      { turnId: 't3', speaker: alice, startMs: 3_000, endMs: 3_500, text: 'Same start, later.', translations: { de: 'Gleicher Start, später.' } },
    ]);
    expect(transcript?.turns[1]?.translations).toBeUndefined();
  });

  it('keeps the language AssemblyAI detected for each turn, and none where it reported none', () => {
    const id = store.startMeeting(start('g1', 0));
    store.recordTurn(id, { turnId: 't1', speaker: alice, startMs: 0, endMs: 1, text: 'Hola.', languageCode: 'es' });
    store.recordTurn(id, { turnId: 't2', speaker: bob, startMs: 2, endMs: 3, text: 'Hi.' });
    const turns = store.loadTranscript('g1', id)?.turns ?? [];
    expect(turns.map((turn) => [turn.text, turn.languageCode])).toEqual([
      ['Hola.', 'es'],
      ['Hi.', undefined],
    ]);
  });

  it('keeps the display name each turn was captioned with, and the latest name in the speaker list', () => {
    const id = store.startMeeting(start('g1', 0));
    store.recordTurn(id, { turnId: 't1', speaker: alice, startMs: 0, endMs: 1, text: 'a' });
    store.recordTurn(id, { turnId: 't2', speaker: { id: alice.id, name: 'Ally' }, startMs: 2, endMs: 3, text: 'b' });
    const transcript = store.loadTranscript('g1', id);
    expect(transcript?.turns.map((turn) => turn.speaker.name)).toEqual(['Alice', 'Ally']);
    expect(transcript?.speakers).toEqual([{ id: alice.id, name: 'Ally' }]);
  });

  it('records a turn once: repeating (meetingId, turnId) changes nothing', () => {
    const id = store.startMeeting(start('g1', 0));
    const turn = { turnId: 't1', speaker: alice, startMs: 0, endMs: 900, text: 'Hello.' };
    expect(store.recordTurn(id, turn)).toBe(true);
    store.recordTranslation(id, 't1', 'de', 'Hallo.');
    expect(store.recordTurn(id, turn)).toBe(false);
    expect(store.recordTurn(id, { ...turn, text: 'Hello again.' })).toBe(false);
    expect(store.meeting('g1', id)?.turnCount).toBe(1);
    expect(store.loadTranscript('g1', id)?.turns).toEqual([{ ...turn, translations: { de: 'Hallo.' } }]);
    // The same turn id in another meeting is another turn.
    const other = store.startMeeting(start('g1', 1));
    expect(store.recordTurn(other, turn)).toBe(true);
  });

  it('scopes every read by guild: another guild sees nothing of a meeting', () => {
    const id = store.startMeeting(start('g1', 0));
    store.recordTurn(id, { turnId: 't1', speaker: alice, startMs: 0, endMs: 900, text: 'Secret.' });
    store.saveRecap(id, 'Secret recap.');
    expect(store.meeting('g2', id)).toBeUndefined();
    expect(store.loadTranscript('g2', id)).toBeUndefined();
    expect(store.recentMeetings('g2', 10)).toEqual([]);
    expect(store.unfinishedMeeting('g2')).toBeUndefined();
    // …while the owning guild sees it.
    expect(store.meeting('g1', id)?.recap).toBe('Secret recap.');
    expect(store.loadTranscript('g1', id)?.turns).toHaveLength(1);
    expect(store.unfinishedMeeting('g1')?.id).toBe(id);
    // A meeting id that does not exist at all reads the same as another guild's.
    expect(store.meeting('g1', id + 1000)).toBeUndefined();
    expect(store.loadTranscript('g1', id + 1000)).toBeUndefined();
  });

  it('lists recent meetings newest first and finds the unfinished one', () => {
    const first = store.startMeeting(start('g1', 1_000));
    const second = store.startMeeting(start('g1', 2_000));
    const third = store.startMeeting(start('g1', 3_000));
    store.startMeeting(start('g2', 4_000));
    store.endMeeting(first, 1_500);
    store.endMeeting(third, 3_500);
    expect(store.recentMeetings('g1', 10).map((m) => m.id)).toEqual([third, second, first]);
    expect(store.recentMeetings('g1', 2).map((m) => m.id)).toEqual([third, second]);
    expect(store.recentMeetings('g1', 0)).toEqual([]);
    expect(() => store.recentMeetings('g1', 1.5)).toThrow(RangeError);
    expect(store.unfinishedMeeting('g1')?.id).toBe(second);
    store.endMeeting(second, 2_500);
    expect(store.unfinishedMeeting('g1')).toBeUndefined();
  });

  it('refuses writes for meetings and turns that do not exist', () => {
    const id = store.startMeeting(start('g1', 0));
    expect(() => store.recordTranslation(id, 'missing-turn', 'de', 'x')).toThrow(/FOREIGN KEY/);
    expect(() => store.recordTurn(id + 1, { turnId: 't1', speaker: alice, startMs: 0, endMs: 1, text: 'x' })).toThrow(/FOREIGN KEY/);
    expect(() => store.endMeeting(id + 1, 1)).toThrow(`No meeting ${id + 1}`);
    expect(() => store.saveRecap(id + 1, 'x')).toThrow(`No meeting ${id + 1}`);
    // The failed recordTurn rolled back its speaker too.
    expect(store.loadTranscript('g1', id)?.speakers).toEqual([]);
  });
});

describe('crash durability', () => {
  const writerPath = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));

  /** Resolves when `child` prints `expected`; rejects (with its stderr) if it exits first. */
  async function waitForLine(child: ChildProcessWithoutNullStreams, expected: string, stderr: () => string): Promise<void> {
    for await (const line of createInterface({ input: child.stdout })) {
      if (line === expected) return;
    }
    throw new Error(`crash-writer exited before printing "${expected}". stderr:\n${stderr()}`);
  }

  it('keeps every turn committed before the writer was killed with SIGKILL', async () => {
    const turnCount = 40;
    db.close(); // the writer is the only process with the database open until it dies
    const child = spawn(process.execPath, [writerPath, dataDir, 'g1', String(turnCount)], { stdio: 'pipe' });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await waitForLine(child, `turn ${turnCount}`, () => stderr);
      // The turns are in the write-ahead log, not checkpointed into the main file by a clean close.
      expect(existsSync(join(dataDir, `${DATABASE_FILE}-wal`))).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');

    db = openDatabase(dataDir);
    store = new MeetingStore(db);
    const meeting = store.unfinishedMeeting('g1');
    expect(meeting).toMatchObject({ guildId: 'g1', startedAtMs: 1_700_000_000_000, turnCount });
    expect(meeting?.endedAtMs).toBeUndefined();
    const transcript = store.loadTranscript('g1', meeting?.id ?? -1);
    expect(transcript?.turns.map((turn) => turn.text)).toEqual(Array.from({ length: turnCount }, (_, i) => `turn ${i + 1}`));
    expect(transcript?.speakers.map((speaker) => speaker.id)).toEqual(['u1', 'u0']);
  });
});
