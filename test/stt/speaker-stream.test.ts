import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { PCM_FRAME_BYTES, type PcmFrame } from '../../src/audio/format.ts';
import { SpeakerStream } from '../../src/stt/speaker-stream.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';
import { drive, frame, waitForState } from '../support/stt-stream.ts';

/** Frames for `bursts` of tone `burstMs` long with `gapMs` of silence after each, from meeting time `fromMs`. */
function bursts(count: number, burstMs: number, gapMs: number, fromMs = 0): { frames: PcmFrame[]; starts: number[] } {
  const frames: PcmFrame[] = [];
  const starts: number[] = [];
  let t = fromMs;
  for (let b = 0; b < count; b++) {
    starts.push(t);
    for (let i = 0; i < burstMs / 50; i++, t += 50) frames.push(frame(t, true));
    for (let i = 0; i < gapMs / 50; i++, t += 50) frames.push(frame(t, false));
  }
  return { frames, starts };
}

describe('SpeakerStream session lifecycle against the fake AssemblyAI server', () => {
  let server: FakeAssemblyAI | undefined;
  const streams: SpeakerStream[] = [];
  afterEach(async () => {
    for (const s of streams.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  async function setup(serverOptions: Partial<FakeAssemblyAIOptions> = {}, idleCloseMs = 5_000, apiKey = TEST_API_KEY, maxQueuedMs = 60_000) {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, beginDelayMs: 0, terminationDelayMs: 0, ...serverOptions });
    const clock = new VirtualClock();
    const logger = silentLogger();
    const provider = createAssemblyAIProvider(sttConfig(server.url, { apiKey, maxTurnSilenceMs: 400, idleCloseMs, idleCloseMaxMs: 60_000 }), logger);
    const stream = new SpeakerStream({
      speaker: { id: 'u1', name: 'Katie' },
      provider,
      clock,
      logger,
      keyterms: () => ['Parley'],
      idleCloseMs,
      maxAudioAheadMs: null,
      maxQueuedMs,
      reconnect: { limitBaseMs: 100 },
    });
    streams.push(stream);
    const captions: CaptionEvent[] = [];
    stream.on('caption', (c) => captions.push(c));
    return { server, clock, stream, captions, provider };
  }

  it('opens lazily on speech, and loses none of the audio sent while connecting', async () => {
    const { server, stream } = await setup();
    for (let i = 0; i < 10; i++) stream.pushFrame(frame(i * 50, false));
    expect(stream.state).toBe('idle');
    expect(server.sessions).toHaveLength(0);

    const { frames } = bursts(1, 1_000, 0, 500);
    for (const f of frames) stream.pushFrame(f); // all 20 frames arrive before the session has opened
    expect(stream.state).toBe('connecting');
    const session = await server.nextSession();
    await session.waitForAudioMs(1_000);
    expect(session.pcm().equals(Buffer.concat(frames.map((f) => f.pcm)))).toBe(true);
    expect(session.query.get('keyterms_prompt')).toBe('["Parley"]');
    expect(server.violations).toEqual([]);
  });

  it('closes the session with Terminate after the idle time, and reopens on the next speech', async () => {
    const { server, clock, stream } = await setup({}, 3_000);
    for (const f of bursts(1, 500, 500).frames) stream.pushFrame(f);
    const first = await server.nextSession();
    await waitForState(stream, 'open');
    clock.advance(2_999);
    expect(first.terminated).toBe(false);
    clock.advance(1);
    await first.waitForClientMessage((m) => m.type === 'Terminate');
    expect(await first.closed).toMatchObject({ code: 1000 });
    await waitForState(stream, 'idle');
    expect(stream.stats.sessionsOpened).toBe(1);

    for (const f of bursts(1, 300, 0, 10_000).frames) stream.pushFrame(f);
    const second = await server.nextSession();
    await second.waitForAudioMs(300);
    expect(second.index).toBe(1);
    expect(server.violations).toEqual([]);
  });

  it('does not retry a 1008 refusal in a loop, and says why in plain words', async () => {
    const { server, stream } = await setup({}, 5_000, 'wrong-key');
    const fatal = once(stream, 'fatal');
    for (const f of bursts(1, 500, 0).frames) stream.pushFrame(f);
    const [close] = await fatal;
    expect(close).toMatchObject({ code: 1008, action: 'fatal' });
    expect(String((close as { reason: string }).reason)).toMatch(/API key/);
    expect(stream.state).toBe('failed');
    for (const f of bursts(3, 500, 500, 1_000).frames) stream.pushFrame(f);
    expect(stream.state).toBe('failed');
    expect(server.sessions).toHaveLength(1);
    expect(stream.stats.framesDropped).toBeGreaterThan(0);
  });

  it('captions every turn exactly once, in meeting time, across a dropped connection', async () => {
    let killed = false;
    const { server, clock, stream, captions } = await setup({
      onAudio: (session, audioMs) => {
        if (!killed && session.index === 0 && audioMs >= 3_650) {
          killed = true;
          session.kill(); // mid-way through the third burst
        }
      },
    });
    const { frames, starts } = bursts(5, 400, 800, 1_000);
    for (const f of frames) stream.pushFrame(f);
    stream.endOfSpeech();
    await drive(clock, stream.end());

    expect(killed).toBe(true);
    expect(server.sessions.length).toBe(2);
    expect(stream.stats.reconnects).toBe(1);
    expect(stream.stats.framesResent).toBeGreaterThan(0);
    const finals = captions.filter((c) => c.kind === 'final');
    expect(finals.map((c) => c.speaker.name)).toEqual(Array(5).fill('Katie'));
    // One final per burst, each at its burst's meeting time (10 ms VAD windows, one frame of slack).
    expect(finals).toHaveLength(5);
    finals.forEach((c, i) => {
      expect(Math.abs(c.startMs - (starts[i] ?? NaN))).toBeLessThanOrEqual(50);
      expect(Math.abs(c.endMs - ((starts[i] ?? NaN) + 400))).toBeLessThanOrEqual(50);
    });
    expect(server.violations).toEqual([]);
  });

  it('backs off on 3009, keeps a bounded queue, and counts and reports what it had to drop', async () => {
    const { server, clock, stream, provider } = await setup(
      { onConnection: ({ index }) => (index < 2 ? { code: 3009, error: 'Too many concurrent sessions' } : undefined) },
      5_000,
      TEST_API_KEY,
      1_000,
    );
    const notices: string[] = [];
    stream.on('notice', (n) => notices.push(n.text));
    const { frames } = bursts(1, 3_000, 0);
    for (const f of frames) stream.pushFrame(f); // 3 s arrive while no session can take them; 1 s fits the queue
    expect(stream.stats.framesDropped).toBe(40);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/oldest is being dropped/);
    // The refusals' backoff runs on the stream's clock.
    const accepted = await drive(
      clock,
      (async () => {
        await server.nextSession();
        await server.nextSession();
        return server.nextSession();
      })(),
    );
    await accepted.waitForAudioMs(1_000);
    // Exactly the newest second, in order.
    expect(accepted.pcm().equals(Buffer.concat(frames.slice(-20).map((f) => f.pcm)))).toBe(true);
    expect(server.sessions.filter((s) => s.accepted)).toHaveLength(1);
    // Quiet speakers' sessions now stay open longer (5 s doubled twice), so fewer new sessions are needed.
    expect(provider.idleClose.currentMs()).toBe(20_000);
  });

  it('rotates the session before expires_at without losing audio', async () => {
    const { server, clock, stream } = await setup({ sessionTtlS: 120 }, 60_000);
    // Rotation is due 60 s before expires_at (the default margin): 60 s after Begin here.
    const speechIndexes: number[] = [];
    for (let t = 0; t < 90_000; t += 50) {
      clock.advanceTo(t);
      const f = frame(t, t % 2_000 < 1_000);
      f.pcm.writeUInt16LE(t / 50, 0); // a frame number in the first sample, to follow every frame
      if (f.speech) speechIndexes.push(t / 50);
      stream.pushFrame(f);
      if (t === 0) await waitForState(stream, 'open');
      if (t % 5_000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await stream.end();
    expect(server.sessions).toHaveLength(2);
    const [first, second] = server.sessions;
    expect(first?.terminated).toBe(true);
    expect(await first?.closed).toMatchObject({ code: 1000 });
    expect(first?.audioMs).toBeGreaterThanOrEqual(59_000);
    expect(first?.audioMs).toBeLessThanOrEqual(61_000);
    const numbers = (pcm: Buffer) => Array.from({ length: pcm.length / PCM_FRAME_BYTES }, (_, i) => pcm.readUInt16LE(i * PCM_FRAME_BYTES));
    const a = numbers(first?.pcm() ?? Buffer.alloc(0));
    const b = numbers(second?.pcm() ?? Buffer.alloc(0));
    // Each session got a contiguous run of frames, the second starting after the first ended...
    expect(a).toEqual(Array.from({ length: a.length }, (_, i) => i));
    expect(b).toEqual(Array.from({ length: b.length }, (_, i) => (b[0] ?? 0) + i));
    expect(b[0]).toBeGreaterThan(a.at(-1) ?? Infinity);
    // ...and every frame of speech reached one of them.
    const received = new Set([...a, ...b]);
    expect(speechIndexes.filter((n) => !received.has(n))).toEqual([]);
    expect(stream.stats.framesDropped).toBe(0);
    expect(server.violations).toEqual([]);
  });
});
