import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { AUTO_JOIN_MAX_RULES, AutoJoinStore, type AutoJoinRule } from '../../src/store/auto-join-store.ts';

let dataDir: string;
let db: DatabaseSync;
let store: AutoJoinStore;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parley-autojoin-'));
  db = openDatabase(dataDir);
  store = new AutoJoinStore(db);
});

afterEach(async () => {
  if (db.isOpen) db.close();
  await rm(dataDir, { recursive: true, force: true });
});

const rule = (guildId: string, voiceChannelId: string, overrides: Partial<AutoJoinRule> = {}): AutoJoinRule => ({
  guildId,
  voiceChannelId,
  captionChannelId: `${voiceChannelId}-text`,
  minMembers: 2,
  setBy: 'admin',
  setAtMs: 1_000,
  ...overrides,
});

describe('AutoJoinStore', () => {
  it('keeps rules across a restart, replaces a channel\'s rule, and scopes every query to its guild', () => {
    expect(store.set(rule('g1', 'v1'))).toEqual({ ok: true, replaced: false });
    expect(store.set(rule('g2', 'v1', { minMembers: 5 }))).toEqual({ ok: true, replaced: false });
    expect(store.set(rule('g1', 'v1', { minMembers: 3, captionChannelId: 't9', setAtMs: 2_000 }))).toEqual({ ok: true, replaced: true });
    db.close();
    db = openDatabase(dataDir);
    store = new AutoJoinStore(db);
    expect(store.list('g1')).toEqual([rule('g1', 'v1', { minMembers: 3, captionChannelId: 't9', setAtMs: 2_000 })]);
    expect(store.get('g2', 'v1')?.minMembers).toBe(5);
    expect(store.clear('g1')).toBe(1);
    expect(store.get('g2', 'v1')).toBeDefined();
  });

  it(`holds at most ${AUTO_JOIN_MAX_RULES} rules per guild, replacing one still allowed`, () => {
    for (let i = 0; i < AUTO_JOIN_MAX_RULES; i++) expect(store.set(rule('g1', `v${i}`)).ok).toBe(true);
    const refused = store.set(rule('g1', 'one-more'));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error).toContain('/autojoin clear');
    expect(store.set(rule('g1', 'v0', { minMembers: 4 }))).toEqual({ ok: true, replaced: true });
    expect(store.set(rule('g2', 'v0')).ok).toBe(true);
    expect(store.list('g1')).toHaveLength(AUTO_JOIN_MAX_RULES);
  });

  it('drops the rules of a deleted voice or caption channel, in that guild only', () => {
    store.set(rule('g1', 'v1', { captionChannelId: 't1' }));
    store.set(rule('g1', 'v2', { captionChannelId: 't1' }));
    store.set(rule('g1', 'v3', { captionChannelId: 't3' }));
    store.set(rule('g2', 'v1', { captionChannelId: 't1' }));
    expect(store.removeChannel('g1', 't1')).toBe(2);
    expect(store.removeChannel('g1', 'v3')).toBe(1);
    expect(store.list('g1')).toEqual([]);
    expect(store.list('g2')).toHaveLength(1);
  });
});
