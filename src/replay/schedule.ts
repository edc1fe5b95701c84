/**
 * Merges speakers' packet sources into one schedule in time order, pulling each source only when its next packet
 * is due to be compared: a lazily generated source (a recording decoded as it plays) is never read ahead by more
 * than one packet.
 */
import type { Speaker } from '../captions/caption.ts';
import type { DeferredOpusPacket, TimedOpusPacket } from './discord-opus.ts';

/** One speaker's packets in send order (`atMs` non-decreasing); deferred ones are encoded when they are yielded. */
export interface PacketSource {
  speaker: Speaker;
  packets: Iterable<TimedOpusPacket | DeferredOpusPacket> | AsyncIterable<TimedOpusPacket | DeferredOpusPacket>;
}

/** A packet with its speaker. */
export interface ScheduledPacket extends TimedOpusPacket {
  speaker: Speaker;
}

/**
 * Yields every source's packets by `atMs`; equal times in source order. Holds one pending packet per source.
 * When the consumer stops early or a source throws, every source still open is closed (`return()`), so
 * generators free what they hold (encoders, file handles).
 *
 * @param sources - the speakers' packet sources
 * @throws whatever a source throws, when it is pulled
 */
export async function* mergeByTime(sources: readonly PacketSource[]): AsyncGenerator<ScheduledPacket> {
  const iterators = sources.map((source) =>
    Symbol.asyncIterator in source.packets ? source.packets[Symbol.asyncIterator]() : source.packets[Symbol.iterator](),
  );
  const heads: Array<TimedOpusPacket | DeferredOpusPacket | undefined> = [];
  const open = new Set(iterators.keys());
  const pull = async (index: number) => {
    const next = await iterators[index]!.next();
    if (next.done === true) {
      open.delete(index);
      heads[index] = undefined;
    } else {
      heads[index] = next.value;
    }
  };
  try {
    for (const index of iterators.keys()) await pull(index);
    for (;;) {
      let best: number | undefined;
      for (const index of open) {
        if (best === undefined || heads[index]!.atMs < heads[best]!.atMs) best = index;
      }
      if (best === undefined) return;
      const head = heads[best]!;
      yield { atMs: head.atMs, packet: 'encode' in head ? head.encode() : head.packet, speaker: sources[best]!.speaker };
      await pull(best);
    }
  } finally {
    await Promise.allSettled([...open].map(async (index) => iterators[index]!.return?.()));
  }
}
