/**
 * Per-guild settings (keyterms, translation languages) and the per-user opt-out, stored in Parley's database.
 * Every write is committed before the method returns.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { KEYTERM_MAX_LENGTH, KEYTERMS_MAX_COUNT } from '../config.ts';
import { text, transaction } from './database.ts';

/** Result of {@link GuildSettingsStore.addKeyterms}: the guild's keyterms after the change, or why nothing changed. */
export type AddKeytermsResult =
  | { ok: true; keyterms: string[] }
  /** `error` is one sentence or two, fit to show the Discord member who asked: what is wrong and how to fix it. */
  | { ok: false; error: string };

/** Result of {@link GuildSettingsStore.removeKeyterms}. */
export interface RemoveKeytermsResult {
  /** The stored spelling of each keyterm removed. */
  removed: string[];
  /** Terms asked for (trimmed) that were not keyterms of the guild. */
  notFound: string[];
  /** The guild's keyterms after the change. */
  keyterms: string[];
}

/** Longest piece of a user's term quoted back in an error; a pasted paragraph must not flood the reply. */
const QUOTE_MAX_LENGTH = 30;

/**
 * Reads and writes guild settings. Create one instance per database: the opt-out set is cached in this
 * instance, so writes made through another instance (or another process) are not seen until the next start.
 */
export class GuildSettingsStore {
  readonly #db: DatabaseSync;
  readonly #selectKeyterms: StatementSync;
  readonly #insertKeyterm: StatementSync;
  readonly #deleteKeyterm: StatementSync;
  readonly #clearKeyterms: StatementSync;
  readonly #selectLanguages: StatementSync;
  readonly #insertLanguage: StatementSync;
  readonly #clearLanguages: StatementSync;
  readonly #selectSpoken: StatementSync;
  readonly #insertSpoken: StatementSync;
  readonly #clearSpoken: StatementSync;
  readonly #insertOptOut: StatementSync;
  readonly #deleteOptOut: StatementSync;
  /** Users opted out, loaded once: {@link isOptedOut} runs on every speaking start and must not hit the disk. */
  readonly #optedOut = new Set<string>();

