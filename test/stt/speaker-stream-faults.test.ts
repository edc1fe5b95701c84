/**
 * One speaker's STT against a fake AssemblyAI server that misbehaves as the real one can: sessions closed right after
 * Begin, refused upgrades, half-open connections, noise that never yields a word, a process-wide session budget,
 * and the Warning / Begin messages it sends. Time is a virtual clock driven by the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { SpeakerStream, type SpeakerStreamOptions } from '../../src/stt/speaker-stream.ts';
import { createAssemblyAIProvider, type ProviderTuning, type SttProvider } from '../../src/stt/provider.ts';
import type { SttConfig } from '../../src/config.ts';
import type { CaptionEvent, Notice } from '../../src/captions/caption.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY, sttConfig } from '../support/pipeline-harness.ts';
import { drive, frame, waitForState } from '../support/stt-stream.ts';
import { setImmediate as yieldToIo } from 'node:timers/promises';

let server: FakeAssemblyAI | undefined;
const streams: SpeakerStream[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

interface Setup {
  server: FakeAssemblyAI;
  clock: VirtualClock;
  provider: SttProvider;
  logger: Logger;
}

async function setup(fake: Partial<FakeAssemblyAIOptions> = {}, config: Partial<SttConfig> = {}, tuning: ProviderTuning = {}, logger: Logger = silentLogger()): Promise<Setup> {
  server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, beginDelayMs: 0, terminationDelayMs: 0, ...fake });
  const clock = new VirtualClock();
  const provider = createAssemblyAIProvider(sttConfig(server.url, { maxTurnSilenceMs: 400, idleCloseMs: 5_000, idleCloseMaxMs: 15_000, ...config }), logger, {
    budgetClock: clock,
    ...tuning,
  });
  return { server, clock, provider, logger };
}

function speakerStream(s: Setup, id = 'u1', options: Partial<SpeakerStreamOptions> = {}) {
  const stream = new SpeakerStream({
    speaker: { id, name: `Speaker ${id}` },
    provider: s.provider,
    clock: s.clock,
    logger: s.logger,
    keyterms: () => [],
    idleCloseMs: () => s.provider.idleClose.currentMs(),
    maxAudioAheadMs: null,
    ...options,
  });
  streams.push(stream);
  const captions: CaptionEvent[] = [];
  const notices: Notice[] = [];
  stream.on('caption', (c) => captions.push(c));
  stream.on('notice', (n) => notices.push(n));
  return { stream, captions, notices };
}

/**
 * Pushes `totalMs` of frames from meeting time `fromMs`: `speechMs` of tone then `pauseMs` of silence, repeating,
 * advancing the clock with each frame and letting socket I/O run every `yieldEveryMs`.
 */
async function talk(clock: VirtualClock, stream: SpeakerStream, fromMs: number, totalMs: number, speechMs = 1_000, pauseMs = 500, yieldEveryMs = 500) {
  for (let t = fromMs; t < fromMs + totalMs; t += 50) {
    clock.advanceTo(t);
    stream.pushFrame(frame(t, (t - fromMs) % (speechMs + pauseMs) < speechMs));
    if (t % yieldEveryMs === 0) await yieldToIo();
  }
}

describe('a server that closes every session with 3007 right after Begin', () => {
  it('opens at most a handful of sessions per minute and says once, with AssemblyAI’s reason, that captions are paused', async () => {
    const opened: number[] = [];
    let clock: VirtualClock | undefined;
    const s = await setup({
      closeAfterBegin: { code: 3007, error: 'Audio Transmission Rate Exceeded: Received 3.00 sec. audio in 1.00 sec' },
      onConnection: () => {
        opened.push(clock?.now() ?? 0);
        return undefined;
      },
    });
    clock = s.clock;
    const { stream, notices } = speakerStream(s);
    // Two minutes of steady talk: every session fails at once, whatever the backoff.
    await talk(s.clock, stream, 0, 120_000, 1_000, 200, 100);
    const firstMinute = opened.filter((t) => t < 60_000).length;
    expect(firstMinute).toBeGreaterThanOrEqual(2);
    expect(firstMinute).toBeLessThanOrEqual(5);
    expect(opened.length).toBeLessThanOrEqual(7);
    const paused = notices.filter((n) => /paused/.test(n.text));
    expect(paused.length).toBeGreaterThanOrEqual(1);
    expect(paused.length).toBeLessThanOrEqual(2); // one per opening of the breaker (60 s cooldown)
    expect(paused[0]?.text).toMatch(/code 3007: Audio Transmission Rate Exceeded: Received 3\.00 sec\. audio in 1\.00 sec/);
    expect(notices.filter((n) => /key/i.test(n.text))).toEqual([]);
    expect(stream.stats.breakerOpened).toBeGreaterThanOrEqual(1);
  });
});

