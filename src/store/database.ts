/**
 * Parley's SQLite database (`node:sqlite`, built into Node 24): opening it with the pragmas the stores rely on,
 * schema migrations, and small helpers for transactions and typed row reads.
 *
 * `node:sqlite` and warnings: Node 22 and Node 24 before 24.15 print `ExperimentalWarning: SQLite is an
 * experimental feature` to stderr the first time the module is loaded. From 24.15 the module is a release
 * candidate and loading it prints nothing (checked on 24.21.0, the version this repo pins through the `node`
 * package: stderr stays empty), so there is nothing to filter. We deliberately do not install a `process.on('warning')` filter: it would also hide
 * warnings we want to see, and on the pinned Node it would have nothing to do.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLOutputValue } from 'node:sqlite';

/** File name of the database inside the data directory. */
export const DATABASE_FILE = 'parley.db';

/** How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`, in ms. */
export const BUSY_TIMEOUT_MS = 5_000;

/**
 * Auto-join rules (`/autojoin`): one row per voice channel a guild asked Parley to join by itself once
 * `min_members` members (bots not counted) are in it, with the text channel its captions go to.
 */
const AUTO_JOIN_MIGRATION = `
  CREATE TABLE guild_auto_join (
    guild_id TEXT NOT NULL,
    voice_channel_id TEXT NOT NULL,
    caption_channel_id TEXT NOT NULL,
    min_members INTEGER NOT NULL,
    set_by TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL,
    PRIMARY KEY (guild_id, voice_channel_id)
  ) WITHOUT ROWID;
  `;

/**
 * Schema migrations, applied in order. Migration `i` brings the database from `PRAGMA user_version` `i` to
 * `i + 1`. Never edit a migration that has shipped: append a new one (databases in the field already ran it).
 */
