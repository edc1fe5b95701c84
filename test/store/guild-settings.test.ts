import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, SCHEMA_VERSION } from '../../src/store/database.ts';
import { GuildSettingsStore } from '../../src/store/guild-settings.ts';

let dataDir: string;
let db: DatabaseSync;
let store: GuildSettingsStore;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parley-settings-'));
  db = openDatabase(dataDir);
  store = new GuildSettingsStore(db);
});

afterEach(async () => {
  if (db.isOpen) db.close();
  await rm(dataDir, { recursive: true, force: true });
});

function reopen(): GuildSettingsStore {
  db.close();
  db = openDatabase(dataDir);
  return new GuildSettingsStore(db);
}

const terms = (count: number, prefix = 'term') => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('openDatabase', () => {
  it('creates the data directory and sets the pragmas the stores rely on', () => {
    const nested = join(dataDir, 'a', 'b');
    const other = openDatabase(nested);
    try {
      expect(other.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(other.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 1 }); // NORMAL
      expect(other.prepare('PRAGMA foreign_keys').get()).toEqual({ foreign_keys: 1 });
      expect(other.prepare('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION });
    } finally {
      other.close();
    }
  });

  it('refuses a database written by a newer schema version', () => {
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(dataDir)).toThrow(/newer Parley/);
  });
});

describe('keyterms', () => {
  it('trims, drops empties, dedupes ignoring case and keeps the first spelling', () => {
    expect(store.addKeyterms('g1', ['  Kubernetes ', '', '   ', 'kubernetes', 'AssemblyAI'])).toEqual({
      ok: true,
      keyterms: ['Kubernetes', 'AssemblyAI'],
    });
    expect(store.addKeyterms('g1', ['KUBERNETES', 'Parley'])).toEqual({
      ok: true,
      keyterms: ['Kubernetes', 'AssemblyAI', 'Parley'],
    });
    expect(store.keyterms('g1')).toEqual(['Kubernetes', 'AssemblyAI', 'Parley']);
    expect(store.keyterms('g2')).toEqual([]);
  });

  it('rejects a list with nothing but blanks', () => {
    const result = store.addKeyterms('g1', [' ', '']);
    expect(result.ok).toBe(false);
    expect(store.keyterms('g1')).toEqual([]);
  });

  it('accepts a 50-character term and rejects a 51-character one with a message saying how to fix it', () => {
    const fifty = 'a'.repeat(50);
    const fiftyOne = 'b'.repeat(51);
    expect(store.addKeyterms('g1', [fifty])).toEqual({ ok: true, keyterms: [fifty] });
    expect(store.addKeyterms('g1', ['fine', fiftyOne])).toEqual({
      ok: false,
      error: `"${'b'.repeat(30)}…" is 51 characters; keyterms can be at most 50 (AssemblyAI's limit). Shorten it and try again.`,
    });
    expect(store.keyterms('g1')).toEqual([fifty]); // all or nothing: 'fine' was not added
  });

  it('counts characters, not UTF-16 units, and measures after trimming', () => {
    const emoji = '🎙'.repeat(50); // 50 code points, 100 UTF-16 units
    expect(store.addKeyterms('g1', [emoji, `  ${'c'.repeat(50)}  `]).ok).toBe(true);
  });

  it('accepts exactly 100 keyterms and rejects the 101st, saying how many fit', () => {
    expect(store.addKeyterms('g1', terms(60)).ok).toBe(true);
    expect(store.addKeyterms('g1', terms(40, 'more')).ok).toBe(true);
    expect(store.keyterms('g1')).toHaveLength(100);
    // A duplicate does not count against the limit.
    expect(store.addKeyterms('g1', ['TERM0']).ok).toBe(true);
    expect(store.addKeyterms('g1', ['TERM0', 'one too many'])).toEqual({
      ok: false,
      error:
        "That would make 101 keyterms; a server can have at most 100 (AssemblyAI's limit). It has 100, so there is room for 0 more. Remove some keyterms or add fewer, then try again.",
    });
    expect(store.keyterms('g1')).toHaveLength(100);
  });

  it('rejects 101 keyterms at once and adds none of them', () => {
    const result = store.addKeyterms('g1', terms(101));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(/^That would make 101 keyterms;.*room for 100 more/);
    expect(store.keyterms('g1')).toEqual([]);
  });

  it('removes keyterms ignoring case, reports the ones not found, and clears per guild', () => {
    store.addKeyterms('g1', ['Kubernetes', 'AssemblyAI', 'Parley']);
    store.addKeyterms('g2', ['Kubernetes']);
    expect(store.removeKeyterms('g1', [' kubernetes ', 'nope', ''])).toEqual({
      removed: ['Kubernetes'],
      notFound: ['nope'],
      keyterms: ['AssemblyAI', 'Parley'],
    });
    expect(store.keyterms('g2')).toEqual(['Kubernetes']);
    expect(store.clearKeyterms('g1')).toBe(2);
    expect(store.keyterms('g1')).toEqual([]);
    expect(store.keyterms('g2')).toEqual(['Kubernetes']);
    // Room freed by removal can be used again.
    expect(store.addKeyterms('g1', ['kubernetes'])).toEqual({ ok: true, keyterms: ['kubernetes'] });
  });

  it('persists keyterms across reopening', () => {
    store.addKeyterms('g1', ['Kubernetes', 'AssemblyAI']);
    expect(reopen().keyterms('g1')).toEqual(['Kubernetes', 'AssemblyAI']);
  });
});

describe('languages', () => {
  it('round-trips the list as given, in order, per guild, and replaces it', () => {
    expect(store.languages('g1')).toEqual([]);
    store.setLanguages('g1', ['ja', 'de', 'pt-BR']);
    store.setLanguages('g2', ['fr']);
    expect(reopen().languages('g1')).toEqual(['ja', 'de', 'pt-BR']);
    store = new GuildSettingsStore(db);
    store.setLanguages('g1', ['es']);
    expect(store.languages('g1')).toEqual(['es']);
    store.setLanguages('g1', []);
    expect(store.languages('g1')).toEqual([]);
    expect(store.languages('g2')).toEqual(['fr']);
  });
});

describe('spoken languages', () => {
  it('round-trips the expected spoken languages per guild, apart from the translation languages', () => {
    expect(store.spokenLanguages('g1')).toEqual([]);
    store.setSpokenLanguages('g1', ['es', 'en']);
    store.setLanguages('g1', ['de']);
    expect(reopen().spokenLanguages('g1')).toEqual(['es', 'en']);
    store = new GuildSettingsStore(db);
    expect(store.spokenLanguages('g2')).toEqual([]);
    store.setSpokenLanguages('g1', []);
    expect(store.spokenLanguages('g1')).toEqual([]);
    expect(store.languages('g1')).toEqual(['de']);
  });
});

describe('opt-out', () => {
  it('is per user across guilds and persists across reopening the database', () => {
    expect(store.isOptedOut('u1')).toBe(false);
    store.setOptedOut('u1', true);
    store.setOptedOut('u1', true); // repeated opt-out is harmless
    store.setOptedOut('u2', true);
    expect(store.isOptedOut('u1')).toBe(true);

    let reopened = reopen();
    expect(reopened.isOptedOut('u1')).toBe(true);
    expect(reopened.isOptedOut('u2')).toBe(true);
    expect(reopened.isOptedOut('u3')).toBe(false);

    reopened.setOptedOut('u1', false);
    expect(reopened.isOptedOut('u1')).toBe(false);
    reopened = reopen();
    expect(reopened.isOptedOut('u1')).toBe(false);
    expect(reopened.isOptedOut('u2')).toBe(true);
  });
});