describe('a refused upgrade', () => {
  it('is not retried when the answer is HTTP 400, and nobody is told the key is wrong', async () => {
    const s = await setup({ refuseUpgrade: { status: 400, body: '{"error":"Invalid sample_rate"}' } });
    const { stream } = speakerStream(s);
    const fatal = new Promise<{ reason: string; code: number }>((resolve) => stream.once('fatal', resolve));
    for (let t = 0; t < 1_000; t += 50) stream.pushFrame(frame(t, true));
    const close = await drive(s.clock, fatal);
    expect(close.code).toBe(400);
    expect(close.reason).toMatch(/HTTP 400: \{"error":"Invalid sample_rate"\}/);
    expect(close.reason).not.toMatch(/key/i);
    // Let any retry that would follow happen, past the longest backoff (60 s), socket I/O running between steps: there is none.
    for (let t = 0; t < 120_000; t += 50) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      s.clock.advance(50);
    }
    expect(s.server.refusedUpgrades).toBe(1);
  });
});

describe('a connection that goes half-open mid-speech', () => {
  it('is found dead by the watchdog (no message while speech is sent), reconnected, and the unconfirmed audio resent', async () => {
    let halfOpenAt: number | undefined;
    const s = await setup(
      {
        onAudio: (session, audioMs) => {
          if (session.index === 0 && audioMs >= 3_000 && !session.isHalfOpen) {
            halfOpenAt = audioMs;
            session.halfOpen();
          }
        },
      },
      { idleCloseMs: 60_000, idleCloseMaxMs: 60_000 },
      { pingIntervalMs: 0 }, // the watchdog alone
    );
    const { stream, captions } = speakerStream(s, 'u1', { watchdogMs: 10_000 });
    await talk(s.clock, stream, 0, 30_000, 1_000, 500, 50);
    expect(halfOpenAt).toBeDefined();
    // Noticed within the watchdog's bound, long before the end: a second session carries on.
    expect(s.server.sessions.length).toBe(2);
    expect(stream.stats.reconnects).toBe(1);
    expect(stream.stats.framesResent).toBeGreaterThan(0);
    await drive(s.clock, stream.end());
    // Every burst of the 30 s (20 of them) is captioned once.
    expect(captions.filter((c) => c.kind === 'final')).toHaveLength(20);
  });

  it('is found dead by an unanswered WebSocket ping even when no speech is being sent', async () => {
    const s = await setup({}, { idleCloseMs: 60_000, idleCloseMaxMs: 60_000 }, { pingIntervalMs: 100 });
    const { stream } = speakerStream(s);
    for (let t = 0; t < 1_000; t += 50) stream.pushFrame(frame(t, true));
    const first = await s.server.nextSession();
    await first.waitForAudioMs(1_000);
    await waitForState(stream, 'open');
    first.halfOpen();
    // No clock time passes: only the real-time ping can notice. The drop leaves speech unconfirmed, so it reconnects
    // (after the policy's backoff, on the stream's clock).
    await waitForState(stream, 'connecting');
    const second = await drive(s.clock, s.server.nextSession());
    expect(second.index).toBe(1);
    await second.waitForAudioMs(1_000);
  });
});

