/**
 * Meetings and their transcripts, stored in Parley's database as they happen: every write is committed before
 * the method returns, so a crash or a kill loses nothing already recorded, and a restart can find the meeting
 * that was running ({@link MeetingStore.unfinishedMeeting}).
 *
 * Reads are always scoped by guild: a meeting id from another guild reads as "no such meeting", so one guild
 * can never read another's transcripts, whatever id a member types.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Speaker } from '../captions/caption.ts';
import { Transcript } from '../transcript/transcript.ts';
import { integer, optionalInteger, optionalText, text, transaction, type Row } from './database.ts';

/** What {@link MeetingStore.startMeeting} records. Ids are Discord snowflakes (strings). */
export interface MeetingStart {
  guildId: string;
  /** The voice channel being captioned. */
  voiceChannelId: string;
  /** The text channel the captions are posted to. */
  captionChannelId: string;
  /** User id of the member who started the meeting. */
  startedBy: string;
  /** Wall-clock start, epoch ms. Meeting time (turn times) counts from here. */
  startedAtMs: number;
}

/** A stored meeting. */
export interface MeetingRecord extends MeetingStart {
  /** Meeting id: unique across all guilds, never reused. */
  id: number;
  /** Wall-clock end, epoch ms; absent while the meeting runs (or if the bot crashed during it). */
  endedAtMs?: number;
  /** Number of final turns recorded. */
  turnCount: number;
  /** The recap, Markdown, once saved. */
  recap?: string;
}

/** A final turn as {@link MeetingStore.recordTurn} takes it. Times are meeting time, ms. */
export interface TurnToRecord {
  /** Unique within the meeting. */
  turnId: string;
  speaker: Speaker;
  startMs: number;
  endMs: number;
  /** Final transcript text. User content. */
  text: string;
  /** The language AssemblyAI detected for the turn, e.g. `es`. */
  languageCode?: string;
}

const MEETING_COLUMNS = `
  SELECT m.id, m.guild_id, m.voice_channel_id, m.caption_channel_id, m.started_by, m.started_at_ms, m.ended_at_ms,
    m.recap, (SELECT COUNT(*) FROM meeting_turns t WHERE t.meeting_id = m.id) AS turn_count
  FROM meetings m`;

/**
 * Records meetings as they happen and reads them back. Statements are prepared once here, and nothing is kept
 * in memory per meeting or per turn, so memory stays flat however long the bot runs.
 */
export class MeetingStore {
  readonly #db: DatabaseSync;
  readonly #insertMeeting: StatementSync;
  readonly #upsertSpeaker: StatementSync;
  readonly #insertTurn: StatementSync;
  readonly #upsertTranslation: StatementSync;
  readonly #endMeeting: StatementSync;
  readonly #saveRecap: StatementSync;
  readonly #selectMeeting: StatementSync;
  readonly #selectUnfinished: StatementSync;
  readonly #selectRecent: StatementSync;
  readonly #selectSpeakers: StatementSync;
  readonly #selectTurns: StatementSync;
  readonly #selectTranslations: StatementSync;

