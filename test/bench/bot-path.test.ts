/**
 * Smoke test of the bot-path bench part on tiny inputs: two members for a few seconds through the whole bot in its
 * own process (DAVE + transport-encrypted UDP in, wss:// out), profiled. It must produce finite figures, the run's
 * own checks must hold (every packet DAVE-encrypted, the decoded speech delivered whole), and the profile must see
 * the path's parts. No timing assertions: the figures come from `npm run bench` on a quiet machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { checkRun, figuresOf, measureBotPath, profileFigures, type BotPathRun } from '../../bench/parts/bot-path.ts';
import { summarize } from '../../bench/lib/cpu-profile.ts';

const voiceUrl = pathToFileURL(createRequire(import.meta.url).resolve('@discordjs/voice').replace(/index\.js$/, 'index.mjs')).href;

describe('CPU profile summary', () => {
  it('groups samples by the innermost deciding frame, leaves idle and out-of-window samples out', () => {
    const frame = (id: number, functionName: string, url: string, lineNumber: number, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber }, children });
    // Lines (0-based) inside @discordjs/voice 0.19.2's bundled classes: 1990 VoiceReceiver.decrypt, 888 DAVESession.decrypt.
    const nodes = [
      frame(1, '(root)', '', -1, [2, 3, 4, 8, 9, 10]),
      frame(2, '(idle)', '', -1),
      frame(3, '(garbage collector)', '', -1),
      frame(4, 'parsePacket', voiceUrl, 2032, [5, 7]),
      frame(5, 'decrypt', voiceUrl, 1989, [6]),
      frame(6, 'getKeyObjectSlots', 'node:internal/crypto/keys', 227),
      frame(7, 'decrypt', voiceUrl, 887),
      frame(8, 'floatToS16le', 'file:///repo/src/audio/opus-decoder.ts', 115),
      frame(9, 'wasm-function[17]', 'wasm://wasm/0005b7d6', 0),
      frame(10, 'writeBuffer', '', -1),
    ];
    // One sample per ms from t=1000; the window is [1000, 1010): ids 6 ×3, 7, 8 ×2, 9, 3, 2 (idle) ×2; then outside: 8 ×5.
    const samples = [6, 6, 6, 7, 8, 8, 9, 3, 2, 2, 8, 8, 8, 8, 8];
    const profile = { nodes, startTime: 999, endTime: 1_015, samples, timeDeltas: samples.map(() => 1) };
    const summary = summarize(profile, 1_000, 1_010, 80);
    const share = (name: string) => summary.groups.find((g) => g.name.startsWith(name))?.share;
    expect(summary.busySamples).toBe(8);
    expect(share('transport decrypt')).toBeCloseTo(3 / 8);
    expect(share('DAVE decrypt')).toBeCloseTo(1 / 8);
    expect(share('Parley src/audio/**')).toBeCloseTo(2 / 8);
    expect(share('libopus decode')).toBeCloseTo(1 / 8);
    expect(share('GC')).toBeCloseTo(1 / 8);
    expect(summary.groups.find((g) => g.name.startsWith('transport'))?.ms).toBeCloseTo(30);
    expect(profileFigures({ file: '', ...summary }).bot_parley_own_share).toBeCloseTo(0.25, 2);
  });
});

describe('bot-path part on tiny inputs', () => {
  it('runs two members through the whole bot, profiled, and reports figures only for a run that counts', { timeout: 150_000 }, async () => {
    const profileDir = await mkdtemp(join(tmpdir(), 'parley-bot-path-test-'));
    let run: BotPathRun;
    try {
      run = await measureBotPath({ speakers: 2, durationMs: 9_000, warmupMs: 2_000, profileDir });
    } finally {
      await rm(profileDir, { recursive: true, force: true });
    }
    expect(() => checkRun(run)).not.toThrow();
    expect(run.dave.sent).toBe(run.packetsSent);
    expect(run.speechDeliveredShare).toBeGreaterThan(0.99);
    expect(run.sttSessions).toBeGreaterThanOrEqual(2);
    const figures = figuresOf(run);
    for (const key of ['bot_speakers_per_core', 'decode_speakers_per_core', 'bot_path_vs_decode_ratio']) {
      expect(Number.isFinite(figures[key]), key).toBe(true);
      expect(figures[key], key).toBeGreaterThan(0);
    }
    const groups = new Set(run.profile?.groups.map((g) => g.name.split(' ')[0]));
    for (const part of ['libopus', 'transport', 'DAVE', 'Parley']) expect(groups.has(part), part).toBe(true);

    // The same run with a member's speech cut short, or a packet sent in the clear, does not count.
    expect(() => checkRun({ ...run, speechDeliveredShare: 0.98 })).toThrow(/decoded speech/);
    expect(() => checkRun({ ...run, dave: { ...run.dave, unencrypted: 1 } })).toThrow(/unencrypted/);
  });
});
