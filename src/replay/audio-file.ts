/**
 * Opens a recording (WAV, FLAC or Ogg Opus) for `npm run replay` as a stream of float PCM blocks, and refuses
 * truncated or corrupt files with one clear line instead of silently replaying a shorter recording.
 *
 * Container metadata (format, sample rate, channels, promised length; Ogg page structure) is music-metadata's;
 * decoding is done block by block by @audio/decode-wav, @wasm-audio-decoders/flac and opus-decoder
 * (audio-decoders.ts). Nothing holds the whole file: memory stays flat however long the recording is.
 */
import { open, stat } from 'node:fs/promises';
import { parseFile, type IAudioMetadata } from 'music-metadata';
import { decodeBlocks, locateWavData, type WavLayout } from './audio-decoders.ts';
import { AudioFileError, CORRUPT, ioError } from './audio-file-error.ts';

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

export { AudioFileError, CORRUPT, type AudioFileErrorReason } from './audio-file-error.ts';

/** `unsupported format (expected WAV, FLAC or Ogg Opus)`, with an optional `; <detail>` inside the parentheses. */
function unsupported(detail?: string): string {
  return `unsupported format (expected WAV, FLAC or Ogg Opus${detail ? `; ${detail}` : ''})`;
}

/** What a file's header promises about its decoded audio. */
export interface AudioFileInfo {
  path: string;
  format: 'WAV' | 'FLAC' | 'Ogg Opus';
  /** Hz. */
  sampleRate: number;
  /** Channel count. */
  channels: number;
  /** Samples per channel the decoder must return; undefined when the header does not say. */
  frames: number | undefined;
  /** WAV only: where the fmt and data chunks are. */
  wav?: WavLayout;
  /** Told, in one line, of a problem replay works around (an Ogg Opus file cut short). */
  onWarning?: ((message: string) => void) | undefined;
}

/** Options for {@link openAudioFile}. */
export interface OpenAudioFileOptions {
  /** Told, in one line, of a problem replay works around: an Ogg Opus file cut short (once, when decoding reaches its end). */
  onWarning?: (message: string) => void;
}

/** An opened recording: what it promises, and its audio as blocks, decoded as they are read. */
export interface AudioFileStream extends AudioFileInfo {
  /**
   * Decodes the file from its start, one block at a time (a block is one array per channel, all the same length,
   * at most 64 KiB of the file's bytes). Each call reads the file anew, so several consumers (one per channel, with
   * `--split-channels`) never make one wait on another's buffer.
   *
   * @throws {AudioFileError} while iterating: reason `truncated` when the data ends early, a decoder rejects a
   *   frame, an Ogg page is missing, or the decoded length differs from the header's promise (checked at the end);
   *   `unreadable` on an I/O error
   */
  blocks(): AsyncGenerator<Float32Array[]>;
}

/**
 * Opens a WAV (PCM 8/16/24/32-bit integer or 32/64-bit float, any rate and channel count,
 * WAVE_FORMAT_EXTENSIBLE included), FLAC or Ogg Opus file, reading only its headers (and, for Ogg, scanning its
 * page structure with music-metadata, which streams the file without keeping it).
 *
 * Truncation checks, by format:
 * - WAV: the `data` chunk's declared size must fit in the file, and the decoder must return exactly
 *   `size / blockAlign` frames (RIFF/WAVE: Microsoft & IBM, "Multimedia Programming Interface and Data
 *   Specifications 1.0", 1991). A size of 0 or 0xFFFFFFFF is a streaming placeholder: then the data runs to the
 *   end of the file and only "no samples" is detectable.
 * - FLAC: the decoder must return STREAMINFO's total sample count when it is non-zero (RFC 9639 §8.2).
 * - Ogg Opus: pages must be in sync and in sequence, and when the stream ends with its end-of-stream page the
 *   decoder must return last granule position − pre-skip samples (RFC 3533 §6, RFC 7845 §4). A stream cut short
 *   (no end-of-stream page: its recorder was killed, as Parley's or Craig's tracks can be) is decoded up to its
 *   last whole page, a torn last page is dropped, and `onWarning` says so. Chained (multi-stream) Ogg files are
 *   not supported.
 * Problems found in the headers throw here, before any audio is played; problems found in the audio throw from
 * {@link AudioFileStream.blocks} when the decoder reaches them.
 *
 * @param path - file to read
 * @param options - `onWarning`: told of an Ogg Opus file cut short
 * @returns the header's promise and a block source
 * @throws {AudioFileError} reason `not-found` (file not found), `unreadable` (directory, permission denied, I/O
 *   error), `unsupported` (not WAV/FLAC/Ogg Opus, or a WAV encoding other than PCM/float, or a bit depth not
 *   listed above), `truncated` (header incomplete, data shorter than declared), `empty` (a complete file with no
 *   audio samples)
 */
