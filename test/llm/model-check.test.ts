import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkModels } from '../../src/llm/model-check.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeLlmServer, type FakeLlmServer } from '../fakes/llm-server.ts';

const API_KEY = 'aai-test-key-0123456789abcdef';
let server: FakeLlmServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', secrets: [], destination }), records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>), lines };
}

describe('checkModels', () => {
  it('warns once per configured model the gateway does not list, naming it, and stays quiet about listed ones', async () => {
    server = await startFakeLlmServer({ models: ['gemini-2.5-flash-lite', 'claude-sonnet-4-6'] });
    const { logger, records } = capturingLogger();
    const result = await checkModels({
      baseUrl: server.baseUrl,
      apiKey: API_KEY,
      models: ['gemini-2.5-flash-lite', 'gpt-4-retired', 'claude-sonnet-4-6', 'gpt-4-retired', ''],
      logger,
    });
    expect(result).toEqual({ checked: true, missing: ['gpt-4-retired'] });
    const warnings = records().filter((record) => record['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ model: 'gpt-4-retired' });
    expect(String(warnings[0]?.['msg'])).toContain('does not list model gpt-4-retired');
  });

  it('warns once and goes on when the list cannot be read, without the key in the log', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { logger, records, lines } = capturingLogger();
    const result = await checkModels({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, models: ['m'], logger });
    expect(result.checked).toBe(false);
    expect(records().filter((record) => record['level'] === 40)).toHaveLength(1);
    for (const line of lines) expect(line).not.toContain(API_KEY);
  });
});
