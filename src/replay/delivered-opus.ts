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
import { OPUS_GRANULE_RATE, opusPacketSamples, readOpusTags } from '../recording/ogg-opus.ts';
import { RECORDING_VENDOR, isFillFrame } from '../recording/opus-track.ts';
import { AudioFileError, CORRUPT, ioError } from './audio-file-error.ts';
import { READ_BYTES } from './audio-decoders.ts';
import type { TimedOpusPacket } from './discord-opus.ts';
import { cutShortWarning, oggPages } from './ogg-pages.ts';

/**
 * Whether an Ogg Opus file is a track Parley recorded: its OpusTags vendor string (RFC 7845 §5.2) is
 * {@link RECORDING_VENDOR}.
 *
 * @throws {AudioFileError} `unreadable` when the file cannot be read.
 */
export async function isParleyRecording(path: string): Promise<boolean> {
  try {
    return (await readOpusTags(path))?.vendor === RECORDING_VENDOR;
  } catch (error) {
    throw ioError(path, error);
  }
}

/**
 * The packets of a Parley track as they were delivered, each with the time its audio ends (ms from the track's
 * start, which is the meeting's), as the file is read. A track cut short (Parley was killed mid-meeting) has no
 * end-of-stream page and may end inside a page: its whole pages are replayed and `warn` is told once, at the end.
 *
 * @param warn - told, in one line, that the file was cut short and how many bytes of a torn last page were dropped
 * @throws {AudioFileError} `truncated` when a page is missing or a packet is not Opus; `unreadable` on I/O errors.
 */
export async function* deliveredOpusPackets(path: string, warn: (message: string) => void): AsyncGenerator<TimedOpusPacket> {
  const corrupt = (detail: string) => new AudioFileError(path, 'truncated', `${CORRUPT} (${detail})`);
  let samples = 0;
  let sequence: number | undefined;
  let ended = false;
  let dropped = 0;
  const stream = createReadStream(path, { highWaterMark: READ_BYTES });
  try {
    for await (const page of oggPages<{ preSkip: number }>(stream as AsyncIterable<Buffer>, (bytes) => (dropped = bytes))) {
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
  } catch (error) {
    if (error instanceof AudioFileError) throw error;
    throw ioError(path, error);
  } finally {
    stream.destroy();
  }
  if (!ended) warn(cutShortWarning(path, dropped));
}
