/**
 * Turns one speaker's track into the Opus packets a Discord client would send for it: 48 kHz
 * stereo, 20 ms per packet, only while the speaker's level is above a voice-activity threshold,
 * and five Opus silence frames before every pause in transmission.
 *
 * It works as the track is decoded: blocks in, packets out, so a recording hours long is never
 * held in memory. Resampling is libsamplerate's (discord-pcm.ts), encoding is libopus's
 * (opusscript); this module only measures frame levels and schedules packets.
 */
import { Buffer } from 'node:buffer';
import OpusScript from 'opusscript';
import { DISCORD_SAMPLE_RATE, DiscordPcmConverter, type StereoBlock } from './discord-pcm.ts';

export { DISCORD_SAMPLE_RATE, toDiscordPcm } from './discord-pcm.ts';
/** Discord voice channel count: clients send stereo Opus. */
export const DISCORD_CHANNELS = 2;
/** Samples per channel in one Discord PCM frame / Opus packet (20 ms at 48 kHz). */
export const DISCORD_FRAME_SAMPLES = 960;
/** Duration of one Discord PCM frame / Opus packet, ms. */
export const DISCORD_FRAME_MS = 20;

/**
 * The 3-byte Opus silence frame (0xF8 0xFF 0xFE) clients send before they stop transmitting.
 * Source: Discord developer docs, Voice Connections, "Voice Data Interpolation"; the same bytes
 * are `SILENCE_FRAME` in @discordjs/voice 0.19.2. Shared constant: do not mutate it; every
 * packet returned by {@link encodeDiscordOpus} is its own copy.
 */
export const OPUS_SILENCE_FRAME: Buffer = Buffer.from([0xf8, 0xff, 0xfe]);
/** How many silence frames a client sends before it stops (docs above; `silencePaddingFrames` = 5 in @discordjs/voice). */
export const SILENCE_FRAME_COUNT = 5;

/** Default Opus bitrate, bits/s: Discord's default voice channel bitrate (64 kbps). */
export const DEFAULT_BITRATE = 64_000;
/** Default voice-activity threshold, dBFS (frame RMS relative to a sample value of 1.0). */
export const DEFAULT_VAD_THRESHOLD_DBFS = -50;
/** Default hangover, ms: how long a client keeps sending after the level drops. */
export const DEFAULT_HANGOVER_MS = 200;

/** libopus `OPUS_SET_BITRATE_REQUEST` (opus_defines.h); valid bitrates 500–512,000 bits/s. */
const OPUS_SET_BITRATE_REQUEST = 4002;
const MIN_BITRATE = 500;
const MAX_BITRATE = 512_000;

/** One Opus packet as a client sends it. */
export interface TimedOpusPacket {
  /** When the packet's 20 ms of audio ENDS, ms from the track's start (when a client would send it); a multiple of 20. */
  atMs: number;
  /** One Opus packet (48 kHz stereo, 20 ms), or a copy of {@link OPUS_SILENCE_FRAME}. */
  packet: Buffer;
}

/** Options for {@link encodeDiscordOpus}. */
export interface DiscordOpusOptions {
  /** Opus bitrate, bits/s, integer in 500–512,000; default {@link DEFAULT_BITRATE}. */
  bitrate?: number;
  /** A frame whose RMS level (dBFS, both channels) is at or above this is speech; default {@link DEFAULT_VAD_THRESHOLD_DBFS}. */
  vadThresholdDbfs?: number;
  /** Keep sending this long after the last speech frame, ms, ≥ 0; default {@link DEFAULT_HANGOVER_MS}. */
  hangoverMs?: number;
}

/** A track to encode; the same shape as `DecodedAudio` from audio-file.ts. */
export interface TrackAudio {
  /** Hz; libsamplerate converts ratios from 1/256 to 256, so 187.5 Hz to 12,288,000 Hz. */
  sampleRate: number;
  /** One array per channel, all the same length, samples nominally in [-1, 1]. */
  channels: Float32Array[];
}

