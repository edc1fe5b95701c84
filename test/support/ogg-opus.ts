/**
 * An Ogg Opus recording made at test time, in place of a fixture whose licence is unclear: jfk.flac (see
 * test/fixtures/README.md) converted to 48 kHz by the product's own `toDiscordPcm`, encoded by libopus
 * (opusscript) as 20 ms mono packets, and written as an Ogg Opus stream (RFC 7845 headers, RFC 3533 pages).
 * Written once per process into a temporary folder.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { readAudioFile } from '../../src/replay/audio-file.ts';
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

/** An Ogg Opus stream of 20 ms mono packets whose decoded length is `totalSamples` at 48 kHz. */
function oggOpus(packets: Buffer[], totalSamples: number): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head.writeUInt8(1, 8); // version
  head.writeUInt8(1, 9); // channels
  head.writeUInt16LE(PRE_SKIP, 10);
  head.writeUInt32LE(48_000, 12); // input sample rate
  head.writeInt16LE(0, 16); // output gain
  head.writeUInt8(0, 18); // channel mapping family
  const vendor = Buffer.from('parley tests', 'utf8');
  const tags = Buffer.concat([Buffer.from('OpusTags', 'latin1'), u32(vendor.length), vendor, u32(0)]);
  const pages = [page(0x02, 0n, 0, [head]), page(0x00, 0n, 1, [tags])];
  const perPage = 50; // 1 s of audio a page; each 20 ms packet at 64 kbit/s is one lacing segment
  for (let i = 0, seq = 2; i < packets.length; i += perPage, seq++) {
    const last = i + perPage >= packets.length;
    const decoded = Math.min(packets.length, i + perPage) * FRAME;
    const granule = BigInt(PRE_SKIP + (last ? totalSamples : decoded));
    pages.push(page(last ? 0x04 : 0x00, granule, seq, packets.slice(i, i + perPage)));
  }
  return Buffer.concat(pages);
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

/** One Ogg page (RFC 3533 §6) holding whole packets. */
function page(headerType: number, granule: bigint, sequence: number, packets: Buffer[]): Buffer {
  const lacing: number[] = [];
  for (const p of packets) {
    for (let n = p.length; ; n -= 255) {
      lacing.push(Math.min(n, 255));
      if (n < 255) break;
    }
  }
  if (lacing.length > 255) throw new RangeError('ogg page: more than 255 lacing values');
  const header = Buffer.alloc(27 + lacing.length);
  header.write('OggS', 0, 'latin1');
  header.writeUInt8(0, 4);
  header.writeUInt8(headerType, 5);
  header.writeBigUInt64LE(granule, 6);
  header.writeUInt32LE(SERIAL, 14);
  header.writeUInt32LE(sequence, 18);
  header.writeUInt32LE(0, 22); // CRC, filled below
  header.writeUInt8(lacing.length, 26);
  Buffer.from(lacing).copy(header, 27);
  const out = Buffer.concat([header, ...packets]);
  out.writeUInt32LE(crc32(out), 22);
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

/** Ogg's CRC-32: polynomial 0x04C11DB7, no reflection, initial value and final XOR 0. */
function crc32(bytes: Buffer): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}
