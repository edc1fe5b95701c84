/**
 * Closing a track left open by a crash: a torn last page is cut off and the last whole page flagged end of
 * stream, with a valid CRC; a closed track, and one damaged other than by a cut, are left as they are.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oggCrc32 } from '../../src/recording/ogg-opus.ts';
import { OpusTrack } from '../../src/recording/opus-track.ts';
import { closeCutShortTrack } from '../../src/recording/track-repair.ts';
import { deliveredOpusPackets } from '../../src/replay/delivered-opus.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { fixturePackets } from '../support/pipeline-harness.ts';

let dir = '';
let bytes: Buffer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-repair-'));
  const [speech] = await fixturePackets('jfk.flac');
  const path = join(dir, 'whole.ogg');
  const track = OpusTrack.open({ path, serial: 7 });
  for (const { packet, atMs } of speech!) track.push(packet, atMs);
  await track.close(speech!.at(-1)!.atMs);
  bytes = await readFile(path);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Each page's offset, size, flags and whether its CRC matches (RFC 3533 §6). */
function pagesOf(file: Buffer): Array<{ at: number; size: number; eos: boolean; crcOk: boolean }> {
  const out: Array<{ at: number; size: number; eos: boolean; crcOk: boolean }> = [];
  for (let at = 0; at < file.length; ) {
    const segments = file[at + 26]!;
    const size = 27 + segments + [...file.subarray(at + 27, at + 27 + segments)].reduce((a, b) => a + b, 0);
    const page = Buffer.from(file.subarray(at, at + size));
    const crc = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    out.push({ at, size, eos: (page[5]! & 0x04) !== 0, crcOk: oggCrc32(page) === crc });
    at += size;
  }
  return out;
}

async function packetsOf(path: string): Promise<{ packets: TimedOpusPacket[]; warnings: string[] }> {
  const warnings: string[] = [];
  const packets: TimedOpusPacket[] = [];
  for await (const p of deliveredOpusPackets(path, (w) => warnings.push(w))) packets.push(p);
  return { packets, warnings };
}

describe('closeCutShortTrack', () => {
  it('cuts a torn last page off and flags the last whole page end of stream; replay then reads it without a warning', async () => {
    const pages = pagesOf(bytes);
    const torn = pages[pages.length - 3]!;
    const path = join(dir, 'cut.ogg');
    await writeFile(path, bytes.subarray(0, torn.at + 100));
    const before = await packetsOf(path);
    expect(before.warnings).toHaveLength(1);

    expect(await closeCutShortTrack(path)).toEqual({ droppedBytes: 100, closed: true });
    const repaired = await readFile(path);
    expect(repaired.length).toBe(torn.at);
    const after = pagesOf(repaired);
    expect(after.every((p) => p.crcOk)).toBe(true);
    expect(after.map((p) => p.eos)).toEqual([...Array<boolean>(after.length - 1).fill(false), true]);
    // Only the flag and the CRC of the last page changed.
    const last = after.at(-1)!;
    expect(repaired.subarray(0, last.at).equals(bytes.subarray(0, last.at))).toBe(true);
    const changed = [...repaired.subarray(last.at, last.at + last.size)].flatMap((b, i) => (b === bytes[last.at + i] ? [] : [i]));
    expect(changed.every((i) => i === 5 || (i >= 22 && i < 26))).toBe(true);

    const read = await packetsOf(path);
    expect(read.warnings).toEqual([]);
    expect(read.packets).toEqual(before.packets);
    // Closing it again changes nothing.
    expect(await closeCutShortTrack(path)).toEqual({ droppedBytes: 0, closed: false });
    expect((await readFile(path)).equals(repaired)).toBe(true);
  });

  it('leaves a closed track, and one damaged mid-file rather than cut, as they are', async () => {
    const closed = join(dir, 'closed.ogg');
    await writeFile(closed, bytes);
    expect(await closeCutShortTrack(closed)).toEqual({ droppedBytes: 0, closed: false });
    expect((await readFile(closed)).equals(bytes)).toBe(true);

    // Garbage over a page header early on: what follows it is far more than one torn page, so nothing is cut.
    const pages = pagesOf(bytes);
    const damaged = Buffer.from(bytes);
    damaged.fill(0x55, pages[3]!.at, pages[3]!.at + 4);
    expect(bytes.length - pages[3]!.at).toBeGreaterThan(27 + 255 + 255 * 255);
    const path = join(dir, 'damaged.ogg');
    await writeFile(path, damaged);
    expect(await closeCutShortTrack(path)).toEqual({ droppedBytes: 0, closed: false });
    expect((await readFile(path)).equals(damaged)).toBe(true);
  });
});
