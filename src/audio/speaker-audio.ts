/**
 * One speaker's audio path: Opus packets with their arrival times in, 50 ms PCM frames stamped with meeting time
 * out.
 *
 * Discord sends nothing while a speaker is silent (clients send five silence frames, then stop), so the timeline
 * comes from arrival times: a packet that arrives within the jitter allowance of the one before is contiguous with
 * it (each adds exactly its own duration); one that arrives later starts a new talk spurt at its own time, and
 * the gap is silence.
 *
 * After the last packet, silence is filled in at real-time pace for `silenceFillMs`. AssemblyAI's turn detection
 * runs on audio time (AssemblyAI docs, "Turn detection"): without audio after the speaker stops, their turn would stay open
 * until they spoke again. Filling silence lets the model end the turn on its own acoustic and semantic cues
 * (as soon as `min_turn_silence` when it is confident) and keeps session audio time aligned with meeting time.
 * When the fill window ends, `onSpeechEnd` fires so the session can force the end of any turn still open.
 *
 * Latency: the fill timer wakes exactly when the frame in progress can be completed (not on a fixed 50 ms beat),
 * and after a Discord silence frame (0xF8 0xFF 0xFE: clients send five before they stop transmitting) it does not
 * wait out the jitter allowance, since a late packet can then only be another silence frame. So a phrase's last
 * frame goes out ~20 ms after it is complete instead of 80–130 ms (bench/README.md, `added_latency_audio_ms`).
 *
 * Decoding ({@link OpusPacketDecoder}) starts asynchronously: packets that arrive while a decoder starts are held
 * and go through the timeline with their own arrival times once it is ready, and silence is not filled past
 * packets still held. A decoder that fails is replaced; if decoding is given up, `onDecoderFailed` fires and the
 * talk spurt in progress is ended as usual.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { OpusPacketDecoder, type MAX_REPLACEMENTS, type OpusBackendFactory } from './opus-decoder.ts';
import { OPUS_PACKET_MS, PCM_FRAME_BYTES, PCM_FRAME_MS, msToPcmBytes, pcmBytesToMs, type PcmFrame } from './format.ts';

/** Options for {@link SpeakerAudio}. */
export interface SpeakerAudioOptions {
  clock: Clock;
  /** Current meeting time in ms (clock time minus the meeting's start). */
  meetingNow: () => number;
  /** How long silence is filled in after the speaker's last packet, ms. Should exceed `max_turn_silence`. */
  silenceFillMs: number;
  /** Lateness a packet may have and still count as contiguous, ms. Default 60. */
  jitterMs?: number;
  /** Receives every complete frame, in meeting-time order. */
  onFrame: (frame: PcmFrame) => void;
  /** Called when the fill window after the speaker's last packet has ended. */
  onSpeechEnd: () => void;
  /** A decoder failed and a fresh one took over (for logs). */
  onDecoderReplaced?: (error: Error) => void;
  /** Decoding this speaker was given up (see {@link OpusPacketDecoder}: replacements failed or ran out). Called at most once. */
  onDecoderFailed?: (error: Error) => void;
  /** Creates the libopus decoder; default opus-decoder at 16 kHz mono. */
  createDecoder?: OpusBackendFactory;
}

/** Counters for one speaker's audio path. */
export interface SpeakerAudioStats {
  decodedPackets: number;
  corruptPackets: number;
  /** Decoders replaced after a failure. */
  replacedDecoders: number;
  /** Packets lost to decoder failure (none while decoding works). */
  lostPackets: number;
  /** Decoding was given up for this speaker. */
  decoderFailed: boolean;
  frames: number;
}

const ZEROS = Buffer.alloc(PCM_FRAME_BYTES);

/** True for the 3-byte Opus silence frame Discord clients send before they stop transmitting (Discord voice docs). */
function isOpusSilenceFrame(packet: Buffer): boolean {
  return packet.length === 3 && packet[0] === 0xf8 && packet[1] === 0xff && packet[2] === 0xfe;
}

