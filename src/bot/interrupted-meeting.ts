/**
 * Closing a meeting that a crash or restart interrupted, when `/join` or auto-join starts a new one in its guild:
 * the store keeps at most one unfinished meeting per guild (the running one), and the interrupted meeting's
 * recording, if it was recorded, is posted where its captions were, as at `/end` (its transcript stays for
 * `/recap`). `/end` finishes an interrupted meeting itself (commands/end.ts).
 */
import type { Guild } from 'discord.js';
import type { MeetingServices } from '../meeting/meeting.ts';
import { finishInterruptedRecording } from '../recording/interrupted-recording.ts';
import type { MeetingRecord } from '../store/meeting-store.ts';

/**
 * Ends the guild's interrupted meeting, if there is one, and posts its recording in the background (never
 * rejects; a failure is logged and the files stay in `DATA_DIR`).
 *
 * @param attachmentLimitBytes the guild's attachment limit from an interaction, bytes; undefined: Discord's default
 * @returns the meeting that was closed, if any.
 */
export function closeInterruptedMeeting(guild: Guild, services: MeetingServices, attachmentLimitBytes?: number): MeetingRecord | undefined {
  const interrupted = services.meetingStore.unfinishedMeeting(guild.id);
  if (interrupted === undefined) return undefined;
  services.meetingStore.endMeeting(interrupted.id, Date.now());
  const recordings = services.recordings;
  if (recordings !== undefined) {
    const channel = guild.channels.cache.get(interrupted.captionChannelId);
    void finishInterruptedRecording({
      recordings,
      guildId: guild.id,
      meetingId: interrupted.id,
      startedAtMs: interrupted.startedAtMs,
      logger: services.logger,
      target: channel?.isSendable() === true ? channel : undefined,
      attachmentLimitBytes,
    });
  }
  return interrupted;
}
