/**
 * The real speech fixtures (test/fixtures/speech) as Discord-style timed Opus packets, and the clips and
 * conversations the bench builds from them.
 */
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { fixturePackets } from '../../test/support/pipeline-harness.ts';
import { speechManifest } from '../../test/support/fixtures.ts';
import { seededRandom } from './stats.ts';

/** One fixture track as a Discord client would send it. */
export interface Track {
  name: string;
  packets: TimedOpusPacket[];
}

/** Duration of one Discord Opus packet, ms. */
export const PACKET_MS = 20;

/** Every speech fixture as tracks: jfk, katiesteve (one track, both voices), and each stereo channel. */
export async function loadTracks(): Promise<Track[]> {
  const [jfk, katiesteve, stereo] = await Promise.all([
    fixturePackets('jfk.flac'),
    fixturePackets('katiesteve.wav'),
    fixturePackets('stereo_diarization.wav', true),
  ]);
  const tracks: Track[] = [];
  const add = (name: string, packets: TimedOpusPacket[] | undefined) => {
    if (packets !== undefined && packets.length > 0) tracks.push({ name, packets });
  };
  add('jfk', jfk[0]);
  add('katiesteve', katiesteve[0]);
  add('stereo-left', stereo[0]);
  add('stereo-right', stereo[1]);
  return tracks;
}

/** Milliseconds of audio the packets carry (20 ms each). */
export function packetAudioMs(packets: readonly TimedOpusPacket[]): number {
  return packets.length * PACKET_MS;
}

/** Re-times packets so the first one ends at 20 ms. */
export function rebase(packets: readonly TimedOpusPacket[]): TimedOpusPacket[] {
  const first = packets[0]?.atMs ?? PACKET_MS;
  return packets.map((p) => ({ atMs: p.atMs - first + PACKET_MS, packet: p.packet }));
}

