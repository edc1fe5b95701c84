/**
 * The fake AssemblyAI server's handshake timing and injected faults (`assemblyai/faults.ts`), checked with a bare
 * WebSocket probe. Waits are on events; times are only checked as lower bounds (a timer never fires early).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE, startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions } from './assemblyai-server.ts';
import { connectProbe, frames, silence, tone, type Probe } from './assemblyai/probe-client.ts';

const KEY = 'fake-faults-key-0123456789';
/** Node timers may fire up to 1 ms before their delay on some platforms; allow for rounding. */
const TIMER_SLACK_MS = 2;

let fake: FakeAssemblyAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function connect(options: Partial<FakeAssemblyAIOptions>): Promise<{ server: FakeAssemblyAI; probe: Probe; openedAt: number }> {
  fake = await startFakeAssemblyAI({ apiKey: KEY, maxAudioAheadMs: null, ...options });
  const probe = connectProbe(fake.url, { authorization: KEY });
  await probe.opened;
  return { server: fake, probe, openedAt: performance.now() };
}

function sendAudio(probe: Probe, audio: Buffer): void {
  for (const frame of frames(audio, 50)) probe.ws.send(frame);
}

describe('handshake timing', () => {
  it('sends Begin beginDelayMs after the upgrade, and processes audio sent meanwhile once it has', async () => {
    const { server, probe, openedAt } = await connect({ beginDelayMs: 400 });
    sendAudio(probe, silence(200)); // too early: waits, unread, like TCP data the service has not read yet
    await probe.waitFor((m) => m['type'] === 'Begin');
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(400 - TIMER_SLACK_MS);
    const [session] = server.sessions;
    expect(await session?.waitForAudioMs(200)).toBe(200);
    expect(server.violations).toEqual([]);
  });

  it('defaults to 300 ms before Begin', async () => {
    const { probe, openedAt } = await connect({});
    await probe.waitFor((m) => m['type'] === 'Begin');
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it('answers Terminate with the last final and Termination terminationDelayMs later', async () => {
    const { probe } = await connect({ beginDelayMs: 0, terminationDelayMs: 500 });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sendAudio(probe, tone(500));
    const terminatedAt = performance.now();
    probe.sendJson({ type: 'Terminate' });
    expect((await probe.closed).code).toBe(CLOSE.normal);
    expect(performance.now() - terminatedAt).toBeGreaterThanOrEqual(500 - TIMER_SLACK_MS);
    expect(probe.messages.at(-2)).toMatchObject({ type: 'Turn', end_of_turn: true });
    expect(probe.messages.at(-1)?.['type']).toBe('Termination');
  });
});

describe('audioFaults', () => {
  it('drop: destroys the TCP connection once the session has the given audio; the client sees 1006', async () => {
    const { server, probe } = await connect({ beginDelayMs: 0, audioFaults: [{ kind: 'drop', session: 0, afterAudioMs: 300 }] });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sendAudio(probe, tone(1_000));
    expect(await probe.closed).toEqual({ code: 1006, reason: '' });
    expect(server.sessions[0]?.audioMs).toBe(300);
    expect(server.violations).toEqual([]);
  });

  it('close: sends Error with the code, then closes with it', async () => {
    const { server, probe } = await connect({
      beginDelayMs: 0,
      audioFaults: [{ kind: 'close', session: 0, afterAudioMs: 300, code: CLOSE.serverError, error: 'Session Cancelled: An error occurred' }],
    });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sendAudio(probe, tone(1_000));
    expect(await probe.closed).toEqual({ code: 3005, reason: 'Session Cancelled: An error occurred' });
    expect(probe.messages.at(-1)).toEqual({ type: 'Error', error_code: 3005, error: 'Session Cancelled: An error occurred' });
    expect(server.violations).toEqual([]);
  });

  it('faults only the session they name', async () => {
    const { server, probe } = await connect({ beginDelayMs: 0, audioFaults: [{ kind: 'drop', session: 1, afterAudioMs: 100 }] });
    await probe.waitFor((m) => m['type'] === 'Begin');
    sendAudio(probe, tone(500));
    probe.sendJson({ type: 'Terminate' });
    expect((await probe.closed).code).toBe(CLOSE.normal);
    const second = connectProbe(server.url, { authorization: KEY });
    await second.waitFor((m) => m['type'] === 'Begin');
    sendAudio(second, tone(500));
    expect((await second.closed).code).toBe(1006);
  });

  it('stall then recover: reads and answers nothing for forMs, then everything sent meanwhile', async () => {
    const { server, probe } = await connect({ beginDelayMs: 0, terminationDelayMs: 0, audioFaults: [{ kind: 'stall', session: 0, afterAudioMs: 200, forMs: 800, then: 'recover' }] });
    await probe.waitFor((m) => m['type'] === 'Begin');
    const stalledFrom = performance.now();
    sendAudio(probe, tone(600));
    probe.sendJson({ type: 'Terminate' });
    expect((await probe.closed).code).toBe(CLOSE.normal);
    expect(performance.now() - stalledFrom).toBeGreaterThanOrEqual(800 - TIMER_SLACK_MS);
    expect(server.sessions[0]?.audioMs).toBe(600);
    expect(probe.messages.at(-1)?.['type']).toBe('Termination');
    expect(server.violations).toEqual([]);
  });

  it('stall then drop: answers nothing, then drops the connection', async () => {
    const { server, probe } = await connect({ beginDelayMs: 0, audioFaults: [{ kind: 'stall', session: 0, afterAudioMs: 200, forMs: 500, then: 'drop' }] });
    await probe.waitFor((m) => m['type'] === 'Begin');
    const stalledFrom = performance.now();
    sendAudio(probe, tone(600));
    probe.sendJson({ type: 'Terminate' });
    expect(await probe.closed).toEqual({ code: 1006, reason: '' });
    expect(performance.now() - stalledFrom).toBeGreaterThanOrEqual(500 - TIMER_SLACK_MS);
    expect(probe.messages.map((m) => m['type'])).not.toContain('Termination');
    expect(server.violations).toEqual([]);
  });
});
