/**
 * Maps an STT session's audio time (ms since the session's first audio byte, the clock AssemblyAI's word times
 * use) to meeting time, and keeps the audio the session has not yet confirmed with a final transcript, so that
 * it can be resent to a new session after a drop. What is kept for a resend is bounded (`maxUnconfirmedFrames`):
 * audio that no final transcript ever covers (music, noise) would otherwise be kept for the whole session.
 */
import { PCM_FRAME_MS, msToPcmBytes, type PcmFrame } from '../audio/format.ts';

interface Segment {
  audioMs: number;
  meetingMs: number;
}

/** One session's audio timeline. */
export class SessionTimeline {
  /** Contiguous runs: a new one starts wherever the frames sent jump in meeting time. */
  readonly #segments: Segment[] = [];
  /** Frames sent but not yet covered by a final transcript, with their session audio start. */
  readonly #unconfirmed: Array<{ frame: PcmFrame; audioMs: number }> = [];
  #audioMs = 0;
  #nextMeetingMs: number | null = null;
  /** Session audio time up to which a final transcript has covered the audio, ms. */
  #confirmedMs = 0;
  readonly #maxUnconfirmed: number;
  #discarded = 0;

  /** @param maxUnconfirmedFrames - most frames kept for a resend; older ones are forgotten (and counted). */
  constructor(maxUnconfirmedFrames = Number.POSITIVE_INFINITY) {
    this.#maxUnconfirmed = Math.max(1, maxUnconfirmedFrames);
  }

  /** Frames forgotten because more than `maxUnconfirmedFrames` were waiting for a final transcript. */
  get discardedFrames(): number {
    return this.#discarded;
  }

  /** Session audio sent so far, ms. */
  get audioMs(): number {
    return this.#audioMs;
  }

  /** Records a frame as sent; returns its session audio start, ms. */
  recordSent(frame: PcmFrame): number {
    const audioMs = this.#audioMs;
    if (this.#nextMeetingMs === null || frame.meetingStartMs !== this.#nextMeetingMs) {
      this.#segments.push({ audioMs, meetingMs: frame.meetingStartMs });
    }
    this.#nextMeetingMs = frame.meetingStartMs + PCM_FRAME_MS;
    this.#unconfirmed.push({ frame, audioMs });
    this.#audioMs += PCM_FRAME_MS;
    if (this.#unconfirmed.length > this.#maxUnconfirmed) {
      const excess = this.#unconfirmed.length - this.#maxUnconfirmed;
      this.#unconfirmed.splice(0, excess);
      this.#discarded += excess;
      this.#pruneSegments();
    }
    return audioMs;
  }

  /** Meeting time, ms, of session audio time `audioMs`. */
  toMeetingMs(audioMs: number): number {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i];
      if (segment !== undefined && segment.audioMs <= audioMs) return segment.meetingMs + (audioMs - segment.audioMs);
    }
    const first = this.#segments[0];
    return first === undefined ? audioMs : first.meetingMs + (audioMs - first.audioMs);
  }

  /** Forgets frames that end at or before session audio time `audioMs`: a final transcript covers them. */
  confirmUpTo(audioMs: number): void {
    this.#confirmedMs = Math.max(this.#confirmedMs, audioMs);
    let n = 0;
    while (n < this.#unconfirmed.length) {
      const entry = this.#unconfirmed[n];
      if (entry === undefined || entry.audioMs + PCM_FRAME_MS > audioMs) break;
      n++;
    }
    if (n > 0) this.#unconfirmed.splice(0, n);
    this.#pruneSegments();
  }

  #pruneSegments(): void {
    // Segments before the first unconfirmed frame can no longer be needed for mapping once far behind; keep
    // the list short in long sessions by dropping those that end before the oldest unconfirmed frame.
    const oldest = this.#unconfirmed[0]?.audioMs ?? this.#audioMs;
    while (this.#segments.length > 1 && (this.#segments[1]?.audioMs ?? Infinity) <= oldest - 60_000) this.#segments.shift();
  }

  /**
   * Frames sent but not confirmed by a final transcript, oldest first. The first may straddle the confirmed point:
   * its already-transcribed head is replaced with silence, so a new session does not caption those words again.
   */
  unconfirmedFrames(): PcmFrame[] {
    return this.#unconfirmed.map(({ frame, audioMs }, i) => {
      const coveredMs = this.#confirmedMs - audioMs;
      if (i > 0 || coveredMs <= 0) return frame;
      const pcm = Buffer.from(frame.pcm);
      pcm.fill(0, 0, Math.min(pcm.length, msToPcmBytes(coveredMs)));
      return { ...frame, pcm };
    });
  }

  /** Number of frames kept for a resend (for memory checks). */
  get unconfirmedCount(): number {
    return this.#unconfirmed.length;
  }

  /** Number of segments held (for memory checks). */
  get segmentCount(): number {
    return this.#segments.length;
  }
}
