/**
 * A recording cut short (its recorder was killed mid-meeting): no end-of-stream page, perhaps a torn last page.
 * Replay plays it up to its last whole page and says, once on stderr, how many bytes it dropped; Parley's own
 * tracks (packets as delivered) and other recorders' Ogg Opus files (decoded) alike.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_FLAGS, oggPage } from '../../src/recording/ogg-opus.ts';
import { OpusTrack } from '../../src/recording/opus-track.ts';
import { openAudioFile, readAudioFile } from '../../src/replay/audio-file.ts';
import { deliveredOpusPackets } from '../../src/replay/delivered-opus.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { oggOpusFixture } from '../support/ogg-opus.ts';
import { TEST_API_KEY, fixturePackets } from '../support/pipeline-harness.ts';

const run = promisify(execFile);
const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

let dir = '';
let server: FakeAssemblyAI;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-cut-short-'));
  server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Each Ogg page's byte offset, size and granule position, read from the headers (RFC 3533 §6). */
function pagesOf(bytes: Buffer): Array<{ at: number; size: number; granule: number; eos: boolean }> {
  const out: Array<{ at: number; size: number; granule: number; eos: boolean }> = [];
  for (let at = 0; at < bytes.length; ) {
    const segments = bytes[at + 26]!;
    const size = 27 + segments + [...bytes.subarray(at + 27, at + 27 + segments)].reduce((a, b) => a + b, 0);
    out.push({ at, size, granule: Number(bytes.readBigUInt64LE(at + 6)), eos: (bytes[at + 5]! & 0x04) !== 0 });
    at += size;
  }
  return out;
}

async function replay(args: string[]): Promise<{ stderr: string; transcript: TranscriptJson }> {
  const out = await mkdtemp(join(dir, 'out-'));
  const { stderr } = await run(process.execPath, [CLI, '--speed', '50', '--no-recap', '--out', out, ...args], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: server.url, STT_MAX_TURN_SILENCE_MS: '600' },
  });
  return { stderr, transcript: JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson };
}

async function collect(path: string): Promise<{ packets: TimedOpusPacket[]; warnings: string[] }> {
  const warnings: string[] = [];
  const packets: TimedOpusPacket[] = [];
  for await (const packet of deliveredOpusPackets(path, (w) => warnings.push(w))) packets.push(packet);
  return { packets, warnings };
}

