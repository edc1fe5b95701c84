import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { SessionBudget } from '../../src/stt/session-budget.ts';
import { ReconnectPolicy } from '../../src/stt/reconnect-policy.ts';
import { IdleClosePolicy } from '../../src/stt/idle-close-policy.ts';

describe('SessionBudget', () => {
  it('grants at most perMinute slots in any 60 s window, first come first served, and lets a waiter abort', async () => {
    const clock = new VirtualClock();
    const budget = new SessionBudget({ perMinute: 2, clock });
    const granted: Array<[string, number]> = [];
    const take = (name: string, signal = new AbortController().signal) =>
      budget.acquire(signal).then(
        () => granted.push([name, clock.now()]),
        (error: Error) => granted.push([`${name} ${error.name}`, clock.now()]),
      );
    const aborted = new AbortController();
    const all = [take('a'), take('b'), take('c'), take('d', aborted.signal), take('e')];
    await Promise.resolve();
    clock.advance(10_000);
    aborted.abort();
    await Promise.resolve();
    for (let t = 0; t < 130; t++) {
      clock.advance(1_000);
      await Promise.resolve();
    }
    await Promise.all(all);
    expect(granted).toEqual([
      ['a', 0],
      ['b', 0],
      ['d AbortError', 10_000],
      ['c', 60_000],
      ['e', 60_000],
    ]);
    expect(budget.remaining()).toBe(2);
  });

  it('is short while someone waits or less than a fifth is left', async () => {
    const clock = new VirtualClock();
    const budget = new SessionBudget({ perMinute: 10, clock });
    const signal = new AbortController().signal;
    for (let i = 0; i < 8; i++) await budget.acquire(signal);
    expect(budget.short).toBe(false);
    await budget.acquire(signal);
    expect(budget.short).toBe(true); // 1 of 10 left
    clock.advance(60_000);
    expect(budget.short).toBe(false);
  });
});

describe('ReconnectPolicy', () => {
  it('backs off with jitter and opens the breaker after 5 failures: at most 5 attempts a minute, whatever happens', () => {
    for (const random of [() => 0, () => 0.999, Math.random]) {
      const policy = new ReconnectPolicy({ random });
      let now = 0;
      const attempts: number[] = [];
      // Every attempt fails at once; after the breaker opens, the next attempt is made as soon as it allows.
      for (let i = 0; i < 40 && now < 10 * 60_000; i++) {
        attempts.push(now);
        const outcome = policy.onFailure(now);
        if (outcome.kind === 'retry') {
          expect(outcome.delayMs).toBeGreaterThanOrEqual(500);
          expect(outcome.delayMs).toBeLessThanOrEqual(30_000);
          now += outcome.delayMs;
        } else {
          expect(policy.isOpen(now)).toBe(true);
          now += outcome.cooldownMs;
          expect(policy.isOpen(now)).toBe(false);
        }
      }
      for (const start of attempts) expect(attempts.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(5);
    }
  });

  it('waits longer after session-limit refusals, without tripping the breaker, and resets when healthy', () => {
    const policy = new ReconnectPolicy({ random: () => 1 });
    expect([policy.onLimited(), policy.onLimited(), policy.onLimited(), policy.onLimited(), policy.onLimited(), policy.onLimited()]).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    expect(policy.isOpen(0)).toBe(false);
    policy.onFailure(0);
    policy.onHealthy();
    expect(policy.failures).toBe(0);
    expect(policy.onLimited()).toBe(5_000);
  });
});

describe('IdleClosePolicy under budget pressure', () => {
  it('keeps sessions open as long as allowed while new sessions are scarce', () => {
    let short = false;
    const policy = new IdleClosePolicy({ baseMs: 2_000, maxMs: 15_000, pressure: () => short });
    expect(policy.currentMs()).toBe(2_000);
    short = true;
    expect(policy.currentMs()).toBe(15_000);
    short = false;
    expect(policy.currentMs()).toBe(2_000);
  });
});
