/**
 * Checks shared by the replay and bot tests of AssemblyAI faults: the transcript is whole (every stretch of speech
 * a fault-free run captions is covered by a final caption, and nothing is captioned twice), and every session
 * the service did not end itself was closed with `Terminate`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CLOSE, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';
import { TEST_API_KEY } from './pipeline-harness.ts';

/** One turn of `transcript.json` (meeting time, ms). */
export type TranscriptTurn = TranscriptJson['turns'][number];

const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

/** How a `npm run replay` process ended. */
export interface ReplayRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** `performance.now()` when the process exited. */
  exitedAt: number;
  /** `transcript.json`'s turns; empty when it was not written. */
  turns: TranscriptTurn[];
}

/**
 * Runs `npm run replay`'s entry point as npm does (same node, same file), with `--no-recap --out DIR`, killed with
 * SIGKILL after `killMs`.
 */
export async function runReplayCli(options: { file: string; url: string; speed: number; env?: Record<string, string>; killMs: number }): Promise<ReplayRun> {
  const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
  return new Promise<ReplayRun>((resolve) => {
    execFile(
      process.execPath,
      [CLI, '--speed', String(options.speed), '--no-recap', '--out', out, `spk=${options.file}`],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: options.url, ...options.env },
        cwd: tmpdir(), // no .env file here
        timeout: options.killMs,
        killSignal: 'SIGKILL',
      },
      (error, _stdout, stderr) => {
        const exitedAt = performance.now();
        const failed = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
        const done = (turns: TranscriptTurn[]) => resolve({ code: failed?.code ?? 0, signal: failed?.signal ?? null, stderr, exitedAt, turns });
        readFile(join(out, 'transcript.json'), 'utf8').then(
          (text) => done((JSON.parse(text) as TranscriptJson).turns),
          () => done([]),
        );
      },
    );
  });
}

function overlapMs(a: TranscriptTurn, b: TranscriptTurn): number {
  return Math.max(0, Math.min(a.end_ms, b.end_ms) - Math.max(a.start_ms, b.start_ms));
}

/**
 * Every turn of `baseline` (a fault-free run of the same audio) is covered by `turns` to within `edgeMs`, and no
 * two of `turns` overlap by more than `edgeMs` (no speech captioned twice).
 */
export function expectWholeTranscript(turns: readonly TranscriptTurn[], baseline: readonly TranscriptTurn[], edgeMs: number): void {
  expect(baseline.length).toBeGreaterThanOrEqual(3);
  for (const expected of baseline) {
    const covered = turns.reduce((sum, turn) => sum + overlapMs(turn, expected), 0);
    expect(covered, `speech at ${expected.start_ms}–${expected.end_ms} ms`).toBeGreaterThanOrEqual(expected.end_ms - expected.start_ms - edgeMs);
  }
  for (const [i, a] of turns.entries()) {
    for (const b of turns.slice(i + 1)) expect(overlapMs(a, b), `"${a.text}" (${a.start_ms}) and "${b.text}" (${b.start_ms}) overlap`).toBeLessThanOrEqual(edgeMs);
  }
}

/**
 * For live audio, whose meeting times move with packet arrival: the final captions together span at least the
 * speech of `baseline` (less `edgeMs` per baseline turn), and no two overlap by more than `edgeMs`.
 */
export function expectAsMuchSpeechCaptioned(turns: readonly TranscriptTurn[], baseline: readonly TranscriptTurn[], edgeMs: number): void {
  expect(baseline.length).toBeGreaterThanOrEqual(3);
  const span = (list: readonly TranscriptTurn[]) => list.reduce((sum, t) => sum + t.end_ms - t.start_ms, 0);
  expect(span(turns), JSON.stringify({ turns, baseline })).toBeGreaterThanOrEqual(span(baseline) - baseline.length * edgeMs);
  for (const [i, a] of turns.entries()) {
    for (const b of turns.slice(i + 1)) expect(overlapMs(a, b), `"${a.text}" (${a.start_ms}) and "${b.text}" (${b.start_ms}) overlap`).toBeLessThanOrEqual(edgeMs);
  }
}

/** The final transcripts every session of `server` sent. */
export function finalsSent(server: FakeAssemblyAI): Set<string> {
  return new Set(server.sessions.flatMap((s) => s.sentMessages.filter((m) => m['type'] === 'Turn' && m['end_of_turn'] === true).map((m) => String(m['transcript']))));
}

/**
 * Once every accepted session has closed: each one not in `endedByService` got `Terminate`, and the last one ended
 * with `Termination` and close 1000.
 */
export async function expectEverySessionTerminated(server: FakeAssemblyAI, endedByService: readonly number[]): Promise<void> {
  const accepted = server.sessions.filter((s) => s.accepted);
  await Promise.all(accepted.map((s) => s.closed));
  for (const session of accepted) {
    if (!endedByService.includes(session.index)) expect(session.terminated, `session #${session.index} got Terminate`).toBe(true);
  }
  const last = accepted.at(-1);
  expect(last?.sentMessages.at(-1)?.['type']).toBe('Termination');
  expect(await last?.closed).toEqual({ code: CLOSE.normal, reason: '' });
}
