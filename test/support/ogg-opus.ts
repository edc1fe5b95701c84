/**
 * An Ogg Opus recording made at test time, in place of a fixture whose licence is unclear: jfk.flac (see
 * test/fixtures/README.md) converted to 48 kHz by the product's own `toDiscordPcm`, encoded by libopus
 * (opusscript) as 20 ms mono packets, and written as an Ogg Opus stream by the product's page writer
 * (src/recording/ogg-opus.ts: RFC 7845 headers, RFC 3533 pages).
 * Written once per process into a temporary folder.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { PAGE_FLAGS, oggPage, opusHeadPacket, opusTagsPacket } from '../../src/recording/ogg-opus.ts';
import { toDiscordPcm } from '../../src/replay/discord-opus.ts';
import { speechFixture } from './fixtures.ts';

/** What the made-up recording is, for tests that check a decode of it. */
export const OGG_OPUS_FIXTURE = { sampleRate: 48_000, channels: 1, durationS: 11.0 } as const;

const FRAME = 960; // 20 ms at 48 kHz
// Pre-skip 0: the decoded audio starts with libopus' 6.5 ms encoder delay instead of trimming it (RFC 7845 §4.2
// allows any value); it keeps decoded length = last granule position, which is what the tests check.
const PRE_SKIP = 0;
const SERIAL = 0x5041524c; // "PARL"

let made: Promise<string> | undefined;

/** Path of the Ogg Opus recording (11 s of jfk.flac, 48 kHz mono, 64 kbit/s). */
export function oggOpusFixture(): Promise<string> {
  made ??= (async () => {
    const pcm = await toDiscordPcm(await readAudioFile(speechFixture('jfk.flac')));
    const samples = pcm.channels[0]!;
    const encoder = new OpusScript(48_000, 1, OpusScript.Application.AUDIO);
    encoder.encoderCTL(4002, 64_000); // OPUS_SET_BITRATE_REQUEST (opus_defines.h)
    const packets: Buffer[] = [];
    const frame = new Int16Array(FRAME);
    for (let start = 0; start < samples.length; start += FRAME) {
      frame.fill(0);
      for (let i = 0; i < FRAME && start + i < samples.length; i++) frame[i] = Math.max(-32768, Math.min(32767, Math.round(samples[start + i]! * 32767)));
      packets.push(Buffer.from(encoder.encode(Buffer.from(frame.buffer), FRAME)));
    }
    encoder.delete();
    const dir = await mkdtemp(join(tmpdir(), 'parley-ogg-'));
    const path = join(dir, 'jfk-opus48k.ogg');
    await writeFile(path, oggOpus(packets, samples.length));
    return path;
  })();
  return made;
}

/** An Ogg Opus stream of 20 ms mono packets whose decoded length is `totalSamples` at 48 kHz (the product's page writer). */
function oggOpus(packets: Buffer[], totalSamples: number): Buffer {
  const head = opusHeadPacket({ channels: 1, preSkip: PRE_SKIP, inputSampleRate: 48_000 });
  const tags = opusTagsPacket('parley tests');
  const pages = [oggPage({ flags: PAGE_FLAGS.beginOfStream, granule: 0n, serial: SERIAL, sequence: 0 }, [head]), oggPage({ flags: 0, granule: 0n, serial: SERIAL, sequence: 1 }, [tags])];
  const perPage = 50; // 1 s of audio a page; each 20 ms packet at 64 kbit/s is one lacing segment
  for (let i = 0, seq = 2; i < packets.length; i += perPage, seq++) {
    const last = i + perPage >= packets.length;
    const decoded = Math.min(packets.length, i + perPage) * FRAME;
    const granule = BigInt(PRE_SKIP + (last ? totalSamples : decoded));
    pages.push(oggPage({ flags: last ? PAGE_FLAGS.endOfStream : 0, granule, serial: SERIAL, sequence: seq }, packets.slice(i, i + perPage)));
  }
  return Buffer.concat(pages);
}
