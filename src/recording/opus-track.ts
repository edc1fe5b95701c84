/**
 * One speaker's recording: the Opus packets Discord delivered (after DAVE decryption, the same packets their
 * decoder gets), written as they are into an Ogg Opus file that streams to disk, with silence where the speaker
 * did not talk, so every track of a meeting starts at the meeting's start and they line up.
 *
 * Silence: Discord sends nothing while someone is silent, so the timeline comes from arrival times, by the rule
 * the audio path uses (src/audio/speaker-audio.ts): a packet arriving within the jitter allowance of the one
 * before is contiguous with it; a later one starts a new talk spurt at its own time, and the gap is filled with
 * CELT silence frames: 20 ms ones, then 2.5 ms ones for the rest (RFC 6716 §3.1 configurations 31 and 28), so a
 * gap is kept to within 1.25 ms. They are the bytes of the silence frame Discord clients send before they stop
 * (0xF8 0xFF 0xFE; Discord voice docs, "Voice Data Interpolation") with the stereo bit set: a CELT frame whose
 * silence flag is its first symbol decodes to silence whatever the channel count, and the stereo bit tells the
 * fill apart from the silence frames Discord delivered, so replay can leave out exactly the fill.
 * Gaps are filled with packets rather than left as a jump in granule position:
 * RFC 7845 §4 forbids advancing the granule position by more than the samples of the packets on a page, and
 * decoders that follow it (ffmpeg, browsers, codec-parser in `npm run replay`) would join the talk spurts up.
 * Silence costs 3 bytes per 20 ms (about 14 KB a minute with page overhead).
 *
 * Pre-skip is {@link PRE_SKIP} (20 ms): one fill frame goes before the meeting's time 0 and players drop it
 * (RFC 7845 §4.2), so decoded audio starts exactly at the meeting's start; opusinfo (opus-tools) warns that a
 * pre-skip below 120 samples is implausible, so 0 is avoided. The granule position counts the pre-skip too.
 *
 * Bounds: a page holds at most {@link PACKETS_PER_PAGE} packets (one second at 20 ms); pages go to a file write
 * stream, and when a delivered packet finds more than {@link MAX_UNWRITTEN_BYTES} still waiting for the disk the
 * track stops (it is closed as it stands and `onFailed` fires) rather than growing memory. A gap's fill is
 * written at once: about 14 KB per minute of gap (4 hours: 3.3 MB), then the check applies again.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { OPUS_GRANULE_RATE, PAGE_FLAGS, MAX_PAGE_SEGMENTS, lacingOf, oggPage, opusHeadPacket, opusPacketSamples, opusTagsPacket } from './ogg-opus.ts';

/** 20 ms of silence written where nothing arrived: CELT fullband 20 ms, stereo, silence flag set. */
export const FILL_FRAME_20MS: Readonly<Buffer> = Buffer.from([0xfc, 0xff, 0xfe]);
/** 2.5 ms of silence written where nothing arrived: CELT fullband 2.5 ms, stereo, silence flag set. */
export const FILL_FRAME_2_5MS: Readonly<Buffer> = Buffer.from([0xe4, 0xff, 0xfe]);
const FILL_20MS_SAMPLES = 960;
/** Samples at 48 kHz before the meeting's time 0, dropped by decoders (RFC 7845 §5.1): one fill frame. */
export const PRE_SKIP = 960;
const FILL_2_5MS_SAMPLES = 120;

/** True for the silence a track writes where nothing arrived (never a packet Discord delivered). */
export function isFillFrame(packet: Uint8Array): boolean {
  return packet.length === 3 && (packet[0] === 0xfc || packet[0] === 0xe4) && packet[1] === 0xff && packet[2] === 0xfe;
}
/** The OpusTags vendor string of Parley's tracks: replay knows them by it and sends their packets as they are. */
export const RECORDING_VENDOR = 'Parley';
/** Packets per Ogg page: one second of 20 ms packets. */
export const PACKETS_PER_PAGE = 50;
/**
 * Bytes waiting for the disk past which a track gives up, bytes (4 MiB: about 8 minutes of 64 kbit/s speech), not
 * counting the last silence fill, which queues at once all the pages of a gap (about 1 MB per hour).
 */
