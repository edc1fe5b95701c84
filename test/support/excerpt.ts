/**
 * Short excerpts of the speech fixtures, written as WAV files, for tests that must run at real time: a few seconds
 * of real speech instead of a whole recording.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { speechFixture } from './fixtures.ts';

/**
 * Writes seconds `fromS` to `toS` of fixture `name` (every channel, original sample rate) to `dir` as a 32-bit float
 * WAV file, and returns its path.
 */
export async function writeExcerpt(name: string, fromS: number, toS: number, dir: string): Promise<string> {
  const audio = await readAudioFile(speechFixture(name));
  const from = Math.round(fromS * audio.sampleRate);
  const to = Math.round(toS * audio.sampleRate);
  const channels = audio.channels.map((channel) => channel.slice(from, to));
  if (channels.some((c) => c.length !== to - from)) throw new Error(`${name} is shorter than ${toS} s`);
  const wav = new wavefile.WaveFile();
  wav.fromScratch(channels.length, audio.sampleRate, '32f', channels);
  const path = join(dir, `${name.replace(/\.\w+$/, '')}-${fromS}-${toS}s.wav`);
  await writeFile(path, wav.toBuffer());
  return path;
}
