import { describe, expect, it } from 'vitest';
import { IdleClosePolicy } from '../../src/stt/idle-close-policy.ts';

describe('IdleClosePolicy', () => {
  it('starts at the base, doubles on each 3009 up to the maximum, and relaxes back without one', () => {
    let now = 0;
    const policy = new IdleClosePolicy({ baseMs: 2_000, maxMs: 15_000, relaxAfterMs: 600_000, now: () => now });
    expect(policy.currentMs()).toBe(2_000);
    policy.onTooManySessions();
    expect(policy.currentMs()).toBe(4_000);
    policy.onTooManySessions();
    policy.onTooManySessions();
    expect(policy.currentMs()).toBe(15_000); // 16 s capped
    now += 599_999;
    expect(policy.currentMs()).toBe(15_000);
    now += 1;
    expect(policy.currentMs()).toBe(7_500);
    now += 1_200_000;
    expect(policy.currentMs()).toBe(2_000); // 3 750 → never below the base
  });
});