export async function openAudioFile(path: string, options: OpenAudioFileOptions = {}): Promise<AudioFileStream> {
  const { size, magic } = await sniff(path);
  if (size === 0) throw new AudioFileError(path, 'truncated', `${CORRUPT} (the file is empty)`);
  const kind = magic.startsWith('RIFF') && (size < 12 || magic.slice(8, 12) === 'WAVE') ? 'WAV' : magic.startsWith('fLaC') ? 'FLAC' : magic.startsWith('OggS') ? 'Ogg' : undefined;
  if (kind === undefined) {
    if (size < 4 && ['RIFF', 'fLaC', 'OggS'].some((m) => m.startsWith(magic))) {
      throw new AudioFileError(path, 'truncated', `${CORRUPT} (the header is incomplete)`);
    }
    throw new AudioFileError(path, 'unsupported', unsupported());
  }
  let metadata: IAudioMetadata;
  try {
    metadata = await parseFile(path, { duration: false, skipCovers: true });
  } catch (error) {
    if (kind === 'Ogg' && !magic.includes('OpusHead')) throw new AudioFileError(path, 'unsupported', unsupported('this Ogg file holds no Opus stream'), { cause: error });
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (the ${kind} header is incomplete)`, { cause: error });
  }
  const info = kind === 'WAV' ? await wavInfo(path, size, metadata) : kind === 'FLAC' ? flacInfo(path, metadata) : oggOpusInfo(path, metadata, magic.includes('OpusHead'));
  if (info.frames === 0) throw new AudioFileError(path, 'empty', 'contains no audio samples');
  const opened = { ...info, onWarning: options.onWarning };
  return { ...opened, blocks: () => checkedBlocks(opened) };
}

/**
 * Reads and decodes a whole recording into memory: {@link openAudioFile} + every block. For short clips (tests,
 * fixtures); replay streams instead.
 *
 * @param path - file to read
 * @returns sample rate (Hz) and one Float32Array per channel
 * @throws {AudioFileError} as {@link openAudioFile} and {@link AudioFileStream.blocks}
 */
export async function readAudioFile(path: string): Promise<DecodedAudio> {
  const stream = await openAudioFile(path);
  const parts: Float32Array[][] = Array.from({ length: stream.channels }, () => []);
  for await (const block of stream.blocks()) block.forEach((channel, c) => parts[c]!.push(channel));
  const channels = parts.map((list) => {
    const out = new Float32Array(list.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of list) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  });
  return { sampleRate: stream.sampleRate, channels };
}

/** Bytes read to tell the format: the RIFF/WAVE header, or an Ogg first page (27 + 1 bytes) and its OpusHead magic. */
const SNIFF_BYTES = 64;

/** Size and first {@link SNIFF_BYTES} bytes (latin1) of the file, with open errors turned into {@link AudioFileError}. */
async function sniff(path: string): Promise<{ size: number; magic: string }> {
  try {
    const handle = await open(path, 'r');
    try {
      const info = await stat(path);
      if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      const head = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
      return { size: info.size, magic: head.subarray(0, bytesRead).toString('latin1') };
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw ioError(path, error);
  }
}

async function wavInfo(path: string, size: number, metadata: IAudioMetadata): Promise<AudioFileInfo> {
  const wav = await locateWavData(path, size, metadata);
  const frames = Math.floor(wav.dataBytes / wav.blockAlign);
  return { path, format: 'WAV', sampleRate: wav.sampleRate, channels: wav.channels, frames, wav };
}

function flacInfo(path: string, metadata: IAudioMetadata): AudioFileInfo {
  const { sampleRate, numberOfChannels, duration, container } = metadata.format;
  if (container !== 'FLAC' || sampleRate === undefined || numberOfChannels === undefined) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (the FLAC header is incomplete)`);
  }
  // music-metadata gives STREAMINFO's total samples as duration = total / rate; 0 means "unknown" (RFC 9639 §8.2).
  const frames = duration === undefined || duration === 0 ? undefined : Math.round(duration * sampleRate);
  return { path, format: 'FLAC', sampleRate, channels: numberOfChannels, frames };
}

