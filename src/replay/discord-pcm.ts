/**
 * Converts a speaker's track to Discord's PCM format (48 kHz, two channels) block by block, so a recording of any
 * length passes through in bounded memory. Resampling is libsamplerate's (@alexanderolsen/libsamplerate-js, its
 * streaming "full" API); this module only mixes channels and keeps count of the output length.
 */
import lsr from '@alexanderolsen/libsamplerate-js';

/** Discord voice sample rate, Hz (Opus always runs at 48 kHz on Discord's voice connection). */
export const DISCORD_SAMPLE_RATE = 48_000;

/** Trailing zeros fed to the resampler at the end so the sinc filter's tail comes out; 50 ms is well beyond its length. */
const TAIL_PAD_S = 0.05;

/** 48 kHz stereo samples: `[left, right]`, the same length; mono-derived output has the same array twice. */
export type StereoBlock = [Float32Array, Float32Array];

/**
 * A streaming converter to 48 kHz stereo.
 *
 * Channels: mono is duplicated to both; stereo is kept; more than two channels are averaged with equal weight into
 * both (a layout-agnostic downmix: the decoded data carries no channel layout, so standard matrices such as ITU-R
 * BS.775 cannot be applied, and "first two channels" would drop a 5.1 mix's centre, where dialogue lives; averaging
 * costs 10·log10(n) dB of level for a voice present in one channel of n). Resampling: libsamplerate
 * SRC_SINC_MEDIUM_QUALITY with state kept across blocks; the whole output is time-aligned with the input and
 * exactly round(input length × 48000 / rate) long once {@link end} has been called.
 *
 * Memory: one resampler (a few KB of filter state) and the block in hand; nothing grows with the track's length.
 */
export class DiscordPcmConverter {
  readonly #sampleRate: number;
  readonly #channelCount: number;
  readonly #resampler: Awaited<ReturnType<typeof lsr.create>> | undefined;
  #inFrames = 0;
  #outFrames = 0;

  private constructor(sampleRate: number, channelCount: number, resampler: Awaited<ReturnType<typeof lsr.create>> | undefined) {
    this.#sampleRate = sampleRate;
    this.#channelCount = channelCount;
    this.#resampler = resampler;
  }

  /**
   * @param sampleRate - the track's rate, Hz; libsamplerate converts ratios from 1/256 to 256, so 187.5 Hz to 12,288,000 Hz
   * @param channelCount - the track's channel count, ≥ 1
   * @throws {RangeError} no channels, or a sample rate libsamplerate cannot convert
   */
  static async create(sampleRate: number, channelCount: number): Promise<DiscordPcmConverter> {
    if (!(channelCount >= 1)) throw new RangeError('toDiscordPcm: audio has no channels');
    const ratio = DISCORD_SAMPLE_RATE / sampleRate;
    if (!Number.isFinite(ratio) || ratio > 256 || ratio < 1 / 256) {
      throw new RangeError(`toDiscordPcm: cannot resample from ${sampleRate} Hz to ${DISCORD_SAMPLE_RATE} Hz`);
    }
    const resampler =
      sampleRate === DISCORD_SAMPLE_RATE
        ? undefined
        : await lsr.create(Math.min(channelCount, 2), sampleRate, DISCORD_SAMPLE_RATE, { converterType: lsr.ConverterType.SRC_SINC_MEDIUM_QUALITY });
    return new DiscordPcmConverter(sampleRate, channelCount, resampler);
  }

