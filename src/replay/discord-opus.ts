/**
 * Turns one speaker's track into the Opus packets a Discord client would send for it: 48 kHz
 * stereo, 20 ms per packet, only while the speaker's level is above a voice-activity threshold,
 * and five Opus silence frames before every pause in transmission.
 *
 * Resampling is libsamplerate's (@alexanderolsen/libsamplerate-js), encoding is libopus's
 * (opusscript); this module only mixes channels, measures frame levels and schedules packets.
 */
import { Buffer } from 'node:buffer';
import lsr from '@alexanderolsen/libsamplerate-js';
import OpusScript from 'opusscript';

/** Discord voice sample rate, Hz (Opus always runs at 48 kHz on Discord's voice connection). */
export const DISCORD_SAMPLE_RATE = 48_000;
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
 * Converts a track to Discord's PCM format: 48 kHz, two channels.
 *
 * Channels: mono is duplicated to both; stereo is kept; more than two channels are averaged with
 * equal weight into both (a layout-agnostic downmix: the decoded data carries no channel layout,
 * so standard matrices such as ITU-R BS.775 cannot be applied, and "first two channels" would
 * drop a 5.1 mix's centre, where dialogue lives; averaging costs 10·log10(n) dB of level for a
 * voice present in one channel of n). Resampling: libsamplerate SRC_SINC_MEDIUM_QUALITY, whole
 * track at once, output time-aligned with the input and exactly round(length × 48000 / rate) long.
 *
 * @param audio - sample rate (Hz) and channels
 * @returns `{ sampleRate: 48000, channels: [left, right] }`; for mono-derived output both entries
 *   are the same Float32Array
 * @throws {RangeError} no channels, channels of different lengths, or a sample rate libsamplerate cannot convert
 */
export async function toDiscordPcm(audio: TrackAudio): Promise<{ sampleRate: number; channels: [Float32Array, Float32Array] }> {
  const [first, second] = audio.channels;
  if (!first) throw new RangeError('toDiscordPcm: audio has no channels');
  if (audio.channels.some((channel) => channel.length !== first.length)) {
    throw new RangeError('toDiscordPcm: channels differ in length');
  }
  const ratio = DISCORD_SAMPLE_RATE / audio.sampleRate;
  if (!Number.isFinite(ratio) || ratio > 256 || ratio < 1 / 256) {
    throw new RangeError(`toDiscordPcm: cannot resample from ${audio.sampleRate} Hz to ${DISCORD_SAMPLE_RATE} Hz`);
  }
  const source = audio.channels.length === 2 && second ? [first, second] : [downmix(audio.channels)];
  const resampled = await resample(source, audio.sampleRate);
  const left = resampled[0]!;
  return { sampleRate: DISCORD_SAMPLE_RATE, channels: [left, resampled[1] ?? left] };
}

function downmix(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(channels[0]!.length);
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i]! += channel[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= channels.length;
  return out;
}

/** Resamples 1 or 2 channels to 48 kHz with libsamplerate; returns them unchanged at 48 kHz. */
async function resample(channels: Float32Array[], fromRate: number): Promise<Float32Array[]> {
  if (fromRate === DISCORD_SAMPLE_RATE) return channels;
  const count = channels.length;
  const inFrames = channels[0]!.length;
  const outFrames = Math.round((inFrames * DISCORD_SAMPLE_RATE) / fromRate);
  // Trailing zeros let the sinc filter's tail out: the simple API otherwise returns a few
  // samples short of the full duration. 50 ms of input is well beyond the filter's length.
  const padFrames = Math.ceil(fromRate * 0.05);
  const interleaved = new Float32Array((inFrames + padFrames) * count);
  for (let c = 0; c < count; c++) {
    const channel = channels[c]!;
    for (let i = 0; i < inFrames; i++) interleaved[i * count + c] = channel[i]!;
  }
  const converter = await lsr.create(count, fromRate, DISCORD_SAMPLE_RATE, {
    converterType: lsr.ConverterType.SRC_SINC_MEDIUM_QUALITY,
  });
  let output: Float32Array;
  try {
    output = converter.simple(interleaved);
  } finally {
    converter.destroy();
  }
  const available = Math.min(outFrames, Math.floor(output.length / count));
  return Array.from({ length: count }, (_, c) => {
    const channel = new Float32Array(outFrames);
    for (let i = 0; i < available; i++) channel[i] = output[i * count + c]!;
    return channel;
  });
}