  /**
   * @param db a connection from `openDatabase` (schema already migrated).
   * @throws an `Error` with code `ERR_SQLITE_ERROR` if the schema is missing (the database was not migrated).
   */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#selectKeyterms = db.prepare('SELECT term, term_key FROM guild_keyterms WHERE guild_id = ? ORDER BY rowid');
    this.#insertKeyterm = db.prepare('INSERT INTO guild_keyterms (guild_id, term, term_key) VALUES (?, ?, ?)');
    this.#deleteKeyterm = db.prepare('DELETE FROM guild_keyterms WHERE guild_id = ? AND term_key = ? RETURNING term');
    this.#clearKeyterms = db.prepare('DELETE FROM guild_keyterms WHERE guild_id = ?');
    this.#selectLanguages = db.prepare('SELECT code FROM guild_languages WHERE guild_id = ? ORDER BY position');
    this.#insertLanguage = db.prepare('INSERT INTO guild_languages (guild_id, position, code) VALUES (?, ?, ?)');
    this.#clearLanguages = db.prepare('DELETE FROM guild_languages WHERE guild_id = ?');
    this.#selectSpoken = db.prepare('SELECT code FROM guild_spoken_languages WHERE guild_id = ? ORDER BY position');
    this.#insertSpoken = db.prepare('INSERT INTO guild_spoken_languages (guild_id, position, code) VALUES (?, ?, ?)');
    this.#clearSpoken = db.prepare('DELETE FROM guild_spoken_languages WHERE guild_id = ?');
    this.#insertOptOut = db.prepare(
      'INSERT INTO opted_out_users (user_id, opted_out_at_ms) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING',
    );
    this.#deleteOptOut = db.prepare('DELETE FROM opted_out_users WHERE user_id = ?');
    for (const row of db.prepare('SELECT user_id FROM opted_out_users').iterate()) {
      this.#optedOut.add(text(row, 'user_id'));
    }
  }

  /** The guild's keyterms (for AssemblyAI's `keyterms_prompt`), in the order they were added; empty if none. */
  keyterms(guildId: string): string[] {
    return this.#selectKeyterms.all(guildId).map((row) => text(row, 'term'));
  }

  /**
   * Adds keyterms to the guild's list, all or none. Each term is trimmed (and Unicode-normalised); empty terms
   * are dropped; a term equal to another, ignoring case, is added once and keeps the spelling stored first.
   * Lengths are counted in characters (code points), as AssemblyAI counts them.
   *
   * @param terms terms as the member typed them.
   * @returns `{ ok: true, keyterms }` with the full list after adding (also when every term was already there);
   *   `{ ok: false, error }` and no change if no term is left after trimming, a term is longer than
   *   `KEYTERM_MAX_LENGTH` (50), or the list would hold more than `KEYTERMS_MAX_COUNT` (100).
   */
  addKeyterms(guildId: string, terms: string[]): AddKeytermsResult {
    const cleaned = terms.map((term) => term.normalize('NFC').trim()).filter((term) => term.length > 0);
    if (cleaned.length === 0) {
      return { ok: false, error: 'No keyterms given. Type one or more words or phrases, separated by commas.' };
    }
    for (const term of cleaned) {
      const length = characters(term);
      if (length > KEYTERM_MAX_LENGTH) {
        return {
          ok: false,
          error: `"${quote(term)}" is ${length} characters; keyterms can be at most ${KEYTERM_MAX_LENGTH} (AssemblyAI's limit). Shorten it and try again.`,
        };
      }
    }
    return transaction(this.#db, (): AddKeytermsResult => {
      const existing = this.#selectKeyterms.all(guildId);
      const keys = new Set(existing.map((row) => text(row, 'term_key')));
      const added: Array<{ term: string; key: string }> = [];
      for (const term of cleaned) {
        const key = keytermKey(term);
        if (keys.has(key)) continue;
        keys.add(key);
        added.push({ term, key });
      }
      if (keys.size > KEYTERMS_MAX_COUNT) {
        const room = Math.max(0, KEYTERMS_MAX_COUNT - existing.length);
        return {
          ok: false,
          error:
            `That would make ${keys.size} keyterms; a server can have at most ${KEYTERMS_MAX_COUNT} (AssemblyAI's limit). ` +
            `It has ${existing.length}, so there is room for ${room} more. Remove some keyterms or add fewer, then try again.`,
        };
      }
      for (const { term, key } of added) this.#insertKeyterm.run(guildId, term, key);
      return { ok: true, keyterms: [...existing.map((row) => text(row, 'term')), ...added.map(({ term }) => term)] };
    });
  }

  /**
   * Removes keyterms, matching trimmed terms ignoring case. Terms that are not keyterms are reported, not an
   * error. Empty terms are ignored.
   */
  removeKeyterms(guildId: string, terms: string[]): RemoveKeytermsResult {
    return transaction(this.#db, () => {
      const removed: string[] = [];
      const notFound: string[] = [];
      for (const raw of terms) {
        const term = raw.normalize('NFC').trim();
        if (term.length === 0) continue;
        const row = this.#deleteKeyterm.get(guildId, keytermKey(term));
        if (row === undefined) notFound.push(term);
        else removed.push(text(row, 'term'));
      }
      return { removed, notFound, keyterms: this.keyterms(guildId) };
    });
  }

  /**
   * Removes all of the guild's keyterms.
   *
   * @returns how many were removed.
   */
  clearKeyterms(guildId: string): number {
    return Number(this.#clearKeyterms.run(guildId).changes);
  }

  /** The guild's translation language codes, in the order set; empty when translation is off. */
  languages(guildId: string): string[] {
    return this.#selectLanguages.all(guildId).map((row) => text(row, 'code'));
  }

  /**
   * Replaces the guild's translation languages. Codes are stored as given: the caller validates them.
   *
   * @param codes language codes, e.g. `['de', 'ja']`; empty turns translation off.
   */
  setLanguages(guildId: string, codes: string[]): void {
    transaction(this.#db, () => {
      this.#clearLanguages.run(guildId);
      codes.forEach((code, position) => this.#insertLanguage.run(guildId, position, code));
    });
  }

  /** The languages the guild expects to be spoken (AssemblyAI's `language_codes` hint), in order; empty: detect any. */
  spokenLanguages(guildId: string): string[] {
    return this.#selectSpoken.all(guildId).map((row) => text(row, 'code'));
  }

  /**
   * Replaces the guild's expected spoken languages. Codes are stored as given: the caller validates them.
   *
   * @param codes ISO 639-1 codes, e.g. `['en', 'es']`; empty removes the hint.
   */
  setSpokenLanguages(guildId: string, codes: string[]): void {
    transaction(this.#db, () => {
      this.#clearSpoken.run(guildId);
      codes.forEach((code, position) => this.#insertSpoken.run(guildId, position, code));
    });
  }

  /** Whether the user opted out: their audio must never be sent anywhere, in any guild. In memory; no I/O. */
  isOptedOut(userId: string): boolean {
    return this.#optedOut.has(userId);
  }

  /**
   * Opts a user out of (or back into) captioning, in every guild.
   *
   * @param nowMs epoch ms recorded with an opt-out; defaults to `Date.now()`.
   * @throws the database's error if the write fails. An opt-out still takes effect in memory for this process
   *   (privacy errs on the side of not sending audio); an opt-in does not (the user stays opted out).
   */
  setOptedOut(userId: string, optedOut: boolean, nowMs: number = Date.now()): void {
    if (optedOut) {
      this.#optedOut.add(userId);
      this.#insertOptOut.run(userId, nowMs);
    } else {
      this.#deleteOptOut.run(userId);
      this.#optedOut.delete(userId);
    }
  }
}

/** The case-folded form two keyterms share when they differ only in case. */
function keytermKey(term: string): string {
  return term.toLowerCase();
}

/** Length in code points, so an emoji or a CJK character outside the BMP counts as one. */
function characters(term: string): number {
  return [...term].length;
}

/** The start of a term, for quoting in an error message. */
function quote(term: string): string {
  const codePoints = [...term];
  return codePoints.length <= QUOTE_MAX_LENGTH ? term : `${codePoints.slice(0, QUOTE_MAX_LENGTH).join('')}…`;
}