  /**
   * Converts the next block of the track.
   *
   * @param channels - one array per channel (the count given to {@link create}), all the same length
   * @returns the 48 kHz stereo samples available so far (the resampler holds back a few ms until later blocks or {@link end})
   * @throws {RangeError} a block with the wrong channel count or channels of different lengths
   */
  push(channels: readonly Float32Array[]): StereoBlock {
    const first = channels[0];
    if (channels.length !== this.#channelCount || !first) throw new RangeError(`toDiscordPcm: expected ${this.#channelCount} channel(s), got ${channels.length}`);
    if (channels.some((channel) => channel.length !== first.length)) throw new RangeError('toDiscordPcm: channels differ in length');
    this.#inFrames += first.length;
    const source = channels.length === 2 ? [first, channels[1]!] : [downmix(channels)];
    return this.#resample(source, Math.round((this.#inFrames * DISCORD_SAMPLE_RATE) / this.#sampleRate));
  }

  /** Flushes the resampler: the rest of the output, up to exactly round(input length × 48000 / rate) samples in all. */
  end(): StereoBlock {
    const target = Math.round((this.#inFrames * DISCORD_SAMPLE_RATE) / this.#sampleRate);
    if (this.#resampler === undefined) return this.#resample([new Float32Array(0)], target);
    const zeros = new Float32Array(Math.ceil(this.#sampleRate * TAIL_PAD_S));
    const tail = this.#resample(this.#channelCount === 2 ? [zeros, zeros] : [zeros], target);
    const short = target - this.#outFrames;
    if (short <= 0) return tail;
    // Not expected (the padding flushes the filter); keeps the promised length whatever the resampler does.
    const pad = (channel: Float32Array) => {
      const out = new Float32Array(channel.length + short);
      out.set(channel);
      return out;
    };
    this.#outFrames = target;
    const left = pad(tail[0]);
    return [left, tail[1] === tail[0] ? left : pad(tail[1])];
  }

  /** Frees the resampler; safe to call more than once. */
  destroy(): void {
    if (this.#resampler !== undefined && !this.#resampler.isDestroyed) this.#resampler.destroy();
  }

  /** Resamples 1 or 2 channels, never emitting beyond `limit` output frames in all. */
  #resample(channels: Float32Array[], limit: number): StereoBlock {
    const count = channels.length;
    let out: Float32Array[];
    if (this.#resampler === undefined) {
      out = channels;
    } else {
      const frames = channels[0]!.length;
      const interleaved = new Float32Array(frames * count);
      for (let c = 0; c < count; c++) {
        const channel = channels[c]!;
        for (let i = 0; i < frames; i++) interleaved[i * count + c] = channel[i]!;
      }
      const output = this.#resampler.full(interleaved);
      const available = Math.floor(output.length / count);
      out = Array.from({ length: count }, (_, c) => {
        const channel = new Float32Array(available);
        for (let i = 0; i < available; i++) channel[i] = output[i * count + c]!;
        return channel;
      });
    }
    const keep = Math.max(0, Math.min(out[0]!.length, limit - this.#outFrames));
    this.#outFrames += keep;
    const left = keep === out[0]!.length ? out[0]! : out[0]!.subarray(0, keep);
    const right = out[1] === undefined ? left : keep === out[1].length ? out[1] : out[1].subarray(0, keep);
    return [left, right];
  }
}

function downmix(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(channels[0]!.length);
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i]! += channel[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= channels.length;
  return out;
}

/**
 * Converts a whole track to Discord's PCM format: 48 kHz, two channels (see {@link DiscordPcmConverter} for the
 * channel handling and resampling). For short clips; replay converts block by block.
 *
 * @param audio - sample rate (Hz) and channels
 * @returns `{ sampleRate: 48000, channels: [left, right] }`; for mono-derived output both entries are the same
 *   Float32Array; 48 kHz mono or stereo input is returned as it is
 * @throws {RangeError} no channels, channels of different lengths, or a sample rate libsamplerate cannot convert
 */
export async function toDiscordPcm(audio: { sampleRate: number; channels: Float32Array[] }): Promise<{ sampleRate: number; channels: StereoBlock }> {
  const converter = await DiscordPcmConverter.create(audio.sampleRate, audio.channels.length);
  try {
    const head = converter.push(audio.channels);
    const tail = converter.end();
    if (tail[0].length === 0) return { sampleRate: DISCORD_SAMPLE_RATE, channels: head };
    const join = (a: Float32Array, b: Float32Array) => {
      const out = new Float32Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    };
    const left = join(head[0], tail[0]);
    return { sampleRate: DISCORD_SAMPLE_RATE, channels: [left, head[1] === head[0] ? left : join(head[1], tail[1])] };
  } finally {
    converter.destroy();
  }
}