/**
 * Encodes one speaker's track into the Opus packets a Discord client would send, with their send times, as the
 * track's blocks arrive: the packets of a block are yielded before the next block is pulled.
 *
 * Steps: {@link DiscordPcmConverter} (48 kHz stereo); cut into 20 ms PCM frames of 960 samples per channel (the
 * last one zero-padded); per frame, the RMS level over both channels in dBFS (10·log10 of the mean square,
 * full scale = 1.0, so a full-scale sine measures −3 dBFS). Then, without look-ahead, as a client's
 * voice activity does:
 * - a frame at or above `vadThresholdDbfs` is speech: it is Opus-encoded and sent;
 * - frames after the last speech frame are still encoded and sent while their end is at most
 *   `hangoverMs` after that speech frame's end;
 * - then {@link SILENCE_FRAME_COUNT} silence frames ({@link OPUS_SILENCE_FRAME}) go out, one per
 *   20 ms slot, and nothing more until a speech frame (which also cuts the silence frames short,
 *   so every pause in transmission is preceded by exactly five of them);
 * - after the track ends the input counts as digital silence, so a track that ends mid-speech
 *   still gets its hangover and silence frames (their `atMs` lie past the track's end).
 * Only sent frames pass through the encoder, as on a client that stops encoding when it stops
 * transmitting. Each transmission (first speech frame to its five silence frames) is encoded by its own libopus
 * encoder, freed at the pause: a track holds an encoder only while it transmits, because opusscript's instances
 * share one WebAssembly heap that holds about 20 encoders per process (measured with 0.0.8), and a Craig
 * recording can have more tracks than that, all playing at once.
 *
 * Encoder: opusscript (libopus), 48 kHz, stereo, `OPUS_APPLICATION_VOIP`, `OPUS_SET_BITRATE(bitrate)`;
 * float samples become int16 by ×32767 with clamping. Memory: at most one encoder, one resampler, one 20 ms frame
 * and the packets of the block in hand; nothing grows with the track's length. Everything is freed when the
 * iteration ends, however it ends.
 *
 * @param blocks - the track, block by block: one Float32Array per channel (`track.channels` of them), all the same length
 * @param track - sample rate (Hz) and channel count of the blocks
 * @param options - bitrate (bits/s), VAD threshold (dBFS), hangover (ms)
 * @returns packets in send order; `atMs` strictly increasing multiples of 20 ms; none for a silent or empty track
 * @throws {RangeError} (on the first `next()`) invalid options (bitrate outside 500–512,000 or not an integer,
 *   non-finite threshold, negative or non-finite hangover), a sample rate libsamplerate cannot convert, or a block
 *   of the wrong shape
 * @throws whatever `blocks` throws (e.g. `AudioFileError` for a file found corrupt mid-way)
 * @throws {Error} from opusscript if libopus rejects a frame (not expected for valid input)
 */
export async function* discordOpusPackets(
  blocks: AsyncIterable<readonly Float32Array[]> | Iterable<readonly Float32Array[]>,
  track: { sampleRate: number; channels: number },
  options: DiscordOpusOptions = {},
): AsyncGenerator<TimedOpusPacket> {
  for await (const frame of discordOpusFrames(blocks, track, options)) yield { atMs: frame.atMs, packet: frame.encode() };
}

/** A packet whose bytes are made when it is due: see {@link discordOpusFrames}. */
export interface DeferredOpusPacket {
  /** As {@link TimedOpusPacket.atMs}. */
  atMs: number;
  /**
   * The packet's bytes, encoded at the first call (later calls return the same Buffer). Call it for each packet in
   * order, before asking for the next one: libopus encodes a transmission's frames in sequence.
   *
   * @throws {Error} called out of order, or from opusscript if libopus rejects the frame
   */
  encode(): Buffer;
}

