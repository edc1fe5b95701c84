import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioFileError, openAudioFile, readAudioFile } from '../../src/replay/audio-file.ts';
import { FIXTURES_DIR } from '../support/fixtures.ts';
import { OGG_OPUS_FIXTURE, oggOpusFixture } from '../support/ogg-opus.ts';

const FIXTURES = join(FIXTURES_DIR, 'speech');

interface ManifestEntry {
  file: string;
  sample_rate: number;
  channels: number;
  duration_s: number;
}

const manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8')) as ManifestEntry[];
/** A recording's bytes; `opus.ogg` is the Ogg Opus recording made at test time (test/support/ogg-opus.ts). */
const fixture = async (name: string) => readFile(name === 'opus.ogg' ? await oggOpusFixture() : join(FIXTURES, name));

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-audio-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `bytes` to the temp dir and returns the path. */
async function temp(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** Asserts that reading `path` fails with an AudioFileError of `reason` whose one-line message names the path and matches `problem`. */
async function expectFailure(path: string, reason: AudioFileError['reason'], problem: RegExp): Promise<void> {
  const error = await readAudioFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AudioFileError);
  const failure = error as AudioFileError;
  expect(failure.reason).toBe(reason);
  expect(failure.path).toBe(path);
  expect(failure.message.startsWith(`cannot read "${path}": `)).toBe(true);
  expect(failure.message).toMatch(problem);
  expect(failure.message).not.toMatch(/\n|TypeError|Error:|\bat .*:\d+:\d+/);
}

interface WavSpec {
  sampleRate: number;
  channels: Float32Array[];
  bits: 16 | 24 | 32 | 64;
  float?: boolean;
  extensible?: boolean;
  /** A chunk of this odd length (plus its pad byte) goes between fmt and data. */
  oddChunkBefore?: number;
  /** Written in place of the real data size (streaming placeholder tests). */
  dataSizeField?: number;
}

/** Builds a WAV file (RIFF/WAVE, PCM or IEEE float, optionally WAVE_FORMAT_EXTENSIBLE). */
function wav(spec: WavSpec): Buffer {
  const count = spec.channels.length;
  const frames = spec.channels[0]!.length;
  const bytesPerSample = spec.bits / 8;
  const data = Buffer.alloc(frames * count * bytesPerSample);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < count; c++) {
      const x = spec.channels[c]![i]!;
      const at = (i * count + c) * bytesPerSample;
      if (spec.float && spec.bits === 32) data.writeFloatLE(x, at);
      else if (spec.float) data.writeDoubleLE(x, at);
      else if (spec.bits === 16) data.writeInt16LE(Math.round(x * 32767), at);
      else if (spec.bits === 24) data.writeIntLE(Math.round(x * 8388607), at, 3);
      else data.writeInt32LE(Math.round(x * 2147483647), at);
    }
  }
  const tag = spec.float ? 3 : 1;
  const fmt = Buffer.alloc(spec.extensible ? 40 : 16);
  fmt.writeUInt16LE(spec.extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(count, 2);
  fmt.writeUInt32LE(spec.sampleRate, 4);
  fmt.writeUInt32LE(spec.sampleRate * count * bytesPerSample, 8);
  fmt.writeUInt16LE(count * bytesPerSample, 12);
  fmt.writeUInt16LE(spec.bits, 14);
  if (spec.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(spec.bits, 18); // valid bits
    fmt.writeUInt32LE(0, 20); // channel mask: unspecified
    fmt.writeUInt16LE(tag, 24); // SubFormat GUID starts with the format tag
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 26);
  }
  const chunk = (id: string, body: Buffer, size = body.length) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'latin1');
    head.writeUInt32LE(size, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
  };
  const parts = [chunk('fmt ', fmt)];
  if (spec.oddChunkBefore !== undefined) parts.push(chunk('LIST', Buffer.alloc(spec.oddChunkBefore, 0x41)));
  parts.push(chunk('data', data, spec.dataSizeField ?? data.length));
  const body = Buffer.concat(parts);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write('WAVE', 8, 'latin1');
  return Buffer.concat([riff, body]);
}