/** Turns one speaker's Opus packets into meeting-time-stamped PCM frames. Not thread-safe; one per speaker. */
export class SpeakerAudio {
  readonly #options: SpeakerAudioOptions;
  readonly #jitterMs: number;
  readonly #decoder: OpusPacketDecoder;
  #frame = Buffer.alloc(PCM_FRAME_BYTES);
  #frameFill = 0;
  #frameStartMs = 0;
  #frameHasSpeech = false;
  /** Meeting time at the end of the audio appended so far; null outside a talk spurt and its fill window. */
  #cursorMs: number | null = null;
  #lastPacketMs = 0;
  /** The last packet was a Discord silence frame: the speaker is stopping, so no jitter wait before filling. */
  #lastWasSilenceFrame = false;
  #timer: TimerHandle | null = null;
  /** Meeting time the timer is due, ms. */
  #timerAt = 0;
  #frames = 0;
  #destroyed = false;

  constructor(options: SpeakerAudioOptions) {
    this.#options = options;
    this.#jitterMs = options.jitterMs ?? 60;
    this.#decoder = new OpusPacketDecoder({
      onPcm: (pcm, packet, arrivalMs) => this.#onPcm(pcm, packet, arrivalMs),
      onReplaced: (error) => options.onDecoderReplaced?.(error),
      onFailed: (error) => {
        // Held packets are gone: end the spurt in progress on the usual fill schedule.
        if (this.#cursorMs !== null && this.#timer === null) this.#schedule();
        options.onDecoderFailed?.(error);
      },
      ...(options.createDecoder === undefined ? {} : { createDecoder: options.createDecoder }),
    });
  }

  /**
   * Takes one Opus packet as it arrives. A corrupt packet is skipped and counted. While the decoder starts, the
   * packet is held (see {@link OpusPacketDecoder}) and framed once it is decoded.
   *
   * @param packet - one Opus packet (Discord: 20 ms, 48 kHz stereo).
   * @param arrivalMs - meeting time the packet arrived, ms; defaults to now.
   */
  pushOpusPacket(packet: Buffer, arrivalMs: number = this.#options.meetingNow()): void {
    if (this.#destroyed) return;
    this.#decoder.push(packet, arrivalMs);
  }

  /**
   * Resolves when no packet is held for decoding: the decoder has started and decoded them, or decoding was given
   * up. Waits through at most {@link MAX_REPLACEMENTS} replacements; never rejects.
   */
  settled(): Promise<void> {
    return this.#decoder.settled();
  }

  #onPcm(pcm: Buffer, packet: Buffer, arrivalMs: number): void {
    if (this.#destroyed) return;
    const durationMs = pcmBytesToMs(pcm.length);
    const startMs = arrivalMs - durationMs;
    if (this.#cursorMs === null) {
      this.#frameStartMs = startMs;
      this.#cursorMs = startMs;
    } else if (arrivalMs - this.#lastPacketMs > durationMs + this.#jitterMs && startMs > this.#cursorMs) {
      // A pause, not a late packet: the new talk spurt starts at its own time; the gap is silence.
      this.#appendSilence(startMs - this.#cursorMs);
    }
    this.#append(pcm, true);
    this.#lastPacketMs = arrivalMs;
    this.#lastWasSilenceFrame = isOpusSilenceFrame(packet);
    this.#schedule();
  }

  /** Ends the current talk spurt now: pads and emits the partial frame. Timers stop. */
  flush(): void {
    this.#stopTimer();
    if (this.#cursorMs === null) return;
    this.#endSpurt();
  }

  /** Stops timers and frees the decoder. Further packets are ignored. */
  destroy(): void {
    this.#stopTimer();
    this.#destroyed = true;
    this.#decoder.destroy();
  }

  /** Packet and frame counters. */
  get stats(): SpeakerAudioStats {
    return {
      decodedPackets: this.#decoder.decodedPackets,
      corruptPackets: this.#decoder.corruptPackets,
      replacedDecoders: this.#decoder.replacements,
      lostPackets: this.#decoder.lostPackets,
      decoderFailed: this.#decoder.status === 'failed',
      frames: this.#frames,
    };
  }

  /** True while packets are arriving or silence is being filled in after them. */
  get active(): boolean {
    return this.#cursorMs !== null;
  }

  #tick(): void {
    this.#timer = null;
    if (this.#cursorMs === null) return;
    if (this.#decoder.pendingPackets > 0) {
      // Held packets cover the time ahead: wait for them rather than fill it with silence.
      void this.#decoder.settled().then(() => {
        if (!this.#destroyed && this.#timer === null && this.#cursorMs !== null) this.#schedule();
      });
      return;
    }
    const now = this.#options.meetingNow();
    const fillEnd = this.#lastPacketMs + this.#options.silenceFillMs;
    if (now >= fillEnd) {
      if (fillEnd > this.#cursorMs) this.#appendSilence(fillEnd - this.#cursorMs);
      this.#endSpurt();
      return;
    }
    // A packet arriving after now would cover audio from (its arrival - 20 ms), and may be late by the jitter
    // allowance: only audio older than that is known to be silence.
    const target = now - OPUS_PACKET_MS - this.#currentJitterMs();
    if (target > this.#cursorMs) this.#appendSilence(target - this.#cursorMs);
    this.#schedule();
  }

  /** After a silence frame only more silence frames can still be late, and shifting silence is harmless. */
  #currentJitterMs(): number {
    return this.#lastWasSilenceFrame ? 0 : this.#jitterMs;
  }

  #endSpurt(): void {
    if (this.#frameFill > 0) this.#append(ZEROS.subarray(0, PCM_FRAME_BYTES - this.#frameFill), false);
    this.#cursorMs = null;
    this.#options.onSpeechEnd();
  }

  /**
   * Arms the timer for the first moment there is work: when silence up to the end of the frame in progress is
   * known (frame end + one packet + the jitter allowance), or when the fill window ends. An armed timer is kept
   * unless this moment is earlier (a silence frame just arrived), so steady speech costs no timer churn.
   */
  #schedule(): void {
    const frameEndMs = this.#frameStartMs + PCM_FRAME_MS;
    const at = Math.min(frameEndMs + OPUS_PACKET_MS + this.#currentJitterMs(), this.#lastPacketMs + this.#options.silenceFillMs);
    if (this.#timer !== null) {
      if (at >= this.#timerAt) return;
      this.#options.clock.clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = this.#options.clock.setTimeout(() => this.#tick(), Math.max(0, at - this.#options.meetingNow()));
  }

  #stopTimer(): void {
    if (this.#timer !== null) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #appendSilence(ms: number): void {
    let bytes = msToPcmBytes(ms);
    while (bytes > 0) {
      const n = Math.min(bytes, PCM_FRAME_BYTES);
      this.#append(ZEROS.subarray(0, n), false);
      bytes -= n;
    }
  }

  #append(pcm: Buffer, speech: boolean): void {
    let offset = 0;
    while (offset < pcm.length) {
      const n = Math.min(pcm.length - offset, PCM_FRAME_BYTES - this.#frameFill);
      pcm.copy(this.#frame, this.#frameFill, offset, offset + n);
      this.#frameFill += n;
      offset += n;
      if (speech) this.#frameHasSpeech = true;
      if (this.#frameFill === PCM_FRAME_BYTES) this.#emitFrame();
    }
    this.#cursorMs = (this.#cursorMs ?? this.#frameStartMs) + pcmBytesToMs(pcm.length);
  }

  #emitFrame(): void {
    const frame: PcmFrame = { pcm: this.#frame, meetingStartMs: this.#frameStartMs, speech: this.#frameHasSpeech };
    this.#frame = Buffer.alloc(PCM_FRAME_BYTES);
    this.#frameFill = 0;
    this.#frameHasSpeech = false;
    this.#frameStartMs += PCM_FRAME_MS;
    this.#frames++;
    this.#options.onFrame(frame);
  }
}
