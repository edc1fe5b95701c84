/**
 * Replaying Parley's own recordings as they were delivered: a track Parley recorded (src/recording/opus-track.ts)
 * holds the Opus packets Discord delivered, as they were, with Opus silence frames filling the time nobody
 * spoke. Replay sends those packets themselves at their track times, instead of decoding the track and encoding
 * it again (which would change the audio a little and could move a word boundary). The fill written where
 * nothing arrived is not sent, as Discord sent nothing then; every delivered packet is, the silence frames
 * clients send before they stop included, as they were live.
 *
 * Streams the file in blocks of at most `READ_BYTES` (codec-parser splits the pages into packets).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import CodecParser from 'codec-parser';
import { OPUS_GRANULE_RATE, opusPacketSamples } from '../recording/ogg-opus.ts';
import { RECORDING_VENDOR, isFillFrame } from '../recording/opus-track.ts';
import { AudioFileError, CORRUPT, ioError } from './audio-file-error.ts';
import { READ_BYTES } from './audio-decoders.ts';
import type { TimedOpusPacket } from './discord-opus.ts';

/** Bytes read to find the OpusTags vendor string: the two header pages of a Parley track are far smaller. */
const HEADER_BYTES = 4_096;

/**
 * Whether an Ogg Opus file is a track Parley recorded: its OpusTags vendor string (RFC 7845 §5.2) is
 * {@link RECORDING_VENDOR}.
 *
 * @throws {AudioFileError} `unreadable` when the file cannot be read.
 */
export async function isParleyRecording(path: string): Promise<boolean> {
  let bytes: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(HEADER_BYTES), 0, HEADER_BYTES, 0);
      bytes = buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (error) {
    throw ioError(path, error);
  }
  const at = bytes.indexOf('OpusTags', 0, 'latin1');
  if (at < 0 || at + 12 > bytes.length) return false;
  const length = bytes.readUInt32LE(at + 8);
  return bytes.subarray(at + 12, at + 12 + length).toString('utf8') === RECORDING_VENDOR;
}

/** codec-parser's Ogg page, as much of it as is read here. */
interface OggPage {
  pageSequenceNumber: number;
  isLastPage: boolean;
  codecFrames: Array<{ data: Uint8Array; header: { preSkip: number } }>;
}

/**
 * The packets of a Parley track as they were delivered, each with the time its audio ends (ms from the track's
 * start, which is the meeting's), as the file is read.
 *
 * @throws {AudioFileError} `truncated` when a page is missing, a packet is not Opus, or the end-of-stream page
 *   never comes; `unreadable` on I/O errors.
 */
export async function* deliveredOpusPackets(path: string): AsyncGenerator<TimedOpusPacket> {
  const corrupt = (detail: string) => new AudioFileError(path, 'truncated', `${CORRUPT} (${detail})`);
  const parser = new CodecParser('audio/ogg');
  let samples = 0;
  let sequence: number | undefined;
  let ended = false;
  function* packetsOf(pages: Iterator<unknown>): Generator<TimedOpusPacket> {
    for (const page of pages as unknown as Iterable<OggPage>) {
      if (sequence !== undefined && page.pageSequenceNumber !== sequence + 1) throw corrupt(`Ogg page ${sequence + 1} is missing`);
      sequence = page.pageSequenceNumber;
      if (page.isLastPage) ended = true;
      for (const { data, header } of page.codecFrames) {
        const duration = opusPacketSamples(data);
        if (duration === undefined) throw corrupt('a packet is not Opus');
        samples += duration;
        if (isFillFrame(data)) continue;
        // Track time 0 (the meeting's start) is after the pre-skip (RFC 7845 §4.2).
        yield { atMs: Math.round(((samples - header.preSkip) * 1000) / OPUS_GRANULE_RATE), packet: Buffer.from(data) };
      }
    }
  }
  const stream = createReadStream(path, { highWaterMark: READ_BYTES });
  try {
    for await (const chunk of stream) yield* packetsOf(parser.parseChunk(chunk as Buffer));
    yield* packetsOf(parser.flush());
  } catch (error) {
    if (error instanceof AudioFileError) throw error;
    throw ioError(path, error);
  } finally {
    stream.destroy();
  }
  if (!ended) throw corrupt('the Ogg Opus stream ends without its end-of-stream page');
}