  /**
   * @param db a connection from `openDatabase` (schema already migrated).
   * @throws an `Error` with code `ERR_SQLITE_ERROR` if the schema is missing (the database was not migrated).
   */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insertMeeting = db.prepare(
      `INSERT INTO meetings (guild_id, voice_channel_id, caption_channel_id, started_by, started_at_ms)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.#upsertSpeaker = db.prepare(
      `INSERT INTO meeting_speakers (meeting_id, speaker_id, name) VALUES (?, ?, ?)
       ON CONFLICT (meeting_id, speaker_id) DO UPDATE SET name = excluded.name WHERE name <> excluded.name`,
    );
    this.#insertTurn = db.prepare(
      `INSERT INTO meeting_turns (meeting_id, turn_id, speaker_id, speaker_name, start_ms, end_ms, text, language)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (meeting_id, turn_id) DO NOTHING`,
    );
    this.#upsertTranslation = db.prepare(
      `INSERT INTO meeting_translations (meeting_id, turn_id, language, text) VALUES (?, ?, ?, ?)
       ON CONFLICT (meeting_id, turn_id, language) DO UPDATE SET text = excluded.text`,
    );
    this.#endMeeting = db.prepare('UPDATE meetings SET ended_at_ms = ? WHERE id = ?');
    this.#saveRecap = db.prepare('UPDATE meetings SET recap = ? WHERE id = ?');
    this.#selectMeeting = db.prepare(`${MEETING_COLUMNS} WHERE m.id = ? AND m.guild_id = ?`);
    this.#selectUnfinished = db.prepare(
      `${MEETING_COLUMNS} WHERE m.guild_id = ? AND m.ended_at_ms IS NULL ORDER BY m.started_at_ms DESC, m.id DESC LIMIT 1`,
    );
    this.#selectRecent = db.prepare(
      `${MEETING_COLUMNS} WHERE m.guild_id = ? ORDER BY m.started_at_ms DESC, m.id DESC LIMIT ?`,
    );
    this.#selectSpeakers = db.prepare('SELECT speaker_id, name FROM meeting_speakers WHERE meeting_id = ? ORDER BY rowid');
    // rowid (arrival order) breaks ties in start time, as Transcript.add does live.
    this.#selectTurns = db.prepare(
      `SELECT turn_id, speaker_id, speaker_name, start_ms, end_ms, text, language FROM meeting_turns
       WHERE meeting_id = ? ORDER BY start_ms, rowid`,
    );
    this.#selectTranslations = db.prepare(
      'SELECT turn_id, language, text FROM meeting_translations WHERE meeting_id = ? ORDER BY turn_id, language',
    );
  }

  /**
   * Records the start of a meeting.
   *
   * @returns the new meeting's id.
   */
  startMeeting(start: MeetingStart): number {
    const result = this.#insertMeeting.run(
      start.guildId,
      start.voiceChannelId,
      start.captionChannelId,
      start.startedBy,
      start.startedAtMs,
    );
    return Number(result.lastInsertRowid);
  }

  /**
   * Notes a speaker of the meeting (kept in order of first appearance). Recording a speaker again updates
   * their display name.
   *
   * @throws an `Error` with code `ERR_SQLITE_ERROR` (foreign key constraint) if the meeting does not exist.
   */
  recordSpeaker(meetingId: number, speaker: Speaker): void {
    this.#upsertSpeaker.run(meetingId, speaker.id, speaker.name);
  }

  /**
   * Records a final turn, and its speaker, in one transaction. Idempotent on `(meetingId, turnId)`: a turn
   * already recorded is left as it is (the first write wins, so translations recorded for it stay valid).
   *
   * @returns `true` if the turn was new, `false` if it was already recorded.
   * @throws an `Error` with code `ERR_SQLITE_ERROR` (foreign key constraint) if the meeting does not exist.
   */
  recordTurn(meetingId: number, turn: TurnToRecord): boolean {
    return transaction(this.#db, () => {
      this.#upsertSpeaker.run(meetingId, turn.speaker.id, turn.speaker.name);
      const result = this.#insertTurn.run(
        meetingId,
        turn.turnId,
        turn.speaker.id,
        turn.speaker.name,
        turn.startMs,
        turn.endMs,
        turn.text,
        turn.languageCode ?? null,
      );
      return Number(result.changes) > 0;
    });
  }

  /**
   * Records (or replaces) a turn's translation.
   *
   * @param language the translation's language code, e.g. `de`.
   * @throws an `Error` with code `ERR_SQLITE_ERROR` (foreign key constraint) if the turn was not recorded
   *   first with {@link recordTurn}.
   */
  recordTranslation(meetingId: number, turnId: string, language: string, translatedText: string): void {
    this.#upsertTranslation.run(meetingId, turnId, language, translatedText);
  }

  /**
   * Records the end of a meeting (again, if it was already ended: the last call wins).
   *
   * @param endedAtMs wall-clock end, epoch ms.
   * @throws {Error} if there is no meeting `meetingId`.
   */
  endMeeting(meetingId: number, endedAtMs: number): void {
    expectOneRow(this.#endMeeting.run(endedAtMs, meetingId).changes, meetingId);
  }

  /**
   * Saves (or replaces) the meeting's recap.
   *
   * @param recapMarkdown the recap as Discord Markdown.
   * @throws {Error} if there is no meeting `meetingId`.
   */
  saveRecap(meetingId: number, recapMarkdown: string): void {
    expectOneRow(this.#saveRecap.run(recapMarkdown, meetingId).changes, meetingId);
  }

  /** The guild's most recently started meeting that never ended (e.g. the bot crashed during it), if any. */
  unfinishedMeeting(guildId: string): MeetingRecord | undefined {
    const row = this.#selectUnfinished.get(guildId);
    return row === undefined ? undefined : toMeetingRecord(row);
  }

  /**
   * The guild's meetings, most recently started first.
   *
   * @param limit the most meetings to return.
   * @throws {RangeError} if `limit` is not a whole number ≥ 0.
   */
  recentMeetings(guildId: string, limit: number): MeetingRecord[] {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a whole number ≥ 0, got ${limit}`);
    return this.#selectRecent.all(guildId, limit).map(toMeetingRecord);
  }

  /** The meeting, if it exists and belongs to `guildId`; a meeting of another guild is `undefined`. */
  meeting(guildId: string, meetingId: number): MeetingRecord | undefined {
    const row = this.#selectMeeting.get(meetingId, guildId);
    return row === undefined ? undefined : toMeetingRecord(row);
  }

  /**
   * Rebuilds the meeting's transcript: speakers in order of first appearance, turns ordered by start time,
   * and their translations.
   *
   * @returns the transcript, or `undefined` if the meeting does not exist or belongs to another guild.
   */
  loadTranscript(guildId: string, meetingId: number): Transcript | undefined {
    if (this.#selectMeeting.get(meetingId, guildId) === undefined) return undefined;
    const transcript = new Transcript();
    for (const row of this.#selectSpeakers.iterate(meetingId)) {
      transcript.addSpeaker({ id: text(row, 'speaker_id'), name: text(row, 'name') });
    }
    for (const row of this.#selectTurns.iterate(meetingId)) {
      transcript.add({
        kind: 'final',
        turnId: text(row, 'turn_id'),
        speaker: { id: text(row, 'speaker_id'), name: text(row, 'speaker_name') },
        startMs: integer(row, 'start_ms'),
        endMs: integer(row, 'end_ms'),
        text: text(row, 'text'),
        ...(typeof row['language'] === 'string' && { languageCode: row['language'] }),
      });
    }
    for (const row of this.#selectTranslations.iterate(meetingId)) {
      transcript.setTranslation(text(row, 'turn_id'), text(row, 'language'), text(row, 'text'));
    }
    return transcript;
  }
}

function toMeetingRecord(row: Row): MeetingRecord {
  const record: MeetingRecord = {
    id: integer(row, 'id'),
    guildId: text(row, 'guild_id'),
    voiceChannelId: text(row, 'voice_channel_id'),
    captionChannelId: text(row, 'caption_channel_id'),
    startedBy: text(row, 'started_by'),
    startedAtMs: integer(row, 'started_at_ms'),
    turnCount: integer(row, 'turn_count'),
  };
  const endedAtMs = optionalInteger(row, 'ended_at_ms');
  if (endedAtMs !== undefined) record.endedAtMs = endedAtMs;
  const recap = optionalText(row, 'recap');
  if (recap !== undefined) record.recap = recap;
  return record;
}

function expectOneRow(changes: number | bigint, meetingId: number): void {
  if (Number(changes) === 0) throw new Error(`No meeting ${meetingId}`);
}