describe('a Parley track cut short', () => {
  let whole = '';
  let bytes: Buffer;
  beforeAll(async () => {
    const [speech] = await fixturePackets('katiesteve.wav');
    whole = join(dir, 'whole.ogg');
    const track = OpusTrack.open({ path: whole, serial: 1 });
    for (const { packet, atMs } of speech!) track.push(packet, atMs);
    await track.close(speech!.at(-1)!.atMs + 1_000);
    bytes = await readFile(whole);
  });

  it('gives the packets of its whole pages, drops a torn last page or torn page header, and says how many bytes', async () => {
    const pages = pagesOf(bytes);
    const full = await collect(whole);
    expect(full.warnings).toEqual([]);
    const middle = pages[Math.floor(pages.length / 2)]!;
    // Packets whose audio ends by the last whole page's granule position (less the 20 ms pre-skip).
    const before = (granule: number) => full.packets.filter((p) => p.atMs <= ((granule - 960) * 1000) / 48_000);
    const previous = pages[pages.indexOf(middle) - 1]!;

    const cases = [
      { name: 'mid-page.ogg', cut: middle.at + Math.floor(middle.size / 2), dropped: Math.floor(middle.size / 2) },
      { name: 'torn-header.ogg', cut: middle.at + 10, dropped: 10 },
      { name: 'at-boundary.ogg', cut: middle.at, dropped: 0 },
    ];
    for (const { name, cut, dropped } of cases) {
      const path = join(dir, name);
      await writeFile(path, bytes.subarray(0, cut));
      const { packets, warnings } = await collect(path);
      expect(packets.length, name).toBeGreaterThan(0);
      expect(packets, name).toEqual(before(previous.granule));
      expect(warnings, name).toHaveLength(1);
      expect(warnings[0], name).toContain('ends without its Ogg end-of-stream page');
      if (dropped > 0) expect(warnings[0], name).toContain(`its ${dropped} bytes were dropped`);
      else expect(warnings[0], name).not.toContain('dropped');
    }
  });

  it('is not cut short when it ends with an empty end-of-stream page (codec-parser never yields one)', async () => {
    const pages = pagesOf(bytes);
    const last = pages.at(-1)!;
    const previous = pages.at(-2)!;
    // The whole track up to its last page, then an empty page flagged end of stream, as libogg's flush can write.
    const empty = oggPage({ flags: PAGE_FLAGS.endOfStream, granule: BigInt(previous.granule), serial: 1, sequence: pages.length - 1 }, []);
    const path = join(dir, 'empty-eos.ogg');
    await writeFile(path, Buffer.concat([bytes.subarray(0, last.at), empty]));
    const full = await collect(whole);
    const { packets, warnings } = await collect(path);
    expect(warnings).toEqual([]);
    expect(packets).toEqual(full.packets.filter((p) => p.atMs <= ((previous.granule - 960) * 1000) / 48_000));
  });

  it('replays, cut mid-page, to the words said before the cut, with one warning on stderr', async () => {
    const pages = pagesOf(bytes);
    const full = await replay([`Katie=${whole}`]);
    expect(full.stderr).toBe('');
    expect(full.transcript.turns.length).toBeGreaterThanOrEqual(5);
    // Cut inside the page that holds the middle of the third turn's end and the fourth's start.
    const third = full.transcript.turns[2]!;
    const fourth = full.transcript.turns[3]!;
    const cutMs = (third.end_ms + fourth.start_ms) / 2;
    const torn = pages.find((p) => ((p.granule - 960) * 1000) / 48_000 >= cutMs)!;
    const path = join(dir, 'cut-replay.ogg');
    await writeFile(path, bytes.subarray(0, torn.at + Math.floor(torn.size / 2)));
    const cut = await replay([`Katie=${path}`]);
    expect(cut.stderr.trim().split('\n')).toEqual([
      `warning: "${path}" was cut short: it ends without its Ogg end-of-stream page; its last page was torn, so its ${Math.floor(torn.size / 2)} bytes were dropped. Replaying what it holds up to there.`,
    ]);
    expect(cut.transcript.turns.map((t) => t.text)).toEqual(full.transcript.turns.slice(0, 3).map((t) => t.text));
  }, 60_000);
});

describe('another recorder\'s Ogg Opus file cut short', () => {
  it('decodes up to its last whole page, the same samples as the whole file, with a warning', async () => {
    const source = await oggOpusFixture();
    const bytes = await readFile(source);
    const pages = pagesOf(bytes);
    expect(pages.at(-1)?.eos).toBe(true);
    const full = await readAudioFile(source);
    const middle = pages[Math.floor(pages.length / 2)]!;
    const previous = pages[pages.indexOf(middle) - 1]!;
    const path = join(dir, 'other-cut.ogg');
    const dropped = Math.floor(middle.size / 2);
    await writeFile(path, bytes.subarray(0, middle.at + dropped));
    const warnings: string[] = [];
    const stream = await openAudioFile(path, { onWarning: (w) => warnings.push(w) });
    const decoded: Float32Array[] = [];
    for await (const block of stream.blocks()) decoded.push(block[0]!);
    const samples = Float32Array.from(decoded.flatMap((b) => [...b]));
    // Decoded up to the last whole page's granule position, less the pre-skip (RFC 7845 §4).
    const preSkip = pages.at(-1)!.granule - full.channels[0]!.length;
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.length).toBe(previous.granule - preSkip);
    expect(samples).toEqual(full.channels[0]!.subarray(0, samples.length));
    expect(warnings).toEqual([`"${path}" was cut short: it ends without its Ogg end-of-stream page; its last page was torn, so its ${dropped} bytes were dropped. Replaying what it holds up to there.`]);
  });
});
