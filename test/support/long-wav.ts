/**
 * Writes long WAV files for memory checks by repeating a short unit of audio, streamed to disk: only one unit is
 * ever in memory, whatever the file's length.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** What to write. */
export interface LongWavSpec {
  /** Hz. */
  sampleRate: number;
  /** One unit, mono, samples nominally in [-1, 1]; written `repeats` times back to back. */
  unit: Float32Array;
  repeats: number;
  /** 8 (unsigned) or 16 (signed little-endian) bits per sample. */
  bits: 8 | 16;
}

/**
 * Writes a mono PCM WAV (RIFF/WAVE, one fmt and one data chunk) of `unit` repeated.
 *
 * @returns the file's length in samples
 * @throws {RangeError} when the data would not fit a WAV's 32-bit size fields
 */
export async function writeLongWav(path: string, spec: LongWavSpec): Promise<number> {
  const bytesPerSample = spec.bits / 8;
  const unitBytes = Buffer.alloc(spec.unit.length * bytesPerSample);
  spec.unit.forEach((x, i) => {
    const clamped = Math.max(-1, Math.min(1, x));
    if (spec.bits === 8) unitBytes.writeUInt8(Math.round(clamped * 127) + 128, i);
    else unitBytes.writeInt16LE(Math.round(clamped * 32767), i * 2);
  });
  const dataBytes = unitBytes.length * spec.repeats;
  if (dataBytes + 36 > 0xffffffff) throw new RangeError('writeLongWav: more than 4 GiB of data');
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(spec.sampleRate, 24);
  header.writeUInt32LE(spec.sampleRate * bytesPerSample, 28);
  header.writeUInt16LE(bytesPerSample, 32);
  header.writeUInt16LE(spec.bits, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  const out = createWriteStream(path);
  const write = async (chunk: Buffer) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  await write(header);
  for (let i = 0; i < spec.repeats; i++) await write(unitBytes);
  out.end();
  await once(out, 'finish');
  return spec.unit.length * spec.repeats;
}
