/**
 * Streaming decoders for replay's recordings: each reads its file in blocks of at most {@link READ_BYTES} and
 * yields float PCM as it goes, so memory does not depend on the recording's length.
 *
 * - WAV: @audio/decode-wav's streaming decoder, fed a canonical header and then the `data` chunk's bytes.
 * - FLAC: @wasm-audio-decoders/flac (libFLAC), which frames the stream itself.
 * - Ogg Opus: codec-parser splits the Ogg pages into Opus packets (ogg-pages.ts); opus-decoder (libopus) decodes them.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { decoder as wavDecoder } from '@audio/decode-wav';
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import type { IAudioMetadata } from 'music-metadata';
import { OpusDecoder } from 'opus-decoder';
import { AudioFileError, CORRUPT, ioError } from './audio-file-error.ts';
import type { AudioFileInfo } from './audio-file.ts';
import { cutShortWarning, oggPages } from './ogg-pages.ts';

/** Bytes read from the file at a time (the read stream's high-water mark). */
export const READ_BYTES = 64 * 1024;

/** Where a WAV file's audio lies, and its sample layout. */
export interface WavLayout {
  /** The `fmt ` chunk, header included (8 + its size bytes). */
  fmtChunk: Buffer;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Bytes of samples (the declared size, or up to the end of the file for a streamed WAV). */
  dataBytes: number;
  /** Hz. */
  sampleRate: number;
  channels: number;
  /** Bytes per frame (all channels of one sample instant). */
  blockAlign: number;
}

/** WAVE format tags accepted: 1 = PCM, 3 = IEEE float (mmreg.h); 0xFFFE = EXTENSIBLE, resolved to its SubFormat. */
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Longest fmt chunk read; WAVE_FORMAT_EXTENSIBLE's is 40 bytes. */
const MAX_FMT_BYTES = 1024;

/**
 * Finds the `fmt ` and `data` chunks of a RIFF/WAVE file, reading only chunk headers and the fmt chunk.
 * music-metadata 12 reads the same headers but gives neither the data chunk's offset nor the SubFormat of
 * WAVE_FORMAT_EXTENSIBLE; @audio/decode-wav's own scan misses the pad byte after odd-sized chunks. Chunks are
 * padded to an even size (RIFF 1.0).
 *
 * @param path - the file
 * @param size - its size in bytes
 * @param metadata - music-metadata's reading of the headers (its sample rate and channel count are used)
 * @throws {AudioFileError} `truncated` (header incomplete, data chunk larger than the file, inconsistent fmt),
 *   `unsupported` (an encoding other than PCM or float, or an unsupported bit depth)
 */
export async function locateWavData(path: string, size: number, metadata: IAudioMetadata): Promise<WavLayout> {
  const incomplete = (what: string) => new AudioFileError(path, 'truncated', `${CORRUPT} (${what})`);
  const unsupported = (detail: string) => new AudioFileError(path, 'unsupported', `unsupported format (expected WAV, FLAC or Ogg Opus; ${detail})`);
  const handle = await open(path, 'r').catch((error: unknown) => Promise.reject(ioError(path, error)));
  try {
    const read = async (offset: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    };
    let fmt: Omit<WavLayout, 'dataOffset' | 'dataBytes'> | undefined;
    for (let offset = 12; ; ) {
      const header = await read(offset, 8);
      if (header.length < 8) throw incomplete(fmt ? 'the WAV file ends before its data chunk' : 'the WAV header is incomplete');
      const id = header.toString('latin1', 0, 4);
      const chunkSize = header.readUInt32LE(4);
      const body = offset + 8;
      if (id === 'fmt ') {
        const chunk = await read(offset, 8 + Math.min(chunkSize, MAX_FMT_BYTES));
        if (chunkSize < 16 || chunk.length < 8 + chunkSize) throw incomplete('the WAV fmt chunk is incomplete');
        let tag = chunk.readUInt16LE(8);
        if (tag === WAVE_FORMAT_EXTENSIBLE) {
          if (chunkSize < 40) throw incomplete('the WAV fmt chunk is incomplete');
          tag = chunk.readUInt16LE(8 + 24); // first two bytes of the SubFormat GUID
        }
        if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT) throw unsupported(`this WAV uses encoding 0x${tag.toString(16).padStart(4, '0')}, not PCM or float`);
        const { sampleRate, numberOfChannels: channels, bitsPerSample: bits } = metadata.format;
        const blockAlign = chunk.readUInt16LE(8 + 12);
        const depths = tag === WAVE_FORMAT_PCM ? [8, 16, 24, 32] : [32, 64];
        if (bits === undefined || !depths.includes(bits)) {
          throw unsupported(`this WAV holds ${bits}-bit ${tag === WAVE_FORMAT_PCM ? 'PCM' : 'float'}; supported: ${depths.join('/')}-bit`);
        }
        if (!channels || !sampleRate || blockAlign !== (channels * bits) / 8) throw incomplete('inconsistent WAV fmt chunk');
        fmt = { fmtChunk: chunk, sampleRate, channels, blockAlign };
      } else if (id === 'data') {
        if (!fmt) throw incomplete('WAV data chunk before fmt chunk');
        const available = size - body;
        const streamed = chunkSize === 0 || chunkSize === 0xffffffff;
        if (!streamed && chunkSize > available) throw incomplete(`the WAV data chunk declares ${chunkSize} bytes, the file holds ${available}`);
        const dataBytes = Math.floor((streamed ? available : chunkSize) / fmt.blockAlign) * fmt.blockAlign;
        return { ...fmt, dataOffset: body, dataBytes };
      }
      offset = body + chunkSize + (chunkSize & 1);
    }
  } finally {
    await handle.close();
  }
}