const MIGRATIONS: readonly string[] = [
  // 1: guild settings and meetings.
  `
  -- Keyterms per guild, in the order they were added (rowid). term_key is the case-folded term: the unique
  -- key that makes "kubernetes" and "Kubernetes" one keyterm.
  CREATE TABLE guild_keyterms (
    guild_id TEXT NOT NULL,
    term TEXT NOT NULL,
    term_key TEXT NOT NULL,
    UNIQUE (guild_id, term_key)
  );

  -- Translation languages per guild, stored as given (validated by the caller), in order.
  CREATE TABLE guild_languages (
    guild_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    code TEXT NOT NULL,
    PRIMARY KEY (guild_id, position)
  ) WITHOUT ROWID;

  -- Users whose audio must never be sent anywhere, in every guild.
  CREATE TABLE opted_out_users (
    user_id TEXT PRIMARY KEY,
    opted_out_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- AUTOINCREMENT: a meeting id is never reused, even after rows are deleted, so an id quoted in an old
  -- Discord message can never point at a different meeting.
  CREATE TABLE meetings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id TEXT NOT NULL,
    voice_channel_id TEXT NOT NULL,
    caption_channel_id TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    recap TEXT
  );
  CREATE INDEX meetings_by_guild ON meetings (guild_id, started_at_ms, id);
  CREATE INDEX meetings_unfinished ON meetings (guild_id, started_at_ms, id) WHERE ended_at_ms IS NULL;

  -- Speakers in order of first appearance (rowid); name is the latest display name seen.
  CREATE TABLE meeting_speakers (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    speaker_id TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (meeting_id, speaker_id)
  );

  -- Final turns. Times are meeting time in ms. The speaker's name is kept per turn: display names can change
  -- during a meeting and the transcript shows the name the captions showed. rowid is arrival order, which
  -- breaks ties between turns with the same start.
  CREATE TABLE meeting_turns (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    turn_id TEXT NOT NULL,
    speaker_id TEXT NOT NULL,
    speaker_name TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (meeting_id, turn_id)
  );
  CREATE INDEX meeting_turns_by_start ON meeting_turns (meeting_id, start_ms);

  CREATE TABLE meeting_translations (
    meeting_id INTEGER NOT NULL,
    turn_id TEXT NOT NULL,
    language TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (meeting_id, turn_id, language),
    FOREIGN KEY (meeting_id, turn_id) REFERENCES meeting_turns (meeting_id, turn_id) ON DELETE CASCADE
  ) WITHOUT ROWID;
  `,
  // 2: the guild's recap template and custom recap prompt.
  `
  CREATE TABLE guild_recap_style (
    guild_id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    custom_prompt TEXT
  ) WITHOUT ROWID;
  `,
  // 3: languages. The language AssemblyAI detected for each final turn (NULL: detection off or not reported),
  // and the languages a guild expects to be spoken (passed to AssemblyAI as `language_codes`), in order.
  `
  ALTER TABLE meeting_turns ADD COLUMN language TEXT;

  CREATE TABLE guild_spoken_languages (
    guild_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    code TEXT NOT NULL,
    PRIMARY KEY (guild_id, position)
  ) WITHOUT ROWID;
  `,
  // 4: consented recording. A guild with a row has turned recording on (`/recording enable`, Manage Server);
  // none: off, the default. `/join record:true` is refused without it.
  `
  CREATE TABLE guild_recording (
    guild_id TEXT PRIMARY KEY,
    enabled_by TEXT NOT NULL,
    enabled_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: auto-join rules (src/store/auto-join-store.ts).
  AUTO_JOIN_MIGRATION,
];

/** The schema version this code writes: `PRAGMA user_version` after {@link openDatabase}. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) `<dataDir>/parley.db` and brings its schema up to {@link SCHEMA_VERSION}.
 *
 * Pragmas: WAL journal (readers never block the writer), `synchronous = NORMAL`, `foreign_keys = ON`, and a
 * busy timeout of {@link BUSY_TIMEOUT_MS}.
 *
 * @param dataDir directory for the database; created (with parents) if missing.
 * @returns the open connection; the caller closes it (`db.close()`) at shutdown.
 * @throws the file system's error if `dataDir` cannot be created; an `Error` with code
 *   `ERR_SQLITE_ERROR` if the file is not a database or a migration fails (the failed migration is rolled
 *   back); an `Error` if the database was written by a newer Parley (its schema version is above ours).
 */
export function openDatabase(dataDir: string): DatabaseSync {
  mkdirSync(dataDir, { recursive: true });
  const db = new DatabaseSync(join(dataDir, DATABASE_FILE));
  try {
    db.exec('PRAGMA journal_mode = WAL');
    // In WAL mode, NORMAL syncs at checkpoints, not at every commit. A commit is in the WAL file (the OS page
    // cache) when the statement returns, so it survives the bot process crashing or being killed, which is the
    // failure we guard against. Only an OS crash or power loss can drop the last few commits, and even then
    // the database stays consistent. FULL would add an fsync per caption turn for no gain against crashes.
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Applies the migrations the database has not run yet, each in its own transaction with its version bump. */
function migrate(db: DatabaseSync): void {
  const version = integer(db.prepare('PRAGMA user_version').get(), 'user_version');
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `The database has schema version ${version}, but this Parley only knows version ${SCHEMA_VERSION}: it was written by a newer Parley. Upgrade Parley.`,
    );
  }
  for (let next = version; next < SCHEMA_VERSION; next++) {
    transaction(db, () => {
      db.exec(MIGRATIONS[next] ?? '');
      // PRAGMA takes no bound parameters; `next + 1` is an integer we computed.
      db.exec(`PRAGMA user_version = ${next + 1}`);
    });
  }
}

/**
 * Runs `work` in one write transaction (`BEGIN IMMEDIATE`, so the write lock is taken up front and the
 * transaction cannot fail half-way on a lock upgrade): commits if it returns, rolls back if it throws.
 *
 * @returns what `work` returns.
 * @throws whatever `work` throws (after rolling back); an `Error` if a transaction is already open on `db`
 *   (transactions do not nest).
 */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  if (db.isTransaction) throw new Error('A transaction is already open on this database; transactions do not nest.');
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** A row as `node:sqlite` returns it: column name → value. */
export type Row = Record<string, SQLOutputValue>;

/**
 * Reads an integer column (integers are JS numbers: databases are opened without `readBigInts`).
 *
 * @throws {TypeError} if `row` is undefined or the column is missing or not a number (a schema/query bug).
 */
export function integer(row: Row | undefined, column: string): number {
  const value = row?.[column];
  if (typeof value !== 'number') throw new TypeError(`Column ${column} is ${describe(value)}, expected an integer`);
  return value;
}

/**
 * Reads a nullable integer column; SQL NULL becomes `undefined`.
 *
 * @throws {TypeError} if the column holds something other than a number or NULL.
 */
export function optionalInteger(row: Row, column: string): number | undefined {
  return row[column] === null ? undefined : integer(row, column);
}

/**
 * Reads a text column.
 *
 * @throws {TypeError} if `row` is undefined or the column is missing or not text (a schema/query bug).
 */
export function text(row: Row | undefined, column: string): string {
  const value = row?.[column];
  if (typeof value !== 'string') throw new TypeError(`Column ${column} is ${describe(value)}, expected text`);
  return value;
}

/**
 * Reads a nullable text column; SQL NULL becomes `undefined`.
 *
 * @throws {TypeError} if the column holds something other than text or NULL.
 */
export function optionalText(row: Row, column: string): string | undefined {
  return row[column] === null ? undefined : text(row, column);
}

function describe(value: SQLOutputValue | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'NULL';
  return typeof value;
}
