/**
 * Replay's drain is bounded: when the pipeline has not drained within `drainTimeoutMs`, `runReplay` drops the
 * sessions still open (none is left billing) and throws a `ReplayDrainError` naming who was pending.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { encodeDiscordOpus } from '../../src/replay/discord-opus.ts';
import { ReplayDrainError, runReplay } from '../../src/replay/replay.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { writeExcerpt } from '../support/excerpt.ts';
import { CollectingSink, sttConfig, TEST_API_KEY } from '../support/pipeline-harness.ts';

describe('replay drain bound', () => {
  let server: FakeAssemblyAI | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('drops the open session and throws a ReplayDrainError when Terminate is not answered within the bound', async () => {
    // The service takes 30 s to flush: longer than the 1 s bound, and than the client's own 5 s Terminate deadline.
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, terminationDelayMs: 30_000 });
    const dir = await mkdtemp(join(tmpdir(), 'parley-drain-'));
    const audio = await readAudioFile(await writeExcerpt('katiesteve.wav', 0, 1.5, dir));
    const logger = silentLogger();
    const config = sttConfig(server.url);
    const replay = runReplay({
      tracks: [{ speaker: { id: 'katie', name: 'Katie' }, packets: await encodeDiscordOpus(audio) }],
      provider: createAssemblyAIProvider(config, logger),
      speed: 20,
      logger,
      sinks: [new CollectingSink()],
      keyterms: [],
      idleCloseMs: 60_000,
      maxTurnSilenceMs: config.maxTurnSilenceMs,
      maxAudioAheadMs: null,
      drainTimeoutMs: 1_000,
    });
    const error = await replay.then(
      () => undefined,
      (e: unknown) => e,
    );
    const thrownAt = performance.now();
    expect(error).toBeInstanceOf(ReplayDrainError);
    expect((error as Error).message).toMatch(
      /^replay did not finish within 1 s of the recording's end: still waiting for Katie \(session terminating, \d+\.\d s of audio held\)\. Its sessions were closed without their last captions\.$/,
    );
    const [session] = server.sessions;
    expect(session?.terminated).toBe(true);
    // Dropped at once, not left to the client's own Terminate deadline (5 s after Terminate, 4 s after the error).
    expect(await session?.closed).toEqual({ code: 1006, reason: '' });
    expect(performance.now() - thrownAt).toBeLessThan(3_000);
    expect(server.sessions).toHaveLength(1);
  });
});
