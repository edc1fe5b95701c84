/**
 * Reads a recording (WAV, FLAC or Ogg Opus) into float PCM for `npm run replay`, and refuses
 * truncated or corrupt files instead of silently replaying a shorter recording.
 *
 * Decoding is audio-decode's; this module only reads the container headers (RIFF/WAVE, FLAC
 * STREAMINFO, Ogg pages + OpusHead) to learn how much audio the file promises, then checks the
 * decoded result against that promise.
 */
import { readFile } from 'node:fs/promises';
import decode from 'audio-decode';

/** Decoded audio: one Float32Array per channel, all the same length. */
export interface DecodedAudio {
  /** Sample rate in Hz (Ogg Opus always decodes at 48,000 Hz, RFC 7845 §5.1). */
  sampleRate: number;
  /**
   * One array per channel, in file order; samples nominally in [-1, 1] (float WAV and lossy
   * decoders may slightly exceed it; nothing is clamped here). Each array is owned by the caller.
   */
  channels: Float32Array[];
}

/** Why a file could not be read; `AudioFileError.reason`. */
export type AudioFileErrorReason = 'not-found' | 'unreadable' | 'unsupported' | 'truncated' | 'empty';

/**
 * A recording that cannot be replayed. `message` is one line that names the file, e.g.
 * `cannot read "x.wav": file not found`, `cannot read "x.mp3": unsupported format (expected WAV,
 * FLAC or Ogg Opus)`, `cannot read "x.flac": truncated or corrupt audio (decoded 1000 samples per
 * channel, header promises 485100)`. A library's own error, if any, is kept in `cause`, never in
 * the message.
 */
export class AudioFileError extends Error {
  override name = 'AudioFileError';
  /** The path as given to {@link readAudioFile}. */
  readonly path: string;
  /** Machine-readable category of the failure. */
  readonly reason: AudioFileErrorReason;

  /**
   * @param path - file path as given by the caller
   * @param reason - failure category
   * @param problem - the human-readable part after `cannot read "<path>": `
   * @param options - `cause`: the underlying error, kept for debugging
   */
  constructor(path: string, reason: AudioFileErrorReason, problem: string, options?: ErrorOptions) {
    super(`cannot read "${path}": ${problem}`, options);
    this.path = path;
    this.reason = reason;
  }
}

const CORRUPT = 'truncated or corrupt audio';

/** `unsupported format (expected WAV, FLAC or Ogg Opus)`, with an optional `; <detail>` inside the parentheses. */
function unsupported(detail?: string): string {
  return `unsupported format (expected WAV, FLAC or Ogg Opus${detail ? `; ${detail}` : ''})`;
}
/** What a file's header promises about its decoded audio. */
interface HeaderPromise {
  format: 'WAV' | 'FLAC' | 'Ogg Opus';
  /** Hz. */
  sampleRate: number;
  channels: number;
  /** Samples per channel the decoder must return; undefined when the header does not say. */
  frames: number | undefined;
  /** The bytes to hand to the decoder (for WAV, a canonical fmt + data rewrite of the file). */
  decodable: Uint8Array;
}

/**
 * Reads and decodes a WAV (PCM 8/16/24/32-bit integer or 32/64-bit float, any rate and channel
 * count, WAVE_FORMAT_EXTENSIBLE included), FLAC or Ogg Opus file.
 *
 * Truncation checks, by format:
 * - WAV: the `data` chunk's declared size must fit in the file, and the decoder must return
 *   exactly `size / blockAlign` frames (RIFF/WAVE: Microsoft & IBM, "Multimedia Programming
 *   Interface and Data Specifications 1.0", 1991). A size of 0 or 0xFFFFFFFF is a streaming
 *   placeholder: then the data runs to the end of the file and only "no samples" is detectable.
 *   The decoder gets a canonical copy (fmt + data chunks only), so odd-sized chunks with their pad
 *   byte, which audio-decode's WAV reader mis-steps, do not matter.
 * - FLAC: the decoder must return STREAMINFO's total sample count when it is non-zero (RFC 9639 §8.2).
 * - Ogg Opus: every page must be complete and in sync, the Opus stream must end with an
 *   end-of-stream page, and the decoder must return last granule position − pre-skip samples
 *   (RFC 3533 §6, RFC 7845 §4). Chained (multi-stream) Ogg files are not supported.
 *
 * @param path - file to read
 * @returns sample rate (Hz) and one Float32Array per channel
 * @throws {AudioFileError} reason `not-found` (file not found), `unreadable` (directory,
 *   permission denied, I/O error), `unsupported` (not WAV/FLAC/Ogg Opus, or a WAV encoding other
 *   than PCM/float, or a bit depth not listed above), `truncated` (header incomplete, data shorter than declared, decoder failed or
 *   returned fewer samples than promised), `empty` (a complete file with no audio samples)
 */
