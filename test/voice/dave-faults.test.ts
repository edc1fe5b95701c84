/**
 * Parley's voice link through every DAVE v1 fault the stand-in injects, in-process against the real discord.js and
 * @discordjs/voice 0.19.2: Katie talks without a pause while the fault happens. Nothing may throw out of the
 * voice library (vitest fails a file on an uncaught exception), no still-encrypted frame may reach Parley as
 * Opus, membership changes lose nothing, and every fault ends with her speech arriving again.
 *
 * Loss and recovery times are measured by test/voice/dave-table.ts (README "DAVE"), not asserted here: they
 * depend on the machine's load.
 */
import { describe, expect, it } from 'vitest';
import { ParleyMetrics } from '../../src/ops/metrics.ts';
import { VOICE_NOTICES } from '../../src/voice/voice-link.ts';
import { runScenario, type Scenario } from './support/dave-scenario.ts';

const LOSSLESS: Scenario[] = ['steady', 'member-joins', 'member-leaves', 'bot-commit-wins', 'group-recreated'];
/** Whose commit the stand-in broadcast last: the first valid one of its epoch. */
const WINNER: Partial<Record<Scenario, string>> = { 'bot-commit-wins': 'bot' };
const FAULTS: Scenario[] = [
  'late-join',
  'lose-commit',
  'corrupt-commit',
  'lose-welcome',
  'corrupt-welcome',
  'transition-id-zero',
  'lose-execute',
  'stale-proposals',
  'unencrypted-frames',
];

describe('Parley under DAVE v1 faults', () => {
  it.each(LOSSLESS)('%s: every packet of the speaker arrives, as the Opus she sent', async (scenario) => {
    const result = await runScenario(scenario, 'parley');
    expect(result.sent).toBe(250);
    expect(result).toMatchObject({ delivered: result.sent, garbage: 0, recovered: true, notices: [] });
    // Who won the commit race: the stand-in broadcasts the first valid commit of the epoch.
    expect(result.commits.at(-1)).toBe(WINNER[scenario] ?? 'member');
  });

  it('rejoins the channel when re-initialising DAVE twice does not help, tells the channel once, and hears the speaker again', async () => {
    const result = await runScenario('welcome-lost-thrice', 'parley');
    expect(result.steps).toEqual(['DAVE passthrough', 'DAVE reinit', 'DAVE reinit', 'DAVE rejoin']);
    expect(result.notices).toEqual([VOICE_NOTICES.rejoined]);
    expect(result).toMatchObject({ garbage: 0, recovered: true });
  });

  it('tells the channel what failed and what to try when even rejoining does not bring the keys back', async () => {
    const result = await runScenario('welcome-never-arrives', 'parley');
    expect(result.notices).toEqual([VOICE_NOTICES.rejoined, VOICE_NOTICES.gaveUp]);
    expect(result.steps.filter((s) => s === 'DAVE rejoin')).toHaveLength(1);
    expect(result.garbage).toBe(0);
  });

  it.each(FAULTS)('%s: no encrypted frame passes as Opus and the speaker is heard again', async (scenario) => {
    const result = await runScenario(scenario, 'parley');
    expect(result.garbage).toBe(0);
    expect(result.recovered, JSON.stringify(result)).toBe(true);
    expect(result.delivered).toBeGreaterThan(0);
  });

  it('heals a stale-epoch exception by re-initialising DAVE, and counts it in /metrics', async () => {
    const zero = () => 0;
    const metrics = new ParleyMetrics({ activeMeetings: zero, speakers: zero, sttSessionsOpen: zero, sttReconnects: zero, corruptPackets: zero, droppedFrames: zero, llmErrors: zero, decoderFailures: zero });
    const before = await totals(metrics);
    const stale = await runScenario('stale-proposals', 'parley');
    expect(stale.steps).toContain('DAVE reinit');
    expect(stale.recovered).toBe(true);
    const after = await totals(metrics);
    expect(after['parley_voice_contained_errors_total']).toBe((before['parley_voice_contained_errors_total'] ?? 0) + 1);
    expect(after['parley_voice_recoveries_total']).toBeGreaterThan(before['parley_voice_recoveries_total'] ?? 0);
    expect(after['parley_voice_undecryptable_frames_total']).toBeGreaterThan(before['parley_voice_undecryptable_frames_total'] ?? 0);
  });
});

/** The parley_voice_* counters as /metrics shows them. */
async function totals(metrics: ParleyMetrics): Promise<Record<string, number>> {
  const text = await metrics.registry.metrics();
  const out: Record<string, number> = {};
  for (const [, name = '', value = ''] of text.matchAll(/^(parley_voice_\w+) (\d+)$/gm)) out[name] = Number(value);
  return out;
}