/**
 * Encodes one speaker's track into the Opus packets a Discord client would send, with their send times.
 *
 * Steps: {@link toDiscordPcm}; cut into 20 ms PCM frames of 960 samples per channel (the last one
 * zero-padded); per frame, the RMS level over both channels in dBFS (10·log10 of the mean square,
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
 * transmitting, so a decoder fed these packets in order stays in step with the encoder.
 *
 * Encoder: opusscript (libopus), 48 kHz, stereo, `OPUS_APPLICATION_VOIP`, `OPUS_SET_BITRATE(bitrate)`;
 * float samples become int16 by ×32767 with clamping.
 *
 * @param audio - the speaker's track: sample rate (Hz) and channels (see {@link toDiscordPcm} for channel handling)
 * @param options - bitrate (bits/s), VAD threshold (dBFS), hangover (ms)
 * @returns packets in send order; `atMs` strictly increasing multiples of 20 ms; empty for a silent or empty track
 * @throws {RangeError} invalid options (bitrate outside 500–512,000 or not an integer, non-finite
 *   threshold, negative or non-finite hangover) or invalid audio (see {@link toDiscordPcm})
 * @throws {Error} from opusscript if libopus rejects a frame (not expected for valid input)
 */
export async function encodeDiscordOpus(audio: TrackAudio, options: DiscordOpusOptions = {}): Promise<TimedOpusPacket[]> {
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
  const { channels: [left, right] } = await toDiscordPcm(audio);
  const frameCount = Math.ceil(left.length / DISCORD_FRAME_SAMPLES);

  const encoder = new OpusScript(DISCORD_SAMPLE_RATE, DISCORD_CHANNELS, OpusScript.Application.VOIP);
  try {
    encoder.encoderCTL(OPUS_SET_BITRATE_REQUEST, bitrate);
    const packets: TimedOpusPacket[] = [];
    const pcm = Buffer.alloc(DISCORD_FRAME_SAMPLES * DISCORD_CHANNELS * 2);
    let talking = false; // sending speech or hangover frames
    let lastSpeechEndMs = 0;
    let silenceFramesLeft = 0; // > 0 while the silence frames go out
    for (let frame = 0; frame < frameCount || talking || silenceFramesLeft > 0; frame++) {
      const atMs = (frame + 1) * DISCORD_FRAME_MS;
      const meanSquare = fillFrame(pcm, left, right, frame * DISCORD_FRAME_SAMPLES);
      const levelDbfs = 10 * Math.log10(meanSquare);
      if (levelDbfs >= threshold) {
        talking = true;
        silenceFramesLeft = 0;
        lastSpeechEndMs = atMs;
      } else if (talking && atMs - lastSpeechEndMs > hangoverMs) {
        talking = false;
        silenceFramesLeft = SILENCE_FRAME_COUNT;
      }
      if (talking) {
        packets.push({ atMs, packet: encoder.encode(pcm, DISCORD_FRAME_SAMPLES) });
      } else if (silenceFramesLeft > 0) {
        packets.push({ atMs, packet: Buffer.from(OPUS_SILENCE_FRAME) });
        silenceFramesLeft--;
      }
    }
    return packets;
  } finally {
    encoder.delete();
  }
}

/**
 * Writes one frame as interleaved s16le stereo into `pcm` (zeros past the track's end) and
 * returns the frame's mean square over both channels, in (full scale = 1.0)².
 */
function fillFrame(pcm: Buffer, left: Float32Array, right: Float32Array, start: number): number {
  let sumSquares = 0;
  for (let i = 0; i < DISCORD_FRAME_SAMPLES; i++) {
    const l = left[start + i] ?? 0;
    const r = right[start + i] ?? 0;
    sumSquares += l * l + r * r;
    pcm.writeInt16LE(toInt16(l), i * 4);
    pcm.writeInt16LE(toInt16(r), i * 4 + 2);
  }
  return sumSquares / (DISCORD_FRAME_SAMPLES * DISCORD_CHANNELS);
}

function toInt16(sample: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(sample * 32767)));
}
