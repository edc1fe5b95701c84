/** Paths to the test fixtures in `test/fixtures` (sources and licences in its README; the product never reads them). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** `test/fixtures`, absolute. */
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Absolute path of a speech recording in `test/fixtures/speech`. */
export function speechFixture(name: string): string {
  return join(FIXTURES_DIR, 'speech', name);
}

/** Streaming v3 message sequences shaped as AssemblyAI documents them (`test/fixtures/assemblyai`). */
export function assemblyAiSequences(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'assemblyai', 'streaming-v3-messages.json'), 'utf8')) as Record<string, unknown>;
}

/** One entry of manifest.json. */
export interface SpeechManifestEntry {
  file: string;
  text: string;
  duration_s: number;
  sample_rate: number;
  channels: number;
  segments?: Array<{ speaker: string; start: number; end: number; text: string }>;
  channels_text?: Record<string, string>;
}

/** The speech fixtures' manifest. */
export function speechManifest(): SpeechManifestEntry[] {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'speech', 'manifest.json'), 'utf8')) as SpeechManifestEntry[];
}
