/**
 * The Ogg Opus container, written by hand: Ogg pages (RFC 3533 §6) holding Opus packets as they are, with the
 * identification and comment headers of RFC 7845 §5. No npm package fits: prism-media 1.3.5 only demuxes;
 * prism-media 2.0.0-alpha.0's `OggLogicalBitstream` is an alpha whose granule positions count the input sample
 * rate and one frame per packet (RFC 7845 §4 counts 48 kHz samples of every frame); `ogg` 1.2.6 binds native
 * libogg through node-gyp.
 */
import { open } from 'node:fs/promises';

/** Samples per second of every Opus granule position, whatever the input rate (RFC 7845 §4). */
export const OPUS_GRANULE_RATE = 48_000;

/** Most lacing values (segments) one Ogg page may hold (RFC 3533 §6: one byte counts them). */
export const MAX_PAGE_SEGMENTS = 255;

/** Options of {@link opusHeadPacket}. */
export interface OpusHeadOptions {
  /** Output channel count, 1 or 2 (mapping family 0, RFC 7845 §5.1.1). */
  channels: 1 | 2;
  /** Samples at 48 kHz to drop from the start of the decoded audio (RFC 7845 §5.1). */
  preSkip: number;
  /** The original input sample rate, Hz; informational only (RFC 7845 §5.1). */
  inputSampleRate: number;
}

/** The identification header (`OpusHead`, RFC 7845 §5.1), 19 bytes. */
export function opusHeadPacket(options: OpusHeadOptions): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head.writeUInt8(1, 8); // version
  head.writeUInt8(options.channels, 9);
  head.writeUInt16LE(options.preSkip, 10);
  head.writeUInt32LE(options.inputSampleRate, 12);
  head.writeInt16LE(0, 16); // output gain
  head.writeUInt8(0, 18); // channel mapping family 0: mono or stereo, no table
  return head;
}

/** The comment header (`OpusTags`, RFC 7845 §5.2) with a vendor string and `KEY=value` comments (UTF-8). */
export function opusTagsPacket(vendor: string, comments: readonly string[] = []): Buffer {
  const parts = [Buffer.from('OpusTags', 'latin1'), lengthPrefixed(vendor), u32(comments.length), ...comments.map(lengthPrefixed)];
  return Buffer.concat(parts);
}

/** Page header flags (RFC 3533 §6, header_type_flag). */
export const PAGE_FLAGS = { beginOfStream: 0x02, endOfStream: 0x04 } as const;

/** What one Ogg page says besides its packets. */
export interface OggPageHeader {
  /** {@link PAGE_FLAGS} or'ed together, or 0. */
  flags: number;
  /** Granule position after the last packet that ends on the page; for Opus, 48 kHz samples (RFC 7845 §4). */
  granule: bigint;
  serial: number;
  sequence: number;
}

/**
 * The lacing values of one packet (RFC 3533 §6): 255 for each full 255 bytes, then the remainder (0 when the
 * packet is a multiple of 255 long, so the reader knows it ended).
 */
export function lacingOf(packetLength: number): number[] {
  const lacing: number[] = [];
  for (let n = packetLength; ; n -= 255) {
    lacing.push(Math.min(n, 255));
    if (n < 255) return lacing;
  }
}

/**
 * One Ogg page holding whole packets, with its CRC.
 *
 * @throws {RangeError} if the packets need more than {@link MAX_PAGE_SEGMENTS} lacing values.
 */
export function oggPage(header: OggPageHeader, packets: readonly Buffer[]): Buffer {
  const lacing = packets.flatMap((p) => lacingOf(p.length));
  if (lacing.length > MAX_PAGE_SEGMENTS) throw new RangeError(`ogg page: ${lacing.length} lacing values, at most ${MAX_PAGE_SEGMENTS}`);
  const head = Buffer.alloc(27 + lacing.length);
  head.write('OggS', 0, 'latin1');
  head.writeUInt8(0, 4); // stream structure version
  head.writeUInt8(header.flags, 5);
  head.writeBigUInt64LE(header.granule, 6);
  head.writeUInt32LE(header.serial >>> 0, 14);
  head.writeUInt32LE(header.sequence >>> 0, 18);
  head.writeUInt32LE(0, 22); // CRC, filled below
  head.writeUInt8(lacing.length, 26);
  Buffer.from(lacing).copy(head, 27);
  const page = Buffer.concat([head, ...packets]);
  page.writeUInt32LE(oggCrc32(page), 22);
  return page;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

/** Ogg's CRC-32 (RFC 3533 §6): polynomial 0x04C11DB7, no reflection, initial value and final XOR 0. */
export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}

/** Frame duration per TOC configuration number 0–31 (RFC 6716 §3.1, Table 2), in 48 kHz samples. */
const FRAME_SAMPLES: readonly number[] = [
  ...[480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880], // SILK NB, MB, WB: 10, 20, 40, 60 ms
  ...[480, 960, 480, 960], // Hybrid SWB, FB: 10, 20 ms
  ...[120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960], // CELT NB–FB: 2.5–20 ms
];

/**
 * The duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count (RFC 6716 §3.1–3.2):
 * code 0 is one frame, codes 1 and 2 two, code 3 the count in the second byte.
 *
 * @returns undefined for a packet that cannot be valid: empty, a code 3 packet without its count byte or with
 *   a count of 0, or longer than 120 ms (RFC 6716 §3.2.5).
 */
export function opusPacketSamples(packet: Uint8Array): number | undefined {
  const toc = packet[0];
  if (toc === undefined) return undefined;
  const frame = FRAME_SAMPLES[toc >> 3]!;
  const code = toc & 0x03;
  let frames = 1;
  if (code === 1 || code === 2) frames = 2;
  else if (code === 3) {
    const count = packet[1];
    if (count === undefined || (count & 0x3f) === 0) return undefined;
    frames = count & 0x3f;
  }
  const samples = frame * frames;
  return samples > 5_760 ? undefined : samples;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

function lengthPrefixed(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** The comment header of an Ogg Opus file (`OpusTags`, RFC 7845 §5.2): its vendor string and user comments. */
export interface OpusTags {
  vendor: string;
  /** `NAME=value` comments, in file order. */
  comments: string[];
}

/** Bytes read from a file's start to find its OpusTags: the two header pages of a Parley track are far smaller. */
const TAGS_READ_BYTES = 4_096;

/**
 * Reads the OpusTags header of an Ogg Opus file from its first {@link TAGS_READ_BYTES} bytes (4,096).
 *
 * @returns the tags, or undefined when none is found there or it is cut short.
 * @throws the file system's error when the file cannot be opened or read.
 */
export async function readOpusTags(path: string): Promise<OpusTags | undefined> {
  const file = await open(path, 'r');
  let bytes: Buffer;
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(TAGS_READ_BYTES), 0, TAGS_READ_BYTES, 0);
    bytes = buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  let at = bytes.indexOf('OpusTags', 0, 'latin1');
  if (at < 0 || at + 12 > bytes.length) return undefined;
  const vendorLength = bytes.readUInt32LE(at + 8);
  if (at + 12 + vendorLength + 4 > bytes.length) return undefined;
  const vendor = bytes.subarray(at + 12, at + 12 + vendorLength).toString('utf8');
  at += 12 + vendorLength;
  const count = bytes.readUInt32LE(at);
  at += 4;
  const comments: string[] = [];
  for (let i = 0; i < count && at + 4 <= bytes.length; i++) {
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length) break;
    comments.push(bytes.subarray(at + 4, at + 4 + length).toString('utf8'));
    at += 4 + length;
  }
  return { vendor, comments };
}
