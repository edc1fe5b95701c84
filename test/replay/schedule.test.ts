import { describe, expect, it } from 'vitest';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { mergeByTime, type PacketSource } from '../../src/replay/schedule.ts';

const packet = (atMs: number): TimedOpusPacket => ({ atMs, packet: Buffer.from([atMs & 0xff]) });
const speaker = (name: string) => ({ id: name, name });

/** An async source that records how far it has been pulled and whether it was closed. */
function recorded(name: string, times: number[], failAfter?: number) {
  const state = { pulled: 0, closed: false };
  async function* packets(): AsyncGenerator<TimedOpusPacket> {
    try {
      for (const atMs of times) {
        if (failAfter !== undefined && state.pulled === failAfter) throw new Error(`${name} is corrupt`);
        state.pulled++;
        yield packet(atMs);
      }
    } finally {
      state.closed = true;
    }
  }
  return { source: { speaker: speaker(name), packets: packets() } satisfies PacketSource, state };
}

describe('mergeByTime', () => {
  it('yields every packet by time, equal times in source order, from arrays and async sources alike', async () => {
    const b = recorded('b', [20, 40, 100]);
    const merged = [];
    for await (const item of mergeByTime([{ speaker: speaker('a'), packets: [packet(20), packet(60), packet(80)] }, b.source])) merged.push(`${item.speaker.name}@${item.atMs}`);
    expect(merged).toEqual(['a@20', 'b@20', 'b@40', 'a@60', 'a@80', 'b@100']);
  });

  it('reads each source at most one packet ahead of the schedule', async () => {
    const a = recorded('a', [20, 40, 60, 80]);
    const b = recorded('b', [10_000, 10_020]);
    const merged = mergeByTime([a.source, b.source]);
    expect((await merged.next()).value?.atMs).toBe(20);
    expect(a.state.pulled).toBe(1);
    expect(b.state.pulled).toBe(1);
    await merged.next();
    expect(a.state.pulled).toBe(2);
    expect(b.state.pulled).toBe(1);
    await merged.return(undefined);
    expect(a.state.closed && b.state.closed).toBe(true);
  });

  it('passes a source\'s error on and closes the other sources', async () => {
    const a = recorded('a', [20, 40, 60], 2);
    const b = recorded('b', [30, 50, 70, 90]);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of mergeByTime([a.source, b.source])) seen.push(item.atMs);
      })(),
    ).rejects.toThrow('a is corrupt');
    expect(seen).toEqual([20, 30, 40]);
    expect(b.state.closed).toBe(true);
  });
});