export const MAX_UNWRITTEN_BYTES = 4 * 1024 * 1024;
/** Default lateness a packet may have and still count as contiguous, ms (the audio path's default). */
const DEFAULT_JITTER_MS = 60;

/** Options for {@link OpusTrack.open}. */
export interface OpusTrackOptions {
  /** File to create (truncated if it exists). */
  path: string;
  /** Ogg stream serial number; any 32-bit value, distinct per track of a meeting. */
  serial: number;
  /** `KEY=value` comments for the OpusTags header (RFC 7845 §5.2), e.g. `TITLE=Katie`. */
  comments?: readonly string[];
  /** Lateness a packet may have and still count as contiguous, ms. Default 60. */
  jitterMs?: number;
  /** The write stream failed, or fell more than {@link MAX_UNWRITTEN_BYTES} behind: the track has stopped. */
  onFailed?: (error: Error) => void;
}

/** Counters of one track. */
export interface OpusTrackStats {
  /** Packets written as Discord delivered them. */
  packets: number;
  /** Fill frames (20 ms and 2.5 ms) written where nothing arrived. */
  silenceFrames: number;
  /** Packets skipped because their TOC byte cannot be valid (RFC 6716 §3). */
  invalidPackets: number;
  /** Samples at 48 kHz written after the pre-skip: the track's length from the meeting's start. */
  samples: number;
}

/** An Ogg Opus track being written. Not thread-safe; one per speaker. */
export class OpusTrack {
  readonly path: string;
  readonly #out: WriteStream;
  readonly #serial: number;
  readonly #jitterSamples: number;
  readonly #onFailed: ((error: Error) => void) | undefined;
  #sequence = 0;
  #pending: Buffer[] = [];
  #pendingSegments = 0;
  /** Bytes the last silence fill queued for the disk at once: not a sign the disk fell behind. */
  #lastFillBytes = 0;
  /** Granule position after the packets written so far (pending ones included), pre-skip included. */
  #samples = 0;
  #lastArrivalSamples: number | null = null;
  #closed = false;
  #failed: Error | null = null;
  readonly #stats = { packets: 0, silenceFrames: 0, invalidPackets: 0 };