/** Three channels of distinct ramps, values inside [-1, 1]. */
function ramps(frames: number): Float32Array[] {
  return [0, 1, 2].map((c) => Float32Array.from({ length: frames }, (_, i) => ((i % 200) / 100 - 1) * (0.9 - c * 0.3)));
}

describe('readAudioFile on the real fixtures', () => {
  it.each(manifest.map((entry) => [entry.file, entry] as const))('decodes %s with the manifest rate, channels and duration', async (file, entry) => {
    const audio = await readAudioFile(join(FIXTURES, file));
    expect(audio.sampleRate).toBe(entry.sample_rate);
    expect(audio.channels).toHaveLength(entry.channels);
    const frames = audio.channels[0]!.length;
    for (const channel of audio.channels) expect(channel.length).toBe(frames);
    expect(Math.abs(frames / audio.sampleRate - entry.duration_s)).toBeLessThan(0.02);
    let peak = 0;
    for (const x of audio.channels[0]!) peak = Math.max(peak, Math.abs(x));
    expect(peak).toBeGreaterThan(0.05); // real audio, not silence
    expect(peak).toBeLessThanOrEqual(1.01);
  });

  it('decodes an Ogg Opus recording with its rate, channels and duration', async () => {
    const audio = await readAudioFile(await oggOpusFixture());
    expect(audio.sampleRate).toBe(OGG_OPUS_FIXTURE.sampleRate);
    expect(audio.channels).toHaveLength(OGG_OPUS_FIXTURE.channels);
    expect(Math.abs(audio.channels[0]!.length / audio.sampleRate - OGG_OPUS_FIXTURE.durationS)).toBeLessThan(0.02);
    let peak = 0;
    for (const x of audio.channels[0]!) peak = Math.max(peak, Math.abs(x));
    expect(peak).toBeGreaterThan(0.05);
  });

  it('keeps the two voices of stereo_diarization.wav apart', async () => {
    const { channels } = await readAudioFile(join(FIXTURES, 'stereo_diarization.wav'));
    let differing = 0;
    for (let i = 0; i < channels[0]!.length; i++) if (channels[0]![i] !== channels[1]![i]) differing++;
    expect(differing / channels[0]!.length).toBeGreaterThan(0.5);
  });
});

describe('readAudioFile on synthetic WAVs', () => {
  it.each([
    ['24-bit PCM', { bits: 24 }, 2 / 8388607],
    ['32-bit PCM', { bits: 32 }, 1e-6],
    ['32-bit float', { bits: 32, float: true }, 0],
    ['64-bit float', { bits: 64, float: true }, 1e-7],
    ['16-bit PCM, WAVE_FORMAT_EXTENSIBLE', { bits: 16, extensible: true }, 2 / 32767],
    ['32-bit float, WAVE_FORMAT_EXTENSIBLE', { bits: 32, float: true, extensible: true }, 0],
  ] as const)('reads %s, 3 channels at 22,050 Hz, sample for sample', async (label, format, tolerance) => {
    const channels = ramps(2205);
    const path = await temp(`${label.replace(/\W+/g, '-')}.wav`, wav({ sampleRate: 22_050, channels, ...format }));
    const audio = await readAudioFile(path);
    expect(audio.sampleRate).toBe(22_050);
    expect(audio.channels).toHaveLength(3);
    for (let c = 0; c < 3; c++) {
      expect(audio.channels[c]!.length).toBe(2205);
      let worst = 0;
      for (let i = 0; i < 2205; i++) worst = Math.max(worst, Math.abs(audio.channels[c]![i]! - channels[c]![i]!));
      expect(worst).toBeLessThanOrEqual(tolerance + 1e-7);
    }
  });

  it('walks past an odd-sized chunk and its pad byte to the data', async () => {
    const channels = ramps(1000).slice(0, 1);
    const audio = await readAudioFile(await temp('odd.wav', wav({ sampleRate: 8000, channels, bits: 16, oddChunkBefore: 7 })));
    expect(audio.channels[0]!.length).toBe(1000);
    expect(audio.channels[0]![150]).toBeCloseTo(channels[0]![150]!, 4);
  });

  it('reads a streamed WAV (data size 0xFFFFFFFF) to the end of the file', async () => {
    const channels = ramps(1600).slice(0, 2);
    const audio = await readAudioFile(await temp('stream.wav', wav({ sampleRate: 16_000, channels, bits: 16, dataSizeField: 0xffffffff })));
    expect(audio.channels).toHaveLength(2);
    expect(audio.channels[1]!.length).toBe(1600);
  });

  it('reports a complete WAV without samples as empty', async () => {
    const path = await temp('empty-data.wav', wav({ sampleRate: 16_000, channels: [new Float32Array(0)], bits: 16 }));
    await expectFailure(path, 'empty', /: contains no audio samples$/);
  });
});