/** The file's bytes from `start` to `end` (inclusive), in blocks of at most {@link READ_BYTES}. */
async function* fileBytes(path: string, start = 0, end?: number): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { start, ...(end === undefined ? {} : { end }), highWaterMark: READ_BYTES });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (error) {
    throw ioError(path, error);
  } finally {
    stream.destroy();
  }
}

/**
 * Decodes the file described by `info` block by block (one Float32Array per channel per block).
 *
 * @throws {AudioFileError} `truncated` when a decoder rejects a frame or an Ogg page is missing; `unreadable` on I/O errors
 */
export function decodeBlocks(info: AudioFileInfo): AsyncGenerator<Float32Array[]> {
  if (info.format === 'WAV') return decodeWav(info);
  if (info.format === 'FLAC') return decodeFlac(info);
  return decodeOggOpus(info);
}

async function* decodeWav(info: AudioFileInfo): AsyncGenerator<Float32Array[]> {
  const wav = info.wav!;
  const decoder = wavDecoder();
  try {
    // A canonical header (RIFF, WAVE, the file's fmt chunk, a data chunk header with the true size) spares the
    // decoder the chunks it does not understand.
    const fmtLength = wav.fmtChunk.length + (wav.fmtChunk.length & 1);
    const header = Buffer.alloc(12 + fmtLength + 8);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(header.length - 8 + wav.dataBytes, 4);
    header.write('WAVE', 8, 'latin1');
    wav.fmtChunk.copy(header, 12);
    header.write('data', 12 + fmtLength, 'latin1');
    header.writeUInt32LE(wav.dataBytes, 12 + fmtLength + 4);
    decoder.decode(header);
    if (wav.dataBytes === 0) return;
    for await (const bytes of fileBytes(info.path, wav.dataOffset, wav.dataOffset + wav.dataBytes - 1)) {
      const { channelData } = decoder.decode(bytes);
      if (channelData.length > 0) yield channelData;
    }
  } finally {
    decoder.free();
  }
}

async function* decodeFlac(info: AudioFileInfo): AsyncGenerator<Float32Array[]> {
  const decoder = new FLACDecoder();
  await decoder.ready;
  let decoded = 0;
  const check = (result: { channelData: Float32Array[]; samplesDecoded: number; errors: Array<{ message: string }> }) => {
    const error = result.errors[0];
    if (error !== undefined) {
      throw new AudioFileError(info.path, 'truncated', `${CORRUPT} (the FLAC decoder rejected a frame after ${decoded} samples per channel)`, { cause: error });
    }
    decoded += result.samplesDecoded;
    return result.samplesDecoded > 0 ? result.channelData : undefined;
  };
  try {
    for await (const bytes of fileBytes(info.path)) {
      const block = check(await quietly(() => decoder.decode(bytes)));
      if (block) yield block;
    }
    const last = check(await quietly(() => decoder.flush()));
    if (last) yield last;
  } finally {
    decoder.free();
  }
}

/**
 * Runs a decoder call with `console.error` silenced. The wasm decoders print every frame error to the console
 * besides returning it in `errors`; here it is reported once, as an {@link AudioFileError}, and replay's stderr
 * stays one line. Their decoding runs synchronously inside the call (the promise they return is already
 * settled), so nothing else runs while the console is silenced.
 */
function quietly<T>(call: () => T): T {
  const original = console.error;
  console.error = () => {};
  try {
    return call();
  } finally {
    console.error = original;
  }
}

/** The OpusHead fields opus-decoder needs (RFC 7845 §5.1). */
interface OpusHead {
  channels: number;
  preSkip: number;
  streamCount: number;
  coupledStreamCount: number;
  channelMappingTable: number[];
}

async function* decodeOggOpus(info: AudioFileInfo): AsyncGenerator<Float32Array[]> {
  const corrupt = (detail: string, cause?: unknown) => new AudioFileError(info.path, 'truncated', `${CORRUPT} (${detail})`, { cause });
  let decoder: OpusDecoder | undefined;
  let serial: number | undefined;
  let sequence: number | undefined;
  let ended = false;
  let dropped = 0;
  try {
    for await (const page of oggPages<OpusHead>(fileBytes(info.path), (bytes) => (dropped = bytes))) {
      serial ??= page.streamSerialNumber;
      if (page.streamSerialNumber !== serial) throw corrupt('a second Ogg stream; chained Ogg files are not supported');
      if (sequence !== undefined && page.pageSequenceNumber !== sequence + 1) throw corrupt(`Ogg page ${sequence + 1} is missing`);
      sequence = page.pageSequenceNumber;
      if (page.isLastPage) ended = true;
      for (const frame of page.codecFrames) {
        if (decoder === undefined) {
          const { channels, preSkip, streamCount, coupledStreamCount, channelMappingTable } = frame.header;
          decoder = new OpusDecoder({ channels, preSkip, streamCount, coupledStreamCount, channelMappingTable });
          await decoder.ready;
        }
        const result = quietly(() => decoder!.decodeFrame(frame.data));
        if (result.errors.length > 0) throw corrupt('the Opus decoder rejected a packet', result.errors[0]);
        if (result.samplesDecoded > 0) yield result.channelData;
      }
    }
    // A recording cut short (its recorder was killed) is replayed up to its last whole page, with a warning.
    if (!ended) info.onWarning?.(cutShortWarning(info.path, dropped));
  } finally {
    decoder?.free();
  }
}
