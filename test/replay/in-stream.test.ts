/**
 * `npm run replay --translate` with `TRANSLATION_MODE=in-stream`: the session carries `llm_gateway`, the fake
 * AssemblyAI server asks the fake LLM Gateway for each final turn, and the replay prints and stores the answers;
 * the replay itself makes no translation request.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { inStreamPayload, startFakeLlmServer } from '../fakes/llm-server.ts';
import { speechFixture } from '../support/fixtures.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';

const run = promisify(execFile);
const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

describe('npm run replay --translate, in-stream', () => {
  it("prints and stores AssemblyAI's in-stream translations, one server-side request per final", async () => {
    const llm = await startFakeLlmServer();
    const aai = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, llmGatewayUrl: llm.baseUrl });
    try {
      const out = await mkdtemp(join(tmpdir(), 'parley-replay-'));
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: aai.url, LLM_GATEWAY_URL: llm.baseUrl, TRANSLATION_MODE: 'in-stream' };
      const { stdout, stderr } = await run(process.execPath, [CLI, '--speed', '50', '--translate', 'es,de', '--out', out, `JFK=${speechFixture('jfk.flac')}`], { env, cwd: tmpdir() });
      expect(stderr).toBe('');
      const json = JSON.parse(await readFile(join(out, 'transcript.json'), 'utf8')) as TranscriptJson;
      expect(json.turns.length).toBeGreaterThanOrEqual(1);
      for (const turn of json.turns) expect(turn.translations).toEqual({ es: `[es] ${turn.text}`, de: `[de] ${turn.text}` });
      expect(stdout).toContain(`  ↳ es: [es] ${json.turns[0]?.text}`);
      expect(aai.sessions.every((s) => JSON.parse(s.query.get('llm_gateway') ?? '{}').model === 'gemini-2.5-flash-lite')).toBe(true);
      const asked = llm.requests.map((r) => inStreamPayload((r.body as { messages: unknown[] }).messages));
      expect(asked.flatMap((p) => (p === undefined ? [] : [p.text]))).toEqual(json.turns.map((t) => t.text));
      // Besides them only the recap (--out writes recap.md): no translation request of the replay's own.
      expect(llm.requests.filter((r) => JSON.stringify(r.body).includes('caption_translations'))).toEqual([]);
      expect(aai.violations).toEqual([]);
    } finally {
      await aai.close();
      await llm.close();
    }
  });
});
