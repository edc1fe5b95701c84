/**
 * Renders a transcript as the four files Parley hands out: `transcript.json`, `transcript.md`, `transcript.srt`
 * and `transcript.vtt`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transcript } from './transcript.ts';
import { toMarkdown, toSrt, toTranscriptJson, toVtt } from './formats.ts';

/** A rendered file: name and UTF-8 content. */
export interface TranscriptFile {
  name: string;
  content: string;
}

/** Renders the transcript files in memory (for attachments). */
export function renderTranscriptFiles(title: string, transcript: Transcript): TranscriptFile[] {
  const turns = transcript.turns;
  return [
    { name: 'transcript.json', content: `${JSON.stringify(toTranscriptJson(transcript.speakers, turns), null, 2)}\n` },
    { name: 'transcript.md', content: toMarkdown(title, turns) },
    { name: 'transcript.srt', content: toSrt(turns) },
    { name: 'transcript.vtt', content: toVtt(turns) },
  ];
}

/**
 * Writes the transcript files into `dir` (created if missing).
 *
 * @returns the paths written.
 * @throws the file system's error if `dir` cannot be created or written.
 */
export async function writeTranscriptFiles(dir: string, title: string, transcript: Transcript): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = renderTranscriptFiles(title, transcript);
  await Promise.all(files.map((file) => writeFile(join(dir, file.name), file.content)));
  return files.map((file) => join(dir, file.name));
}