function oggOpusInfo(path: string, metadata: IAudioMetadata, opusHead: boolean): AudioFileInfo {
  const { codec, numberOfChannels, numberOfSamples } = metadata.format;
  const warnings = metadata.quality.warnings.map((w) => w.message);
  const lostSync = warnings.map((w) => /^Corrupt Ogg content at (\d+)/.exec(w)).find((m) => m !== null);
  if (lostSync) throw new AudioFileError(path, 'truncated', `${CORRUPT} (Ogg page sync lost at byte ${lostSync[1]})`);
  if (opusHead && codec === undefined && warnings.some((w) => w.startsWith('End-of-stream'))) {
    throw new AudioFileError(path, 'truncated', `${CORRUPT} (the Ogg stream ends inside its headers)`);
  }
  if (codec !== 'Opus' || numberOfChannels === undefined) {
    throw new AudioFileError(path, 'unsupported', unsupported('this Ogg file holds no Opus stream'));
  }
  // Cut short (no end-of-stream page): the last granule position read may be a torn page's, and no page trims
  // the end (RFC 7845 §4.5), so the length is whatever the whole pages decode to.
  const cutShort = warnings.some((w) => w.startsWith('End-of-stream'));
  const frames = cutShort || numberOfSamples === undefined ? undefined : Math.max(0, numberOfSamples);
  return { path, format: 'Ogg Opus', sampleRate: 48_000, channels: numberOfChannels, frames };
}

/** The decoder's blocks, checked against the header's promise as they come and at the end. */
async function* checkedBlocks(info: AudioFileInfo): AsyncGenerator<Float32Array[]> {
  const corrupt = (detail: string) => new AudioFileError(info.path, 'truncated', `${CORRUPT} (${detail})`);
  let frames = 0;
  for await (const block of decodeBlocks(info)) {
    if (block.length !== info.channels) throw corrupt(`decoded ${block.length} channel(s), header promises ${info.channels}`);
    let length = block[0]?.length ?? 0;
    // Ogg Opus: the last page's granule position cuts the final packet's padding off (RFC 7845 §4.5).
    if (info.frames !== undefined && frames + length > info.frames) {
      if (info.format !== 'Ogg Opus') throw corrupt(`decoded more samples than the header promises (${info.frames})`);
      length = info.frames - frames;
      block.forEach((channel, c) => (block[c] = channel.subarray(0, length)));
    }
    if (length === 0) continue;
    frames += length;
    yield block;
  }
  if (frames === 0) throw corrupt('no audio samples decoded');
  if (info.frames !== undefined && frames !== info.frames) throw corrupt(`decoded ${frames} samples per channel, header promises ${info.frames}`);
}