export async function readAudioFile(path: string): Promise<DecodedAudio> {
  const bytes = await readBytes(path);
  const promise = inspectHeader(path, bytes);
  let decoded: { channelData: Float32Array[]; sampleRate: number };
  try {
    decoded = await decode(promise.decodable);
  } catch (error) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (the ${promise.format} decoder rejected it)`, { cause: error });
  }
  const channels = decoded.channelData;
  const frames = channels[0]?.length ?? 0;
  if (frames === 0) {
    if (promise.frames === 0) throw new AudioFileError(path, 'empty', 'contains no audio samples');
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (no audio samples decoded)`);
  }
  if (decoded.sampleRate !== promise.sampleRate || channels.length !== promise.channels) {
    throw new AudioFileError(
      path,
      'truncated',
      `${CORRUPT} (decoded ${channels.length} channel(s) at ${decoded.sampleRate} Hz, header promises ${promise.channels} at ${promise.sampleRate} Hz)`,
    );
  }
  if (promise.frames !== undefined && frames !== promise.frames) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (decoded ${frames} samples per channel, header promises ${promise.frames})`);
  }
  return { sampleRate: decoded.sampleRate, channels: channels.map((channel) => channel.slice()) };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AudioFileError(path, 'not-found', 'file not found', { cause: error });
    if (code === 'EISDIR') throw new AudioFileError(path, 'unreadable', 'is a directory, not an audio file', { cause: error });
    if (code === 'EACCES' || code === 'EPERM') throw new AudioFileError(path, 'unreadable', 'permission denied', { cause: error });
    throw new AudioFileError(path, 'unreadable', `cannot open the file (${code ?? 'unknown error'})`, { cause: error });
  }
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function inspectHeader(path: string, bytes: Uint8Array): HeaderPromise {
  if (bytes.length === 0) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the file is empty)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = ascii(bytes, 0, 4);
  if (magic === 'RIFF' && (bytes.length < 12 || ascii(bytes, 8, 4) === 'WAVE')) return inspectWav(path, bytes, view);
  if (magic === 'fLaC') return inspectFlac(path, bytes, view);
  if (magic === 'OggS') return inspectOggOpus(path, bytes, view);
  if (bytes.length < 4 && ['RIFF', 'fLaC', 'OggS'].some((m) => m.startsWith(ascii(bytes, 0, bytes.length)))) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (the header is incomplete)`);
  }
  throw new AudioFileError(path, 'unsupported', unsupported());
}

/** WAVE format tags this module accepts: 1 = PCM, 3 = IEEE float (mmreg.h). 0xFFFE = EXTENSIBLE. */
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function inspectWav(path: string, bytes: Uint8Array, view: DataView): HeaderPromise {
  const incomplete = (what: string) => new AudioFileError(path, 'truncated', `${CORRUPT} (${what})`);
  let fmt: { sampleRate: number; channels: number; blockAlign: number; chunk: Uint8Array } | undefined;
  let offset = 12;
  for (;;) {
    if (offset + 8 > bytes.length) throw incomplete(fmt ? 'the WAV file ends before its data chunk' : 'the WAV header is incomplete');
    const id = ascii(bytes, offset, 4);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw incomplete('the WAV fmt chunk is incomplete');
      let tag = view.getUint16(body, true);
      if (tag === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) throw incomplete('the WAV fmt chunk is incomplete');
        tag = view.getUint16(body + 24, true); // first two bytes of the SubFormat GUID
      }
      if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT) {
        const hex = tag.toString(16).padStart(4, '0');
        throw new AudioFileError(path, 'unsupported', unsupported(`this WAV uses encoding 0x${hex}, not PCM or float`));
      }
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const blockAlign = view.getUint16(body + 12, true);
      const bits = view.getUint16(body + 14, true);
      const depths = tag === WAVE_FORMAT_PCM ? [8, 16, 24, 32] : [32, 64];
      if (!depths.includes(bits)) {
        const kind = tag === WAVE_FORMAT_PCM ? 'PCM' : 'float';
        throw new AudioFileError(path, 'unsupported', unsupported(`this WAV holds ${bits}-bit ${kind}; supported: ${depths.join('/')}-bit`));
      }
      if (channels === 0 || sampleRate === 0 || blockAlign !== (channels * bits) / 8) {
        throw new AudioFileError(path, 'truncated', `${CORRUPT} (inconsistent WAV fmt chunk)`);
      }
      fmt = { sampleRate, channels, blockAlign, chunk: bytes.subarray(offset, body + size) };
    } else if (id === 'data') {
      if (!fmt) throw new AudioFileError(path, 'truncated', `${CORRUPT} (WAV data chunk before fmt chunk)`);
      const available = bytes.length - body;
      const streamed = size === 0 || size === 0xffffffff;
      if (!streamed && size > available) throw incomplete(`the WAV data chunk declares ${size} bytes, the file holds ${available}`);
      const frames = Math.floor((streamed ? available : size) / fmt.blockAlign);
      const data = bytes.subarray(body, body + frames * fmt.blockAlign);
      const { sampleRate, channels } = fmt;
      return { format: 'WAV', sampleRate, channels, frames, decodable: canonicalWav(fmt.chunk, data) };
    }
    offset = body + size + (size & 1); // chunks are padded to an even size
  }
}

