import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { speechFixture } from '../support/fixtures.ts';
import { oggOpusFixture } from '../support/ogg-opus.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';

const run = promisify(execFile);
const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

/** Runs `npm run replay`'s entry point exactly as npm does (same node, same file), returning code and output. */
async function replay(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      cwd: tmpdir(), // no .env file here
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run replay', () => {
  let server: FakeAssemblyAI;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    env = { ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: server.url };
  });
  afterAll(() => server.close());

  it('captions katiesteve.wav and writes all four transcript files', async () => {
    const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
    // The pauses between Katie's and Steve's lines are about 0.9 s: a shorter max_turn_silence separates them.
    const result = await replay(['--speed', '50', '--no-recap', '--out', out, speechFixture('katiesteve.wav')], { ...env, STT_MAX_TURN_SILENCE_MS: '600' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(line).toMatch(/^\[\d\d:\d\d\.\d\] katiesteve: \S/);
    expect((await readdir(out)).sort()).toEqual(['transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    const json = JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson;
    expect(json.speakers).toEqual([{ id: 'katiesteve', name: 'katiesteve' }]);
    expect(json.turns).toHaveLength(lines.length);
    const starts = json.turns.map((t) => t.start_ms);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    for (const turn of json.turns) expect(turn.end_ms).toBeGreaterThan(turn.start_ms);
    // The first turn ("Good morning, Steve.") starts near 0.0 s and the last near 26.45 s (manifest segments).
    expect(json.turns[0]?.start_ms).toBeLessThan(500);
    expect(Math.abs((json.turns.at(-1)?.start_ms ?? 0) - 26_450)).toBeLessThan(500);
    expect(await readFile(join(out, 'transcript.srt'), 'utf8')).toMatch(/^1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\nkatiesteve: /);
    expect(await readFile(join(out, 'transcript.vtt'), 'utf8')).toMatch(/^WEBVTT\n/);
    expect(await readFile(join(out, 'transcript.md'), 'utf8')).toMatch(/\*\*\[00:00\.\d\] katiesteve:\*\*/);
  });

  it('makes each channel of stereo_diarization.wav its own speaker with --split-channels', async () => {
    const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
    const result = await replay(['--speed', '50', '--no-recap', '--split-channels', '--out', out, `wizard=${speechFixture('stereo_diarization.wav')}`], env);
    expect(result.code).toBe(0);
    const json = JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson;
    expect(json.speakers.map((s) => s.name)).toEqual(['wizard-1', 'wizard-2']);
    expect(new Set(json.turns.map((t) => t.speaker))).toEqual(new Set(['wizard-1', 'wizard-2']));
    expect((await readdir(out)).sort()).toEqual(['transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
  });

  it('exits non-zero with one clear line on bad input', async () => {
    const missing = await replay([join(tmpdir(), 'no-such-file.wav')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: cannot read ".*no-such-file\.wav": file not found$/)]);

    const noKey = await replay([speechFixture('katiesteve.wav')], { ASSEMBLYAI_STREAMING_URL: server.url });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr.trim()).toBe('error: Invalid configuration: ASSEMBLYAI_API_KEY is required (your AssemblyAI API key)');

    const badKey = await replay(['--speed', '50', speechFixture('katiesteve.wav')], { ...env, ASSEMBLYAI_API_KEY: 'rejected-key-value' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/^error: AssemblyAI refused the connection \(code 1008\)/m);
    expect(badKey.stderr).not.toContain('rejected-key-value');

    const unsupported = await replay([new URL(import.meta.url).pathname], env);
    expect(unsupported.code).toBe(1);
    expect(unsupported.stderr.trim()).toMatch(/^error: cannot read ".*cli\.test\.ts": unsupported format/);

    // Truncated and corrupt copies of real recordings in each supported format.
    const dir = await mkdtemp(join(tmpdir(), 'parley-bad-audio-'));
    const recordings = { 'katiesteve.wav': speechFixture('katiesteve.wav'), 'jfk.flac': speechFixture('jfk.flac'), 'opus.ogg': await oggOpusFixture() };
    for (const [name, source] of Object.entries(recordings)) {
      const bytes = await readFile(source);
      const truncated = join(dir, `truncated-${name}`);
      await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const corrupt = join(dir, `corrupt-${name}`);
      // FLAC frames and Ogg pages carry checksums, so garbage mid-file is detectable; raw WAV samples are not
      // (garbage there is just noise), so the WAV copy gets a garbled header instead.
      const garbled = Buffer.from(bytes);
      const from = name.endsWith('.wav') ? 12 : Math.floor(garbled.length / 3);
      for (let i = from; i < from + (name.endsWith('.wav') ? 24 : 4096); i++) garbled[i] = (i * 7919) & 0xff;
      await writeFile(corrupt, garbled);
      // An Ogg Opus file cut short is replayed up to the cut, with a warning (test/replay/cut-short.test.ts).
      for (const path of name.endsWith('.ogg') ? [corrupt] : [truncated, corrupt]) {
        const bad = await replay(['--speed', '50', path], env);
        expect(bad.code, path).toBe(1);
        expect(bad.stderr.trim().split('\n'), path).toEqual([expect.stringMatching(/^error: cannot read ".*": (truncated or corrupt audio|unsupported format)/)]);
      }
    }

    const usage = await replay(['--speed', 'fast', speechFixture('katiesteve.wav')], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: --speed must be a positive number/);
  }, 150_000); // about 15 replay processes one after another; damage found mid-file is found while playing
});

/** stderr lines meant for people (log lines are JSON). */
const plainLines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.length > 0 && !line.startsWith('{'));

describe('npm run replay against an AssemblyAI that refuses or drops sessions', () => {
  it('is captioned whole and exits 0 when the account-wide session limit refuses with 1008; nobody is told the key is wrong', async () => {
    // Two people talking at once; the account allows one new session per 2 s of real time.
    const limited = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, sessionLimit: { perWindow: 1, windowMs: 2_000, code: 1008 } });
    try {
      const file = speechFixture('katiesteve.wav');
      const result = await replay(['--speed', '50', '--no-recap', `Ann=${file}`, `Bob=${file}`], {
        ASSEMBLYAI_API_KEY: TEST_API_KEY,
        ASSEMBLYAI_STREAMING_URL: limited.url,
        STT_MAX_TURN_SILENCE_MS: '600',
      });
      expect(result.code).toBe(0);
      expect(limited.limitRefusals).toBeGreaterThan(0);
      const lines = result.stdout.trim().split('\n');
      const ann = lines.filter((l) => / Ann: /.test(l));
      const bob = lines.filter((l) => / Bob: /.test(l));
      expect(ann.length).toBeGreaterThanOrEqual(5);
      expect(bob.map((l) => l.replace(' Bob: ', ' Ann: ')).sort()).toEqual([...ann].sort());
      expect(plainLines(result.stderr)).toEqual([expect.stringMatching(/^warning: Captions are delayed: the AssemblyAI account has reached its limit on new sessions per minute \(AssemblyAI said: "Unauthorized Connection: Too many concurrent sessions"\)/)]);
      expect(result.stderr).not.toMatch(/key is wrong/i);
    } finally {
      await limited.close();
    }
  });

  it('opens a handful of sessions, not thousands, when every session is closed with 3007 after Begin, and says why in one line', async () => {
    const closing = await startFakeAssemblyAI({
      apiKey: TEST_API_KEY,
      maxAudioAheadMs: null,
      closeAfterBegin: { code: 3007, error: 'Audio Transmission Rate Exceeded: Received 2.00 sec. audio in 1.00 sec' },
    });
    try {
      const result = await replay(['--speed', '50', '--no-recap', speechFixture('katiesteve.wav')], { ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: closing.url });
      expect(result.code).toBe(0);
      expect(closing.sessions.length).toBeLessThanOrEqual(5); // 29 s of meeting time
      expect(plainLines(result.stderr)).toEqual([
        expect.stringMatching(/^error: Captions for katiesteve are paused: AssemblyAI rejected the audio timing \(code 3007: Audio Transmission Rate Exceeded: Received 2\.00 sec\. audio in 1\.00 sec\) \(5 times in a row\)/),
      ]);
    } finally {
      await closing.close();
    }
  });
});

