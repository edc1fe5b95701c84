/**
 * `npm run replay` at real time (`--speed 1`, pacing on) against a fake AssemblyAI with a realistic handshake
 * (300 ms before `Begin`, 200 ms before `Termination`) when the service fails near the start or near the end of a
 * recording: a TCP drop, a 3005 close, a stall, a 3009 refusal. Each run must exit 0 within a bound, with every
 * stretch of speech a fault-free run captions covered by a final caption (and none captioned twice), and every
 * session the service did not end itself closed with `Terminate`.
 *
 * Each case runs a few seconds of real speech in real time; the cases run side by side.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLOSE, startFakeAssemblyAI, type AudioFault } from '../fakes/assemblyai-server.ts';
import { writeExcerpt } from '../support/excerpt.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import { expectEverySessionTerminated, expectWholeTranscript, finalsSent, runReplayCli, type TranscriptTurn } from '../support/stt-fault-checks.ts';

/**
 * Longest a run may take from its first connection to its exit, ms: the recording (at most 7.1 s), a 3009's 5 s
 * backoff or a 7 s stall, a reconnect and a Terminate, with room for a loaded 2-core machine.
 */
const EXIT_BOUND_MS = 30_000;
/** A run still going after this long (start-up included) has hung: it is killed. */
const KILL_MS = 90_000;
/** Ends turns at the 0.9 s pauses between Katie's and Steve's lines, so an excerpt has several turns. */
const ENV = { STT_MAX_TURN_SILENCE_MS: '600' };
/** Slack on turn edges when comparing with the fault-free run, ms (the fake's voice windows are 10 ms). */
const EDGE_MS = 60;

interface FaultCase {
  name: string;
  excerpt: 'short' | 'issue';
  faults?: AudioFault[];
  /** Connections refused with 3009 (by index). */
  refuse3009?: number[];
  /** Sessions the fault ends (no Terminate expected). */
  endedByService: number[];
}


const serverError = { code: CLOSE.serverError, error: 'Session Cancelled: An error occurred' };

/** The short excerpt is katiesteve.wav 0–4.5 s: "Good morning, Steve." / "Good morning, Katie." / "Have you tried". */
const CASES: FaultCase[] = [
  { name: 'the issue: a 7.1 s recording, TCP drop after 2.5 s', excerpt: 'issue', faults: [{ kind: 'drop', session: 0, afterAudioMs: 2_500 }], endedByService: [0] },
  { name: 'TCP drop near the start', excerpt: 'short', faults: [{ kind: 'drop', session: 0, afterAudioMs: 1_000 }], endedByService: [0] },
  { name: 'TCP drop near the end', excerpt: 'short', faults: [{ kind: 'drop', session: 0, afterAudioMs: 4_000 }], endedByService: [0] },
  { name: '3005 near the start', excerpt: 'short', faults: [{ kind: 'close', session: 0, afterAudioMs: 1_000, ...serverError }], endedByService: [0] },
  { name: '3005 near the end', excerpt: 'short', faults: [{ kind: 'close', session: 0, afterAudioMs: 4_000, ...serverError }], endedByService: [0] },
  {
    name: 'a 2 s stall near the start, then the connection drops',
    excerpt: 'short',
    faults: [{ kind: 'stall', session: 0, afterAudioMs: 1_000, forMs: 2_000, then: 'drop' }],
    endedByService: [0],
  },
  {
    name: 'a 7 s stall near the end, across the 5 s Terminate deadline, then recovery',
    excerpt: 'short',
    faults: [{ kind: 'stall', session: 0, afterAudioMs: 4_000, forMs: 7_000, then: 'recover' }],
    endedByService: [],
  },
  { name: '3009 for the first session', excerpt: 'short', refuse3009: [0], endedByService: [] },
  {
    name: '3009 for the reconnect after a drop near the end',
    excerpt: 'short',
    faults: [{ kind: 'drop', session: 0, afterAudioMs: 4_000 }],
    refuse3009: [1],
    endedByService: [0],
  },
];

describe.concurrent('npm run replay --speed 1 when AssemblyAI fails', () => {
  const excerpts = { short: '', issue: '' };
  const baselines = { short: [] as TranscriptTurn[], issue: [] as TranscriptTurn[] };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-excerpts-'));
    excerpts.short = await writeExcerpt('katiesteve.wav', 0, 4.5, dir);
    excerpts.issue = await writeExcerpt('katiesteve.wav', 0, 7.1, dir);
    // What a fault-free run captions (turn detection runs on audio time, so speed does not change it).
    const server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    try {
      for (const key of ['short', 'issue'] as const) {
        const run = await runReplayCli({ file: excerpts[key], url: server.url, speed: 20, env: ENV, killMs: KILL_MS });
        expect(run.code, run.stderr).toBe(0);
        baselines[key] = run.turns;
      }
    } finally {
      await server.close();
    }
  }, 60_000);

  it.each(CASES)('$name', async (c) => {
    let firstConnectionAt: number | undefined;
    const server = await startFakeAssemblyAI({
      apiKey: TEST_API_KEY,
      beginDelayMs: 300,
      terminationDelayMs: 200,
      ...(c.faults === undefined ? {} : { audioFaults: c.faults }),
      onConnection: ({ index }) => {
        firstConnectionAt ??= performance.now(); // the replay's first packet opens it
        return c.refuse3009?.includes(index) === true ? { code: CLOSE.tooManySessions, error: 'Too many concurrent sessions' } : undefined;
      },
    });
    try {
      const run = await runReplayCli({ file: excerpts[c.excerpt], url: server.url, speed: 1, env: ENV, killMs: KILL_MS });
      expect(run.signal, `still running ${KILL_MS} ms after it started`).toBeNull();
      expect(run.code, run.stderr).toBe(0);
      expect(run.exitedAt - (firstConnectionAt ?? Infinity)).toBeLessThan(EXIT_BOUND_MS);
      expect(run.stderr).not.toMatch(/^error:/m);
      expect(server.sessions.length).toBeGreaterThanOrEqual(2); // the fault happened
      expectWholeTranscript(run.turns, baselines[c.excerpt], EDGE_MS);
      const finals = finalsSent(server);
      for (const turn of run.turns) expect(finals, turn.text).toContain(turn.text);
      expect(server.violations).toEqual([]);
      await expectEverySessionTerminated(server, c.endedByService);
    } finally {
      await server.close();
    }
  }, KILL_MS + 15_000);
});
