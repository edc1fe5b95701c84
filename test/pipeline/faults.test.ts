/**
 * Fault injection on the caption path: the STT connection dying at random points of a real recording, AssemblyAI
 * refusing the key or limiting new sessions, and malformed server messages. Each test asserts that nothing said was
 * lost, or that exactly what was dropped was counted and reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions } from '../fakes/assemblyai-server.ts';
import { CollectingSink, TEST_API_KEY, fixturePackets, replayAgainst } from '../support/pipeline-harness.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';

/** A deterministic pseudo-random sequence (the fault points must be reproducible). */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

/** A final as compared across runs: its meeting times and its words. */
const span = (c: CaptionEvent) => [c.startMs, c.endMs, c.text];

describe('faults on the STT connection, on real speech', () => {
  let server: FakeAssemblyAI | undefined;
  let packets: TimedOpusPacket[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function run(options: Partial<FakeAssemblyAIOptions>) {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, ...options });
    [packets = []] = await fixturePackets('katiesteve.wav');
    const sink = new CollectingSink();
    const result = await replayAgainst(server.url, [{ speaker: { id: 'ks', name: 'KatieSteve' }, packets }], sink, { maxTurnSilenceMs: 600 });
    await server.close();
    return { sink, result, sessions: server.sessions.length, violations: [...server.violations] };
  }

  it('every turn is captioned exactly once when the connection is killed or closed with 3005 at random points', async () => {
    const baseline = await run({});
    expect(baseline.sessions).toBe(1);
    const expected = baseline.sink.finals.map(span);
    expect(expected.length).toBeGreaterThanOrEqual(6);

    for (const seed of [1, 2, 3]) {
      const random = seeded(seed);
      // Three faults per run, at random audio positions of the first 25 s, alternating TCP death and 3005.
      const points = [random(), random(), random()].map((r) => 1_000 + Math.floor(r * 24_000)).sort((a, b) => a - b);
      let next = 0;
      const faulty = await run({
        onAudio: (session, audioMs) => {
          // Positions count each session's own audio (a new session starts with the resent audio).
          const point = points[next];
          if (point === undefined || audioMs < point) return;
          next++;
          if (next % 2 === 1) session.kill();
          else session.fail(3005, 'Internal server error');
        },
      });
      expect(next, `seed ${seed}: faults injected`).toBeGreaterThan(0);
      expect(faulty.sessions).toBe(next + 1);
      expect(faulty.violations).toEqual([]);
      // Same turns with the same words at the same meeting times: no gap, no duplicate, no word lost.
      expect(faulty.sink.finals.map(span), `seed ${seed}`).toEqual(expected);
    }
  });

  it('a malformed or unknown server message is logged and the session goes on', async () => {
    const baseline = await run({});
    const faulty = await run({
      onAudio: (session, audioMs) => {
        if (audioMs === 5_000) {
          session.sendRaw('{not json');
          session.sendRaw('[1,2,3]');
          session.send({ type: 'Turn' });
          session.send({ type: 'BrandNewMessage', x: 1 });
          session.send({ type: 'Turn', turn_order: 'seven', words: 'none' });
        }
      },
    });
    expect(faulty.sessions).toBe(1);
    expect(faulty.sink.finals.map(span)).toEqual(baseline.sink.finals.map(span));
  });

  it('a refused key (1008) is tried once per speaker, never in a loop, and the channel is told once', async () => {
    server = await startFakeAssemblyAI({ apiKey: 'the-right-key-0123456789', maxAudioAheadMs: null });
    const [left = [], right = []] = await fixturePackets('stereo_diarization.wav', true);
    const sink = new CollectingSink();
    const result = await replayAgainst(
      server.url,
      [
        { speaker: { id: 'l', name: 'Left' }, packets: left },
        { speaker: { id: 'r', name: 'Right' }, packets: right },
      ],
      sink,
    );
    expect(result.fatal?.code).toBe(1008);
    expect(server.sessions.length).toBeLessThanOrEqual(2);
    expect(sink.notices.filter((n) => n.level === 'error')).toHaveLength(1);
    expect(sink.notices[0]?.text).toMatch(/API key is wrong or the account has no balance/);
    expect(sink.captions).toEqual([]);
  });
});