/** Splits a track where nothing was sent for at least `minGapMs` (Discord sends nothing during silence). */
export function splitAtGaps(packets: readonly TimedOpusPacket[], minGapMs: number): TimedOpusPacket[][] {
  const parts: TimedOpusPacket[][] = [];
  let current: TimedOpusPacket[] = [];
  let last = -Infinity;
  for (const p of packets) {
    if (p.atMs - last - PACKET_MS >= minGapMs && current.length > 0) {
      parts.push(current);
      current = [];
    }
    current.push(p);
    last = p.atMs;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** A short utterance: what one person says in one go. */
export interface Clip {
  name: string;
  /** Re-timed from 0: the first packet ends at 20 ms. */
  packets: TimedOpusPacket[];
  /** From the start of the first packet to the end of the last, ms. */
  spanMs: number;
}

function clip(name: string, packets: readonly TimedOpusPacket[]): Clip | undefined {
  if (packets.length === 0) return undefined;
  const rebased = rebase(packets);
  return { name, packets: rebased, spanMs: rebased.at(-1)?.atMs ?? 0 };
}

/**
 * Utterances from the fixtures: katiesteve cut at its manifest's speaker segments (1–11 s each), jfk cut at its
 * pauses, and each stereo channel whole.
 */
export function buildClips(tracks: readonly Track[]): Clip[] {
  const clips: Clip[] = [];
  const push = (c: Clip | undefined) => {
    if (c !== undefined) clips.push(c);
  };
  const byName = new Map(tracks.map((t) => [t.name, t.packets]));
  const segments = speechManifest().find((entry) => entry.file === 'katiesteve.wav')?.segments ?? [];
  const ks = byName.get('katiesteve') ?? [];
  segments.forEach((segment, i) => {
    const from = segment.start * 1000 - 150;
    const to = (segments[i + 1]?.start ?? Infinity) * 1000 - 150;
    push(clip(`katiesteve-${i + 1}`, ks.filter((p) => p.atMs > from && p.atMs <= to)));
  });
  for (const name of ['jfk']) {
    splitAtGaps(byName.get(name) ?? [], 250).forEach((part, i) => push(clip(`${name}-${i + 1}`, part)));
  }
  for (const name of ['stereo-left', 'stereo-right']) push(clip(name, byName.get(name) ?? []));
  return clips;
}

/** One packet of a multi-speaker schedule. */
export interface ScheduledPacket {
  speaker: number;
  atMs: number;
  packet: Buffer;
}

/** A simulated meeting. */
export interface Conversation {
  /** Every packet, in time order. */
  schedule: ScheduledPacket[];
  /** Packets per speaker (× 20 ms = what they transmitted). */
  packetsPerSpeaker: number[];
  /** Last packet time, ms. */
  endMs: number;
  /** Turns taken (including backchannels). */
  turns: number;
}

/** Options of {@link buildConversation}. */
export interface ConversationOptions {
  speakers: number;
  /** Meeting length, ms: no turn starts after this. */
  durationMs: number;
  seed: number;
  clips: readonly Clip[];
}

/** Running totals of a conversation being generated. */
export interface ConversationStats {
  /** Packets per speaker (× 20 ms = what they transmitted). */
  packetsPerSpeaker: number[];
  /** Turns taken (including backchannels). */
  turns: number;
  /** Time of the last packet produced so far, ms. */
  endMs: number;
}

/**
 * A meeting with realistic turn-taking: one speaker at a time (chosen with uneven weights: some people talk more),
 * each turn one to three utterances with short pauses, then a gap before the next speaker (usually 0.3–1.5 s,
 * sometimes 1.5–5 s, occasionally a 10–40 s lull), and now and then a short backchannel from someone else over
 * the current turn. Yields packets in time order, lazily, so a 3-hour meeting costs no memory up front;
 * deterministic for a given seed. `stats` is updated as packets are produced.
 */
export function* conversationPackets(options: ConversationOptions, stats: ConversationStats = { packetsPerSpeaker: [], turns: 0, endMs: 0 }): Generator<ScheduledPacket> {
  const random = seededRandom(options.seed);
  const weights = Array.from({ length: options.speakers }, (_, i) => 1 / (1 + i * 0.35));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const shortClips = options.clips.filter((c) => c.spanMs <= 2_500);
  stats.packetsPerSpeaker = Array.from({ length: options.speakers }, () => 0);
  const pick = <T>(list: readonly T[]): T => {
    const item = list[Math.floor(random() * list.length)];
    if (item === undefined) throw new Error('empty list');
    return item;
  };
  const pickSpeaker = (not: number): number => {
    for (;;) {
      let r = random() * totalWeight;
      let chosen = 0;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i] ?? 0;
        if (r <= 0) {
          chosen = i;
          break;
        }
      }
      if (chosen !== not || options.speakers === 1) return chosen;
    }
  };
  const lastOwn = Array.from({ length: options.speakers }, () => -Infinity);
  let pending: ScheduledPacket[] = [];
  const place = (speaker: number, c: Clip, startMs: number): number => {
    // A speaker never overlaps themself: start after their own last packet.
    const start = Math.max(startMs, (lastOwn[speaker] ?? -Infinity) + 60);
    for (const p of c.packets) pending.push({ speaker, atMs: Math.round((start + p.atMs) / PACKET_MS) * PACKET_MS, packet: p.packet });
    lastOwn[speaker] = pending.at(-1)?.atMs ?? start;
    return start + c.spanMs;
  };
  /** Everything before `t` is final: no later turn places a packet before it. */
  function* flush(t: number): Generator<ScheduledPacket> {
    pending.sort((a, b) => a.atMs - b.atMs || a.speaker - b.speaker);
    let n = 0;
    while (n < pending.length && (pending[n]?.atMs ?? Infinity) < t) n++;
    const ready = pending.slice(0, n);
    pending = pending.slice(n);
    for (const p of ready) {
      stats.packetsPerSpeaker[p.speaker] = (stats.packetsPerSpeaker[p.speaker] ?? 0) + 1;
      stats.endMs = p.atMs;
      yield p;
    }
  }
  let t = 1_000;
  let speaker = -1;
  while (t < options.durationMs) {
    yield* flush(t);
    speaker = pickSpeaker(speaker);
    const utterances = 1 + Math.floor(random() * 3);
    const turnStart = t;
    for (let u = 0; u < utterances; u++) {
      t = place(speaker, pick(options.clips), t) + (u < utterances - 1 ? 200 + random() * 500 : 0);
    }
    stats.turns++;
    if (shortClips.length > 0 && options.speakers > 1 && random() < 0.15) {
      const at = turnStart + random() * Math.max(0, t - turnStart - 1_000);
      place(pickSpeaker(speaker), pick(shortClips), at);
      stats.turns++;
    }
    const r = random();
    t += r < 0.7 ? 300 + random() * 1_200 : r < 0.9 ? 1_500 + random() * 3_500 : 10_000 + random() * 30_000;
  }
  yield* flush(Infinity);
}

/** {@link conversationPackets}, collected. */
export function buildConversation(options: ConversationOptions): Conversation {
  const stats: ConversationStats = { packetsPerSpeaker: [], turns: 0, endMs: 0 };
  const schedule = [...conversationPackets(options, stats)];
  return { schedule, packetsPerSpeaker: stats.packetsPerSpeaker, endMs: stats.endMs, turns: stats.turns };
}