describe('npm run replay --translate', () => {
  it('writes translations into transcript.json and a recap.md, against local AssemblyAI and LLM servers', async () => {
    const { startFakeLlmServer } = await import('../fakes/llm-server.ts');
    const aai = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    const llm = await startFakeLlmServer();
    try {
      const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
      const result = await replay(['--speed', '50', '--translate', 'es', '--out', out, `JFK=${speechFixture('jfk.flac')}`], {
        ASSEMBLYAI_API_KEY: TEST_API_KEY,
        ASSEMBLYAI_STREAMING_URL: aai.url,
        LLM_GATEWAY_URL: llm.baseUrl,
        LLM_API_KEY: 'test-llm-key-0123456789',
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      // Each caption is followed directly by its translation.
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < lines.length; i += 2) {
        expect(lines[i]).toMatch(/^\[\d\d:\d\d\.\d\] JFK: (.+)$/);
        const text = /JFK: (.+)$/.exec(lines[i] ?? '')?.[1];
        expect(lines[i + 1]).toBe(`  ↳ es: [es] ${text}`);
      }
      const json = JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson;
      expect(json.turns.length).toBe(lines.length / 2);
      for (const turn of json.turns) expect(turn.translations).toEqual({ es: `[es] ${turn.text}` });
      const recap = await readFile(join(out, 'recap.md'), 'utf8');
      expect(recap).toMatch(/A meeting of \d+ transcript lines/);
      const translationRequests = llm.requests.filter((r) => JSON.stringify(r.body).includes('caption_translations'));
      expect(translationRequests.length).toBeGreaterThanOrEqual(1);
      expect(translationRequests.length).toBeLessThanOrEqual(json.turns.length);
      for (const request of llm.requests) expect(request.headers.authorization).toBe('test-llm-key-0123456789');
      expect((await readdir(out)).sort()).toEqual(['recap.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    } finally {
      await llm.close();
      await aai.close();
    }
  });
});

describe('npm run replay --recap-template', () => {
  it('writes a coaching recap.md whose quotes are lines of the transcript, with the custom prompt in the request', async () => {
    const { startFakeLlmServer } = await import('../fakes/llm-server.ts');
    const aai = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    const llm = await startFakeLlmServer();
    try {
      const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
      const promptFile = join(out, 'prompt.txt');
      await writeFile(promptFile, 'Keep the feedback encouraging.\n');
      const env = { ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: aai.url, LLM_GATEWAY_URL: llm.baseUrl, LLM_API_KEY: 'test-llm-key-0123456789' };
      const result = await replay(['--speed', '50', '--recap-template', 'coach', '--recap-prompt', promptFile, '--out', out, speechFixture('katiesteve.wav')], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const recap = await readFile(join(out, 'recap.md'), 'utf8');
      expect(recap).toContain('## Strengths');
      expect(recap).toContain('## Areas to improve');
      const transcript = JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson;
      const quotes = [...recap.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
      expect(quotes.length).toBeGreaterThan(0);
      for (const quote of quotes) expect(transcript.turns.map((t) => t.text)).toContain(quote);
      const system = JSON.stringify(llm.requests.at(-1)?.body);
      expect(system).toContain('You are a helpful coach');
      expect(system).toContain('Keep the feedback encouraging.');

      const bad = await replay(['--recap-template', 'poem', speechFixture('katiesteve.wav')], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^error: --recap-template must be one of notes, coach, study, tabletop, standup, got "poem"/);
      const missing = await replay(['--recap-prompt', join(out, 'nope.txt'), speechFixture('katiesteve.wav')], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^error: --recap-prompt: cannot read ".*nope\.txt" \(ENOENT\)/);
    } finally {
      await llm.close();
      await aai.close();
    }
  });
});