/**
 * {@link discordOpusPackets}, with each packet's encoding left until its `encode()` is called. A track whose next
 * packet is known but not yet due (replay reads every track one packet ahead to order them) then holds a 3,840-byte
 * PCM frame, not a libopus encoder: encoders exist only for the transmissions being played at the moment, so any
 * number of tracks can be open at once however few encoders fit in opusscript's shared heap.
 *
 * @throws as {@link discordOpusPackets}
 */
export async function* discordOpusFrames(
  blocks: AsyncIterable<readonly Float32Array[]> | Iterable<readonly Float32Array[]>,
  track: { sampleRate: number; channels: number },
  options: DiscordOpusOptions = {},
): AsyncGenerator<DeferredOpusPacket> {
  const bitrate = options.bitrate ?? DEFAULT_BITRATE;
  const threshold = options.vadThresholdDbfs ?? DEFAULT_VAD_THRESHOLD_DBFS;
  const hangoverMs = options.hangoverMs ?? DEFAULT_HANGOVER_MS;
  if (!Number.isInteger(bitrate) || bitrate < MIN_BITRATE || bitrate > MAX_BITRATE) {
    throw new RangeError(`encodeDiscordOpus: bitrate must be an integer from ${MIN_BITRATE} to ${MAX_BITRATE} bits/s, got ${bitrate}`);
  }
  if (!Number.isFinite(threshold)) throw new RangeError(`encodeDiscordOpus: vadThresholdDbfs must be finite, got ${threshold}`);
  if (!Number.isFinite(hangoverMs) || hangoverMs < 0) {
    throw new RangeError(`encodeDiscordOpus: hangoverMs must be a finite number ≥ 0, got ${hangoverMs}`);
  }
  const converter = await DiscordPcmConverter.create(track.sampleRate, track.channels);
  const scheduler = new PacketScheduler(bitrate, threshold, hangoverMs);
  try {
    for await (const block of blocks) yield* scheduler.push(converter.push(block));
    yield* scheduler.push(converter.end());
    yield* scheduler.finish();
  } finally {
    scheduler.close();
    converter.destroy();
  }
}

/**
 * Encodes a whole track at once: {@link discordOpusPackets} over one block. For short clips; replay streams.
 *
 * @param audio - the speaker's track: sample rate (Hz) and channels (see {@link DiscordPcmConverter} for channel handling)
 * @param options - bitrate (bits/s), VAD threshold (dBFS), hangover (ms)
 * @returns packets in send order; `atMs` strictly increasing multiples of 20 ms; empty for a silent or empty track
 * @throws {RangeError} as {@link discordOpusPackets}, or no channels, or channels of different lengths
 */
export async function encodeDiscordOpus(audio: TrackAudio, options: DiscordOpusOptions = {}): Promise<TimedOpusPacket[]> {
  const packets: TimedOpusPacket[] = [];
  for await (const packet of discordOpusPackets([audio.channels], { sampleRate: audio.sampleRate, channels: audio.channels.length }, options)) packets.push(packet);
  return packets;
}

/** The voice-activity state machine over 20 ms PCM frames (see {@link discordOpusPackets}). */
class PacketScheduler {
  readonly #bitrate: number;
  /** The encoder of the transmission being encoded; undefined between transmissions. */
  #encoder: OpusScript | undefined;
  /** Frame number of the next packet to encode, so `encode()` calls out of order fail loudly. */
  #nextToEncode = 1;
  readonly #threshold: number;
  readonly #hangoverMs: number;
  /** One PCM frame, interleaved s16 stereo; #bytes is the same memory for the encoder. */
  readonly #pcm = new Int16Array(DISCORD_FRAME_SAMPLES * DISCORD_CHANNELS);
  readonly #bytes = Buffer.from(this.#pcm.buffer);
  /** Samples of the current frame written into #pcm so far. */
  #filled = 0;
  #sumSquares = 0;
  #frame = 0;
  #talking = false; // sending speech or hangover frames
  #lastSpeechEndMs = 0;
  #silenceFramesLeft = 0; // > 0 while the silence frames go out