/**
 * RIFF "WAVE" + the file's fmt chunk + one data chunk with its true size. audio-decode's WAV
 * reader (@audio/decode-wav 1.5.1) ignores the pad byte after odd-sized chunks and trusts
 * streaming placeholder sizes; the rewrite spares it both.
 */
function canonicalWav(fmtChunk: Uint8Array, data: Uint8Array): Uint8Array {
  const fmtLength = fmtChunk.length + (fmtChunk.length & 1);
  const out = new Uint8Array(12 + fmtLength + 8 + data.length);
  const view = new DataView(out.buffer);
  out.set([0x52, 0x49, 0x46, 0x46], 0); // RIFF
  view.setUint32(4, out.length - 8, true);
  out.set([0x57, 0x41, 0x56, 0x45], 8); // WAVE
  out.set(fmtChunk, 12);
  const dataAt = 12 + fmtLength;
  out.set([0x64, 0x61, 0x74, 0x61], dataAt); // data
  view.setUint32(dataAt + 4, data.length, true);
  out.set(data, dataAt + 8);
  return out;
}

function inspectFlac(path: string, bytes: Uint8Array, view: DataView): HeaderPromise {
  // fLaC, then metadata blocks; STREAMINFO (type 0, 34 bytes) comes first (RFC 9639 §8).
  if (bytes.length < 8 + 34) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the FLAC header is incomplete)`);
  const firstType = bytes[4]! & 0x7f;
  if (firstType !== 0 || view.getUint32(4, false) % 0x1000000 !== 34) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (FLAC STREAMINFO block missing)`);
  }
  const info = 8;
  const b = (i: number) => bytes[info + i]!;
  const sampleRate = (b(10) << 12) | (b(11) << 4) | (b(12) >> 4);
  const channels = ((b(12) >> 1) & 0x7) + 1;
  const totalSamples = (b(13) & 0x0f) * 2 ** 32 + view.getUint32(info + 14, false);
  // Walk the remaining metadata blocks: a file cut inside them has no audio at all.
  let offset = 4;
  for (;;) {
    if (offset + 4 > bytes.length) throw new AudioFileError(path, 'truncated', `${CORRUPT} (FLAC metadata is incomplete)`);
    const last = (bytes[offset]! & 0x80) !== 0;
    offset += 4 + (view.getUint32(offset, false) % 0x1000000);
    if (offset > bytes.length) throw new AudioFileError(path, 'truncated', `${CORRUPT} (FLAC metadata is incomplete)`);
    if (last) break;
  }
  return { format: 'FLAC', sampleRate, channels, frames: totalSamples === 0 ? undefined : totalSamples, decodable: bytes };
}

function inspectOggOpus(path: string, bytes: Uint8Array, view: DataView): HeaderPromise {
  // Ogg page: "OggS", version, header type (0x02 BOS, 0x04 EOS), granule (int64 LE), serial,
  // sequence, CRC, segment count, segment table (RFC 3533 §6).
  let offset = 0;
  let serial: number | undefined;
  let channels = 0;
  let preSkip = 0;
  let lastGranule = -1n;
  let ended = false;
  while (offset < bytes.length) {
    if (offset + 27 > bytes.length) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the last Ogg page is incomplete)`);
    if (ascii(bytes, offset, 4) !== 'OggS') throw new AudioFileError(path, 'truncated', `${CORRUPT} (Ogg page sync lost at byte ${offset})`);
    const headerType = bytes[offset + 5]!;
    const granule = view.getBigInt64(offset + 6, true);
    const pageSerial = view.getUint32(offset + 14, true);
    const segments = bytes[offset + 26]!;
    const body = offset + 27 + segments;
    if (body > bytes.length) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the last Ogg page is incomplete)`);
    let size = 0;
    for (let i = 0; i < segments; i++) size += bytes[offset + 27 + i]!;
    if (body + size > bytes.length) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the last Ogg page is incomplete)`);
    if (serial === undefined) {
      // The first page carries the identification header alone (RFC 7845 §3): "OpusHead", version,
      // channel count, pre-skip (uint16 LE, 48 kHz samples), input rate.
      if (size < 19 || ascii(bytes, body, 8) !== 'OpusHead') {
        throw new AudioFileError(path, 'unsupported', unsupported('this Ogg file holds no Opus stream'));
      }
      serial = pageSerial;
      channels = bytes[body + 9]!;
      preSkip = view.getUint16(body + 10, true);
    } else if (pageSerial === serial) {
      if (granule !== -1n) lastGranule = granule;
      if ((headerType & 0x04) !== 0) ended = true;
    }
    offset = body + size;
  }
  if (!ended) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the Ogg Opus stream has no end-of-stream page)`);
  const frames = lastGranule < 0n ? undefined : Math.max(0, Number(lastGranule) - preSkip);
  return { format: 'Ogg Opus', sampleRate: 48_000, channels, frames, decodable: bytes };
}