describe('noise that never yields a word', () => {
  it('keeps at most 60 s of audio for a resend, and counts what it forgot', async () => {
    const MINUTES = 60;
    const s = await setup({ recognizer: () => [] }, { idleCloseMs: 60_000, idleCloseMaxMs: 60_000 });
    const { stream } = speakerStream(s);
    let maxBuffered = 0;
    // An hour of sound (1 s on, 0.5 s off, so the fake's turns end) in one session: no final ever has a word, so
    // none confirms any of it.
    for (let minute = 0; minute < MINUTES; minute++) {
      await talk(s.clock, stream, minute * 60_000, 60_000, 1_000, 500, 5_000);
      maxBuffered = Math.max(maxBuffered, stream.bufferedFrames);
    }
    expect(s.server.sessions).toHaveLength(1);
    expect(maxBuffered).toBeLessThanOrEqual(1_200 + 100); // 60 s of 50 ms frames, plus what is queued
    expect(stream.stats.framesNotKept).toBeGreaterThan((MINUTES * 1_200 * 2) / 3 - 1_300); // two thirds of the frames are sound
    await drive(s.clock, stream.end());
  }, 180_000);
});

describe('the process-wide new-session budget', () => {
  it('never opens more sessions per minute than allowed across meetings; waiting speakers keep their audio', async () => {
    const s = await setup({}, { newSessionsPerMinute: 3, idleCloseMs: 120_000, idleCloseMaxMs: 120_000 });
    // Five speakers (as if from two meetings) start talking at once.
    const all = ['a1', 'a2', 'a3', 'b1', 'b2'].map((id) => speakerStream(s, id));
    const sent = new Map<string, Buffer[]>();
    for (let t = 0; t < 2_000; t += 50) {
      for (const { stream } of all) {
        const f = frame(t, true);
        f.pcm.writeUInt16LE(t / 50, 0);
        (sent.get(stream.speaker.id) ?? sent.set(stream.speaker.id, []).get(stream.speaker.id))?.push(f.pcm);
        stream.pushFrame(f);
      }
    }
    const firstThree = await Promise.all([s.server.nextSession(), s.server.nextSession(), s.server.nextSession()]);
    await Promise.all(firstThree.map((session) => session.waitForAudioMs(2_000)));
    for (let t = 0; t < 59_000; t += 500) {
      s.clock.advance(500);
      await yieldToIo();
    }
    expect(s.server.sessions).toHaveLength(3);
    expect(all.filter(({ stream }) => stream.state === 'connecting')).toHaveLength(2);
    expect(s.provider.budget.short).toBe(true);
    // Quiet speakers' sessions stay open as long as allowed while the budget is short.
    expect(s.provider.idleClose.currentMs()).toBe(120_000);
    const later = await drive(s.clock, Promise.all([s.server.nextSession(), s.server.nextSession()]));
    await Promise.all(later.map((session) => session.waitForAudioMs(2_000)));
    expect(s.clock.now()).toBeGreaterThanOrEqual(60_000);
    // Each late speaker's session got exactly the audio they spoke while waiting.
    for (const session of later) {
      const owner = all.find(({ stream }) => stream.stats.sessionsOpened === 1 && session.pcm().equals(Buffer.concat(sent.get(stream.speaker.id) ?? [])));
      expect(owner).toBeDefined();
    }
    expect(s.server.violations).toEqual([]);
  });
});

describe('what AssemblyAI says', () => {
  it('logs Warning messages at warn, and the model and configuration from Begin once per session', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const s = await setup(
      { warnings: [{ code: 1, warning: 'keyterms_prompt: 3 terms ignored' }], beginConfiguration: { model: 'universal-3-5-pro', mode: 'balanced' } },
      {},
      {},
      logger,
    );
    const { stream } = speakerStream(s);
    for (let t = 0; t < 1_000; t += 50) stream.pushFrame(frame(t, true));
    const session = await s.server.nextSession();
    await session.waitForAudioMs(1_000);
    expect(session.query.get('inactivity_timeout')).toBe('75'); // 15 s longest idle close + 60 s
    const warnings = lines.filter((l) => l.msg === 'AssemblyAI sent a Warning');
    expect(warnings).toEqual([expect.objectContaining({ level: 40, warningCode: 1, warning: 'keyterms_prompt: 3 terms ignored', speakerId: 'u1' })]);
    const begins = lines.filter((l) => l.msg === 'AssemblyAI session began');
    expect(begins).toEqual([expect.objectContaining({ level: 30, sessionId: session.id, speechModel: 'u3-rt-pro', configuration: { model: 'universal-3-5-pro', mode: 'balanced' } })]);
  });
});
