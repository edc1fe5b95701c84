/**
 * Whether a guild allows recording (`/recording enable|disable`, Manage Server). Off unless a guild turned it on:
 * one row per guild that did, in table `guild_recording` (migration 4). Read once per `/join record:true`.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { integer, text } from './database.ts';

/** Who turned recording on, and when. */
export interface RecordingConsent {
  enabledBy: string;
  /** Epoch ms. */
  enabledAtMs: number;
}

/** The guild's recording switch. */
export class RecordingSettingsStore {
  readonly #select: StatementSync;
  readonly #enable: StatementSync;
  readonly #disable: StatementSync;

  /** @param db a connection from `openDatabase` (schema already migrated). */
  constructor(db: DatabaseSync) {
    this.#select = db.prepare('SELECT enabled_by, enabled_at_ms FROM guild_recording WHERE guild_id = ?');
    this.#enable = db.prepare(
      'INSERT INTO guild_recording (guild_id, enabled_by, enabled_at_ms) VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET enabled_by = excluded.enabled_by, enabled_at_ms = excluded.enabled_at_ms',
    );
    this.#disable = db.prepare('DELETE FROM guild_recording WHERE guild_id = ?');
  }

  /** Who enabled recording in the guild and when; undefined: recording is off. */
  consent(guildId: string): RecordingConsent | undefined {
    const row = this.#select.get(guildId);
    if (row === undefined) return undefined;
    return { enabledBy: text(row, 'enabled_by'), enabledAtMs: integer(row, 'enabled_at_ms') };
  }

  /** Turns recording on for the guild. @throws the database's error if the write fails. */
  enable(guildId: string, userId: string, nowMs: number = Date.now()): void {
    this.#enable.run(guildId, userId, nowMs);
  }

  /** Turns recording off. @returns whether it was on. */
  disable(guildId: string): boolean {
    return Number(this.#disable.run(guildId).changes) > 0;
  }
}
