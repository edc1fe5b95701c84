import { describe, expect, it } from 'vitest';
import { AUTO_JOIN_RETRY_BASE_MS, AUTO_JOIN_RETRY_CAP_MS, autoJoinCoolOffMs } from '../../src/bot/auto-join.ts';

describe('auto-join cool-off after failed starts', () => {
  it('doubles from 1 minute, with the upper half random, and never exceeds 30 minutes', () => {
    expect(autoJoinCoolOffMs(1, 0)).toBe(AUTO_JOIN_RETRY_BASE_MS / 2);
    expect(autoJoinCoolOffMs(1, 0.999_999)).toBe(AUTO_JOIN_RETRY_BASE_MS);
    expect(autoJoinCoolOffMs(2, 0)).toBe(AUTO_JOIN_RETRY_BASE_MS);
    expect(autoJoinCoolOffMs(3, 0.5)).toBe(3 * AUTO_JOIN_RETRY_BASE_MS);
    for (const failures of [6, 7, 50, 10_000]) {
      const longest = autoJoinCoolOffMs(failures, 0.999_999);
      expect(longest).toBeLessThanOrEqual(AUTO_JOIN_RETRY_CAP_MS);
      expect(longest).toBeGreaterThanOrEqual(AUTO_JOIN_RETRY_CAP_MS - 1);
      expect(autoJoinCoolOffMs(failures, 0)).toBe(AUTO_JOIN_RETRY_CAP_MS / 2);
    }
  });
});
