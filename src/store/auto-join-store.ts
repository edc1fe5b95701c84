/**
 * Each guild's auto-join rules (`/autojoin`), in table `guild_auto_join`: a voice channel Parley joins by itself
 * once `minMembers` members (bots not counted) are in it, and the text channel its captions go to. Every query
 * is scoped to one guild: a guild never reads, changes or clears another's rules.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { integer, text, type Row } from './database.ts';

/** Most auto-join rules one guild may keep: bounds the store, the watcher's state and the `/autojoin list` reply. */
export const AUTO_JOIN_MAX_RULES = 10;

/** Smallest and largest `min_members`: 99 is Discord's largest voice channel user limit (discord-api-docs "Channel Object": user_limit). */
export const AUTO_JOIN_MIN_MEMBERS = 1;
export const AUTO_JOIN_MAX_MEMBERS = 99;

/** One auto-join rule. */
export interface AutoJoinRule {
  guildId: string;
  voiceChannelId: string;
  captionChannelId: string;
  /** Members (bots not counted) that must be in the voice channel for Parley to join. */
  minMembers: number;
  /** The member who set the rule. */
  setBy: string;
  /** When it was set, epoch ms. */
  setAtMs: number;
}

/** What {@link AutoJoinStore.set} did. */
export type SetAutoJoinResult = { ok: true; replaced: boolean } | { ok: false; error: string };

function ruleOf(row: Row): AutoJoinRule {
  return {
    guildId: text(row, 'guild_id'),
    voiceChannelId: text(row, 'voice_channel_id'),
    captionChannelId: text(row, 'caption_channel_id'),
    minMembers: integer(row, 'min_members'),
    setBy: text(row, 'set_by'),
    setAtMs: integer(row, 'set_at_ms'),
  };
}

/** Reads and writes auto-join rules. Reads go to the database each time (indexed by the primary key). */
export class AutoJoinStore {
  readonly #select: StatementSync;
  readonly #list: StatementSync;
  readonly #count: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteAll: StatementSync;
  readonly #deleteChannel: StatementSync;

  /** @param db a connection from `openDatabase` (schema already migrated). */
  constructor(db: DatabaseSync) {
    this.#select = db.prepare('SELECT * FROM guild_auto_join WHERE guild_id = ? AND voice_channel_id = ?');
    this.#list = db.prepare('SELECT * FROM guild_auto_join WHERE guild_id = ? ORDER BY set_at_ms, voice_channel_id');
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM guild_auto_join WHERE guild_id = ?');
    this.#upsert = db.prepare(
      `INSERT INTO guild_auto_join (guild_id, voice_channel_id, caption_channel_id, min_members, set_by, set_at_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (guild_id, voice_channel_id) DO UPDATE SET caption_channel_id = excluded.caption_channel_id,
         min_members = excluded.min_members, set_by = excluded.set_by, set_at_ms = excluded.set_at_ms`,
    );
    this.#delete = db.prepare('DELETE FROM guild_auto_join WHERE guild_id = ? AND voice_channel_id = ?');
    this.#deleteAll = db.prepare('DELETE FROM guild_auto_join WHERE guild_id = ?');
    this.#deleteChannel = db.prepare('DELETE FROM guild_auto_join WHERE guild_id = ? AND (voice_channel_id = ? OR caption_channel_id = ?)');
  }

  /** The guild's rule for this voice channel, if any. */
  get(guildId: string, voiceChannelId: string): AutoJoinRule | undefined {
    const row = this.#select.get(guildId, voiceChannelId);
    return row === undefined ? undefined : ruleOf(row);
  }

  /** The guild's rules, oldest first. */
  list(guildId: string): AutoJoinRule[] {
    return this.#list.all(guildId).map(ruleOf);
  }

  /**
   * Adds the rule, or replaces the guild's rule for the same voice channel. `minMembers` is validated by the
   * caller ({@link AUTO_JOIN_MIN_MEMBERS}..{@link AUTO_JOIN_MAX_MEMBERS}).
   *
   * @returns `ok: false` with a sentence for the member when the guild already has {@link AUTO_JOIN_MAX_RULES} other rules.
   * @throws the database's error if the write fails.
   */
  set(rule: AutoJoinRule): SetAutoJoinResult {
    const replaced = this.get(rule.guildId, rule.voiceChannelId) !== undefined;
    if (!replaced && integer(this.#count.get(rule.guildId), 'n') >= AUTO_JOIN_MAX_RULES) {
      return { ok: false, error: `This server already has ${AUTO_JOIN_MAX_RULES} auto-join channels, the most Parley keeps. Remove one with \`/autojoin clear\` first.` };
    }
    this.#upsert.run(rule.guildId, rule.voiceChannelId, rule.captionChannelId, rule.minMembers, rule.setBy, rule.setAtMs);
    return { ok: true, replaced };
  }

  /** Removes the guild's rule for one voice channel, or all of its rules. @returns how many were removed. */
  clear(guildId: string, voiceChannelId?: string): number {
    const result = voiceChannelId === undefined ? this.#deleteAll.run(guildId) : this.#delete.run(guildId, voiceChannelId);
    return Number(result.changes);
  }

  /** A channel was deleted: removes the rules that join it or post into it. @returns how many were removed. */
  removeChannel(guildId: string, channelId: string): number {
    return Number(this.#deleteChannel.run(guildId, channelId, channelId).changes);
  }
}