describe('readAudioFile on truncated copies of the fixtures', () => {
  it('reports a WAV cut in half instead of returning half of it', async () => {
    const bytes = await fixture('katiesteve.wav');
    const path = await temp('katiesteve-half.wav', bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectFailure(path, 'truncated', /truncated or corrupt audio \(the WAV data chunk declares 943600 bytes, the file holds 471777\)$/);
  });

  it('reports a WAV missing its last sample', async () => {
    const bytes = await fixture('stereo_diarization.wav');
    await expectFailure(await temp('stereo-minus-2.wav', bytes.subarray(0, bytes.length - 2)), 'truncated', /truncated or corrupt audio/);
  });

  it.each([
    ['stereo_diarization.wav', 30, /the WAV header is incomplete|the WAV fmt chunk is incomplete/],
    ['stereo_diarization.wav', 3, /the header is incomplete/],
    ['jfk.flac', 20, /the FLAC header is incomplete/],
    ['opus.ogg', 40, /the Ogg stream ends inside its headers/],
  ] as const)('reports %s cut to %i bytes (inside the header)', async (file, length, detail) => {
    const bytes = await fixture(file);
    await expectFailure(await temp(`head-${length}-${file}`, bytes.subarray(0, length)), 'truncated', detail);
  });

  it('reports a FLAC cut in half by comparing with STREAMINFO', async () => {
    const bytes = await fixture('jfk.flac');
    const path = await temp('jfk-half.flac', bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectFailure(path, 'truncated', /truncated or corrupt audio \(decoded \d+ samples per channel, header promises 485100\)$/);
  });

  it('reports a FLAC cut right after its metadata (nothing decodes)', async () => {
    const bytes = await fixture('jfk.flac');
    // Metadata blocks: 4-byte header (last-block flag in bit 7, 24-bit length) each, after "fLaC".
    let offset = 4;
    for (;;) {
      const last = (bytes[offset]! & 0x80) !== 0;
      offset += 4 + bytes.readUIntBE(offset + 1, 3);
      if (last) break;
    }
    await expectFailure(await temp('jfk-meta-only.flac', bytes.subarray(0, offset)), 'truncated', /\(no audio samples decoded\)$/);
  });

  it('reports an Ogg Opus file cut before its first audio page; one cut later is replayed up to its cut (test/replay/cut-short.test.ts)', async () => {
    const bytes = await fixture('opus.ogg');
    // The identification header page is 47 bytes (27 + 1 lacing value + 19): cut inside the comment header's page.
    await expectFailure(await temp('opus-headers-only.ogg', bytes.subarray(0, 60)), 'truncated', /\(no audio samples decoded\)$/);
  });

  it('reports a zero-byte file', async () => {
    await expectFailure(await temp('zero.wav', new Uint8Array(0)), 'truncated', /truncated or corrupt audio \(the file is empty\)$/);
  });
});

describe('readAudioFile on corrupt copies of the fixtures', () => {
  /** Overwrites the middle fifth of the file. */
  const scribble = (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    copy.fill(0x55, Math.floor(copy.length * 0.4), Math.floor(copy.length * 0.6));
    return copy;
  };

  it('reports a FLAC whose middle frames are garbage where the decoder meets them', async () => {
    const path = await temp('jfk-scribbled.flac', scribble(await fixture('jfk.flac')));
    await expectFailure(path, 'truncated', /truncated or corrupt audio \(the FLAC decoder rejected a frame after \d+ samples per channel\)$/);
  });

  it('reports an Ogg file whose middle pages are garbage', async () => {
    const path = await temp('opus-scribbled.ogg', scribble(await fixture('opus.ogg')));
    await expectFailure(path, 'truncated', /truncated or corrupt audio \(Ogg page sync lost at byte \d+\)$/);
  });

  it('reports an Ogg Opus file with a page missing in the middle when the decoder reaches it', async () => {
    const bytes = await fixture('opus.ogg');
    const pages: number[] = [];
    for (let at = bytes.indexOf('OggS'); at >= 0; at = bytes.indexOf('OggS', at + 4)) pages.push(at);
    const cut = Math.floor(pages.length / 2); // pages[0..1] are the headers; the middle one is audio
    const path = await temp('opus-page-missing.ogg', Buffer.concat([bytes.subarray(0, pages[cut]), bytes.subarray(pages[cut + 1])]));
    const stream = await openAudioFile(path); // the headers are fine: nothing is wrong until the gap
    let decoded = 0;
    const error = await (async () => {
      for await (const block of stream.blocks()) decoded += block[0]!.length;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AudioFileError);
    expect((error as AudioFileError).message).toBe(`cannot read "${path}": truncated or corrupt audio (Ogg page ${cut} is missing)`);
    expect(decoded).toBeGreaterThan(0);
  });

  it('reports a WAV whose fmt chunk contradicts itself', async () => {
    const bytes = Buffer.from(await fixture('katiesteve.wav'));
    bytes.writeUInt16LE(4, 12 + 8 + 12); // blockAlign 4 for 16-bit mono
    await expectFailure(await temp('bad-fmt.wav', bytes), 'truncated', /inconsistent WAV fmt chunk/);
  });
});

describe('readAudioFile on missing and unsupported files', () => {
  it('reports a missing file', async () => {
    await expectFailure(join(dir, 'nope.wav'), 'not-found', /: file not found$/);
  });

  it('reports a directory', async () => {
    const path = join(dir, 'a-directory.wav');
    await mkdir(path);
    await expectFailure(path, 'unreadable', /is a directory/);
  });

  it.each([
    ['text.wav', Buffer.from('this is not audio at all\n')],
    ['id3.mp3', Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.alloc(64)])],
    ['riff.avi', Buffer.from('RIFF\x10\x00\x00\x00AVI LIST', 'latin1')],
  ])('reports %s as an unsupported format', async (name, bytes) => {
    await expectFailure(await temp(name, bytes), 'unsupported', /: unsupported format \(expected WAV, FLAC or Ogg Opus\)$/);
  });

  it('reports a WAV with a non-PCM encoding', async () => {
    const bytes = Buffer.from(await fixture('katiesteve.wav'));
    bytes.writeUInt16LE(0x55, 12 + 8); // MPEG Layer 3 format tag
    await expectFailure(await temp('mp3-in-wav.wav', bytes), 'unsupported', /unsupported format \(expected WAV, FLAC or Ogg Opus; this WAV uses encoding 0x0055, not PCM or float\)$/);
  });

  it('reports a 12-bit PCM WAV', async () => {
    const bytes = Buffer.from(await fixture('katiesteve.wav'));
    bytes.writeUInt16LE(12, 12 + 8 + 14);
    await expectFailure(await temp('12-bit.wav', bytes), 'unsupported', /this WAV holds 12-bit PCM; supported: 8\/16\/24\/32-bit\)$/);
  });

  it('reports an Ogg file without an Opus stream', async () => {
    const bytes = Buffer.from(await fixture('opus.ogg'));
    bytes.write('OpusHeaX', bytes.indexOf('OpusHead'), 'latin1');
    await expectFailure(await temp('not-opus.ogg', bytes), 'unsupported', /this Ogg file holds no Opus stream\)$/);
  });
});