  private constructor(options: OpusTrackOptions, out: WriteStream) {
    this.path = options.path;
    this.#out = out;
    this.#serial = options.serial;
    this.#jitterSamples = ((options.jitterMs ?? DEFAULT_JITTER_MS) * OPUS_GRANULE_RATE) / 1000;
    this.#onFailed = options.onFailed;
    out.on('error', (error) => this.#fail(error));
  }

  /**
   * Creates the file and writes the two header pages (RFC 7845 §3: each header on a page of its own).
   * Discord clients send stereo Opus, so the header says 2 channels.
   */
  static open(options: OpusTrackOptions): OpusTrack {
    const track = new OpusTrack(options, createWriteStream(options.path, { flags: 'w', mode: 0o600 }));
    track.#writePage(PAGE_FLAGS.beginOfStream, 0n, [opusHeadPacket({ channels: 2, preSkip: PRE_SKIP, inputSampleRate: OPUS_GRANULE_RATE })]);
    track.#writePage(0, 0n, [opusTagsPacket(RECORDING_VENDOR, options.comments ?? [])]);
    track.#append(FILL_FRAME_20MS, PRE_SKIP);
    return track;
  }

  /** Counters so far. */
  get stats(): OpusTrackStats {
    return { ...this.#stats, samples: this.#samples - PRE_SKIP };
  }

  /** The error that stopped the track, if one did. */
  get failed(): Error | null {
    return this.#failed;
  }

  /**
   * Appends one packet as delivered. A packet that arrives later than the jitter allowance after the previous
   * one starts a new talk spurt at `arrivalMs` minus its duration, after silence up to there.
   *
   * @param arrivalMs meeting time the packet arrived, ms (the meeting's start is the track's time 0).
   */
  push(packet: Buffer, arrivalMs: number): void {
    if (this.#closed) return;
    if (this.#out.writableLength - this.#lastFillBytes > MAX_UNWRITTEN_BYTES) {
      this.#fail(new Error(`the disk fell more than ${MAX_UNWRITTEN_BYTES} bytes behind`));
      return;
    }
    const samples = opusPacketSamples(packet);
    if (samples === undefined) {
      this.#stats.invalidPackets++;
      return;
    }
    const arrival = PRE_SKIP + Math.round((arrivalMs * OPUS_GRANULE_RATE) / 1000);
    const start = arrival - samples;
    const late = this.#lastArrivalSamples === null || arrival - this.#lastArrivalSamples > samples + this.#jitterSamples;
    if (late && start > this.#samples) {
      const before = this.#out.writableLength;
      this.#silence(start - this.#samples);
      this.#lastFillBytes = Math.max(0, this.#out.writableLength - before);
    }
    this.#lastArrivalSamples = arrival;
    this.#append(packet, samples);
    this.#stats.packets++;
  }

  /**
   * Pads the track with silence to `endMs`, writes the last page (end of stream) and closes the file.
   * Idempotent. Resolves once the file is written; never rejects (a write error is in {@link failed}).
   *
   * @param endMs meeting time the track should last to, ms; a track already longer is not cut.
   */
  async close(endMs?: number): Promise<void> {
    if (!this.#closed) {
      if (endMs !== undefined) {
        const end = PRE_SKIP + Math.round((endMs * OPUS_GRANULE_RATE) / 1000);
        if (end > this.#samples) this.#silence(end - this.#samples);
      }
      this.#closed = true;
      if (this.#failed === null) this.#flush(PAGE_FLAGS.endOfStream, true);
      this.#out.end();
    }
    await finished(this.#out).catch(() => undefined);
  }

  /** Fill frames covering `samples`: 20 ms ones, then 2.5 ms ones (to the nearest 2.5 ms). */
  #silence(samples: number): void {
    const long = Math.floor(samples / FILL_20MS_SAMPLES);
    const short = Math.round((samples - long * FILL_20MS_SAMPLES) / FILL_2_5MS_SAMPLES);
    for (let i = 0; i < long + short && !this.#closed; i++) {
      if (i < long) this.#append(FILL_FRAME_20MS, FILL_20MS_SAMPLES);
      else this.#append(FILL_FRAME_2_5MS, FILL_2_5MS_SAMPLES);
      this.#stats.silenceFrames++;
    }
  }

  #append(packet: Buffer, samples: number): void {
    const segments = lacingOf(packet.length).length;
    if (this.#pending.length >= PACKETS_PER_PAGE || this.#pendingSegments + segments > MAX_PAGE_SEGMENTS) this.#flush(0, false);
    if (this.#closed) return;
    this.#pending.push(packet);
    this.#pendingSegments += segments;
    this.#samples += samples;
  }

  /** Writes the pending packets as a page; with `final`, even an empty one, flagged end of stream. */
  #flush(flags: number, final: boolean): void {
    if (this.#pending.length === 0 && !final) return;
    const packets = this.#pending;
    this.#pending = [];
    this.#pendingSegments = 0;
    this.#writePage(flags, BigInt(this.#samples), packets);
  }

  #writePage(flags: number, granule: bigint, packets: Buffer[]): void {
    if (this.#failed !== null) return;
    this.#out.write(oggPage({ flags, granule, serial: this.#serial, sequence: this.#sequence++ }, packets));
  }

  #fail(error: Error): void {
    if (this.#failed !== null) return;
    this.#failed = error;
    this.#closed = true;
    this.#pending = [];
    this.#out.destroy();
    this.#onFailed?.(error);
  }
}