  constructor(bitrate: number, threshold: number, hangoverMs: number) {
    this.#bitrate = bitrate;
    this.#threshold = threshold;
    this.#hangoverMs = hangoverMs;
  }

  /** Adds 48 kHz stereo samples; returns the packets of the frames they complete. */
  push([left, right]: StereoBlock): DeferredOpusPacket[] {
    const packets: DeferredOpusPacket[] = [];
    for (let i = 0; i < left.length; i++) {
      const l = left[i]!;
      const r = right[i]!;
      this.#sumSquares += l * l + r * r;
      this.#pcm[this.#filled * 2] = toInt16(l);
      this.#pcm[this.#filled * 2 + 1] = toInt16(r);
      if (++this.#filled === DISCORD_FRAME_SAMPLES) this.#completeFrame(packets);
    }
    return packets;
  }

  /** The track has ended: pads the last frame with zeros, then lets the hangover and silence frames run out. */
  finish(): DeferredOpusPacket[] {
    const packets: DeferredOpusPacket[] = [];
    if (this.#filled > 0) {
      this.#pcm.fill(0, this.#filled * 2);
      this.#completeFrame(packets);
    }
    while (this.#talking || this.#silenceFramesLeft > 0) {
      this.#pcm.fill(0);
      this.#completeFrame(packets);
    }
    return packets;
  }

  #completeFrame(packets: DeferredOpusPacket[]): void {
    const frame = ++this.#frame;
    const atMs = frame * DISCORD_FRAME_MS;
    const levelDbfs = 10 * Math.log10(this.#sumSquares / (DISCORD_FRAME_SAMPLES * DISCORD_CHANNELS));
    this.#sumSquares = 0;
    this.#filled = 0;
    if (levelDbfs >= this.#threshold) {
      this.#talking = true;
      this.#silenceFramesLeft = 0;
      this.#lastSpeechEndMs = atMs;
    } else if (this.#talking && atMs - this.#lastSpeechEndMs > this.#hangoverMs) {
      this.#talking = false;
      this.#silenceFramesLeft = SILENCE_FRAME_COUNT;
    }
    if (this.#talking) {
      const pcm = Buffer.from(this.#bytes); // a copy: #bytes is refilled with the next frame
      packets.push(this.#deferred(frame, atMs, () => {
        if (this.#encoder === undefined) {
          this.#encoder = new OpusScript(DISCORD_SAMPLE_RATE, DISCORD_CHANNELS, OpusScript.Application.VOIP);
          this.#encoder.encoderCTL(OPUS_SET_BITRATE_REQUEST, this.#bitrate);
        }
        return this.#encoder.encode(pcm, DISCORD_FRAME_SAMPLES);
      }));
    } else if (this.#silenceFramesLeft > 0) {
      const last = --this.#silenceFramesLeft === 0;
      packets.push(this.#deferred(frame, atMs, () => {
        if (last) this.close(); // the pause: this transmission is over
        return Buffer.from(OPUS_SILENCE_FRAME);
      }));
    }
  }

  /** A packet encoded on first call, in frame order. */
  #deferred(frame: number, atMs: number, make: () => Buffer): DeferredOpusPacket {
    let bytes: Buffer | undefined;
    return {
      atMs,
      encode: () => {
        if (bytes !== undefined) return bytes;
        if (frame < this.#nextToEncode) throw new Error(`discordOpusFrames: the packet at ${atMs} ms was skipped`);
        this.#nextToEncode = frame + 1;
        bytes = make();
        return bytes;
      },
    };
  }

  /** Frees the current transmission's encoder, if any. */
  close(): void {
    this.#encoder?.delete();
    this.#encoder = undefined;
  }
}

function toInt16(sample: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(sample * 32767)));
}
