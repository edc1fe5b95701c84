/**
 * Deleting stored meetings: one meeting (`/forget`), every meeting past the retention period
 * (`DATA_RETENTION_DAYS`), and one member's own turns (`/optout erase`). Deletes are scoped by guild like every
 * read, and cascade through the schema's foreign keys (`ON DELETE CASCADE`, with `foreign_keys = ON`): a deleted
 * meeting leaves no speaker, turn or translation row behind; a deleted turn takes its translations with it.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { transaction } from './database.ts';

/** What {@link MeetingDeletion.eraseSpeaker} removed. */
export interface ErasedSpeaker {
  /** Turns deleted (their translations went with them). */
  turns: number;
  /** Meetings the speaker had turns in; their recaps were deleted too, since a recap retells what was said. */
  meetings: number;
}

/** Deletes meetings and turns; every method commits before it returns. */
export class MeetingDeletion {
  readonly #db: DatabaseSync;
  readonly #deleteMeeting: StatementSync;
  readonly #deleteOlder: StatementSync;
  readonly #meetingsWithSpeaker: StatementSync;
  readonly #deleteSpeakerTurns: StatementSync;
  readonly #deleteSpeakerRows: StatementSync;
  readonly #clearRecap: StatementSync;

  /** @param db a connection from `openDatabase` (schema migrated, foreign keys on). */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#deleteMeeting = db.prepare('DELETE FROM meetings WHERE id = ? AND guild_id = ?');
    // A meeting that never ended (the bot crashed) counts from its start.
    this.#deleteOlder = db.prepare('DELETE FROM meetings WHERE COALESCE(ended_at_ms, started_at_ms) < ?');
    this.#meetingsWithSpeaker = db.prepare(
      `SELECT DISTINCT t.meeting_id FROM meeting_turns t JOIN meetings m ON m.id = t.meeting_id
       WHERE m.guild_id = ? AND t.speaker_id = ?`,
    );
    this.#deleteSpeakerTurns = db.prepare('DELETE FROM meeting_turns WHERE meeting_id = ? AND speaker_id = ?');
    // Also where they joined and never spoke: their display name is stored there.
    this.#deleteSpeakerRows = db.prepare('DELETE FROM meeting_speakers WHERE speaker_id = ? AND meeting_id IN (SELECT id FROM meetings WHERE guild_id = ?)');
    this.#clearRecap = db.prepare('UPDATE meetings SET recap = NULL WHERE id = ?');
  }

  /**
   * Deletes a meeting of `guildId` with its speakers, turns, translations and recap.
   *
   * @returns false when there is no such meeting in that guild (nothing deleted).
   */
  deleteMeeting(guildId: string, meetingId: number): boolean {
    return Number(this.#deleteMeeting.run(meetingId, guildId).changes) > 0;
  }

  /**
   * Deletes every meeting, in every guild, that ended (or, unfinished, started) before `cutoffMs`.
   *
   * @param cutoffMs epoch ms.
   * @returns how many meetings were deleted.
   */
  deleteEndedBefore(cutoffMs: number): number {
    return Number(this.#deleteOlder.run(cutoffMs).changes);
  }

  /**
   * Deletes one member's turns (and their translations) from every stored meeting of `guildId`, forgets them as
   * a speaker there, and deletes those meetings' recaps (`/recap` makes a new one from what is left).
   */
  eraseSpeaker(guildId: string, speakerId: string): ErasedSpeaker {
    return transaction(this.#db, () => {
      const meetingIds = this.#meetingsWithSpeaker.all(guildId, speakerId).map((row) => Number(row['meeting_id']));
      let turns = 0;
      for (const meetingId of meetingIds) {
        turns += Number(this.#deleteSpeakerTurns.run(meetingId, speakerId).changes);
        this.#clearRecap.run(meetingId);
      }
      this.#deleteSpeakerRows.run(speakerId, guildId);
      return { turns, meetings: meetingIds.length };
    });
  }
}
