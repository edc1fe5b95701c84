/**
 * Part 7 — concurrent speakers: what one speaker costs in memory and CPU, and how many were tested at once.
 *
 * N speakers talk at once in one process, 20 to a meeting (one production `CaptionPipeline` each, as the bot runs
 * one per guild), into the light STT server in count mode (another process, so its CPU and memory are not ours).
 * Each speaker plays a real fixture track from an offset of its own (at most {@link SPEECH_MS} of it), all starting
 * together; meeting time is a `VirtualClock` per meeting advanced in 20 ms steps as fast as the CPU allows.
 *
 * - Memory: RSS and V8 heap after a full GC (`--expose-gc`), with the N sessions already open, before any speaker
 *   and again when every speaker is mid-speech; (after − before) ÷ N. Sessions are opened before the first sample,
 *   so the figure is the audio path's (decoder, timeline, queue, stream), not the WebSocket client's.
 * - CPU: `process.cpuUsage()` (user + system, every thread) over the run, GC samples excluded, divided by the
 *   speech the packets carry (N × seconds each): CPU ms per second of one speaker's speech, on the full path
 *   (decode, timeline, framing, sends). ÷ 10 = percent of one core per speaker.
 * - Decoder alone: N bare `OpusPacketDecoder`s after 1 s of packets each, the same way.
 * - `max_concurrent_speakers_tested`: the largest N run where every speaker decoded every packet (none corrupt,
 *   none lost, no decoder failed), dropped no frame, and the server received every byte sent.
 */
import { SessionBudget } from '../../src/stt/session-budget.ts';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { StreamingSession } from '../../src/stt/assemblyai/streaming-session.ts';
import type { SttProvider } from '../../src/stt/provider.ts';
import { IdleClosePolicy } from '../../src/stt/idle-close-policy.ts';
import { OpusPacketDecoder } from '../../src/audio/opus-decoder.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { loadTracks, rebase, type Track } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { cpuStopwatch, memorySample, round, yieldToLoop, type MemorySample } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** Speech per speaker, ms (from their first packet). */
const SPEECH_MS = 6_000;
/** Speakers per meeting. */
const PER_MEETING = 20;

interface SpeakerPlan {
  id: string;
  packets: TimedOpusPacket[];
}

/** Speaker i plays track i mod 5 from its own offset, re-timed to start at meeting time 0. */
function plan(tracks: readonly Track[], count: number, speechMs: number): SpeakerPlan[] {
  return Array.from({ length: count }, (_, i) => {
    const track = tracks[i % tracks.length]?.packets ?? [];
    const skip = (Math.floor(i / tracks.length) * 7) % Math.max(1, track.length - 60);
    const packets = rebase(track.slice(skip)).filter((p) => p.atMs <= speechMs);
    return { id: `s${i}`, packets };
  });
}

/** One run of `count` concurrent speakers; memory is sampled at half of the speech (GC first with `--expose-gc`). */
export async function measureSpeakers(tracks: readonly Track[], url: string, count: number, speechMs: number) {
  const logger = silentLogger();
  const sessions = await Promise.all(
    Array.from({ length: count }, () => StreamingSession.open({ url, apiKey: BENCH_API_KEY, speechModel: 'u3-rt-pro', keyterms: [], maxTurnSilenceMs: 1_000 }, logger)),
  );
  const ready = [...sessions];
  const provider: SttProvider = {
    speechModel: 'u3-rt-pro',
    idleClose: new IdleClosePolicy({ baseMs: 15_000, maxMs: 15_000 }),
    budget: new SessionBudget({ perMinute: 100_000 }),
    open: async () => {
      const session = ready.shift();
      if (session === undefined) throw new Error('bench: no pre-opened session left');
      return session;
    },
  };
  const speakers = plan(tracks, count, speechMs);
  const meetings = Array.from({ length: Math.ceil(count / PER_MEETING) }, () => {
    const clock = new VirtualClock();
    const pipeline = new CaptionPipeline({ provider, clock, logger, sinks: [], keyterms: [], idleCloseMs: 15_000, maxTurnSilenceMs: 1_000, maxAudioAheadMs: null });
    return { clock, pipeline };
  });
  const byTime = new Map<number, Array<{ meeting: number; speaker: SpeakerPlan; packet: Buffer }>>();
  for (const [i, speaker] of speakers.entries()) {
    for (const { atMs, packet } of speaker.packets) {
      const at = byTime.get(atMs) ?? [];
      at.push({ meeting: Math.floor(i / PER_MEETING), speaker, packet });
      byTime.set(atMs, at);
    }
  }

  const before = memorySample();
  let during: MemorySample | undefined;
  let cpuMs = 0;
  let cpu = cpuStopwatch();
  const lastAt = speechMs + 1_500;
  for (let t = 20; t <= lastAt; t += 20) {
    for (const { clock } of meetings) clock.advanceTo(t);
    for (const { meeting, speaker, packet } of byTime.get(t) ?? []) meetings[meeting]?.pipeline.pushOpusPacket({ id: speaker.id, name: speaker.id }, packet, t);
    // Decoders start in real time while this clock runs faster: wait for the first ones, as live speech would.
    if (t === 20) await Promise.all(meetings.map(({ pipeline }) => pipeline.decodersSettled()));
    await yieldToLoop(); // sessions attach and sockets flush, as a live event loop would
    if (during === undefined && t >= speechMs / 2) {
      cpuMs += cpu().totalMs;
      during = memorySample();
      cpu = cpuStopwatch();
    }
  }
  await Promise.all(meetings.map(({ pipeline }) => pipeline.decodersSettled()));
  cpuMs += cpu().totalMs;

  const statuses = meetings.flatMap(({ pipeline }) => pipeline.status());
  const packetsOf = new Map(speakers.map((s) => [s.id, s.packets.length]));
  const whole = statuses.filter(
    (s) => s.decodedPackets === packetsOf.get(s.speaker.id) && s.corruptPackets === 0 && !s.decoderFailed && s.stats.framesDropped === 0,
  ).length;
  const bytesSent = sessions.reduce((sum, s) => sum + s.audioBytes, 0);
  await Promise.all(meetings.map(({ pipeline }) => pipeline.end()));
  const speechSeconds = speakers.reduce((sum, s) => sum + s.packets.length * 0.02, 0);
  return { count, before, during: during ?? before, cpuMs, speechSeconds, whole, speakersSeen: statuses.length, bytesSent };
}

/** Memory of `count` bare decoders after 1 s of packets each. */
async function decoderMemory(tracks: readonly Track[], count: number) {
  const packets = tracks[0]?.packets.slice(0, 50).map((p) => p.packet) ?? [];
  const before = memorySample();
  const decoders = Array.from({ length: count }, () => new OpusPacketDecoder({ onPcm: () => {}, onFailed: () => {} }));
  await Promise.all(decoders.map((d) => d.settled()));
  for (const decoder of decoders) for (const [i, packet] of packets.entries()) decoder.push(packet, (i + 1) * 20);
  const after = memorySample();
  for (const decoder of decoders) decoder.destroy();
  return { count, before, after };
}

const perSpeakerKb = (after: number, before: number, count: number) => round(((after - before) * 1024) / count, 0);

/** Runs part 7. */
export async function run(options: PartOptions): Promise<PartResult> {
  const tracks = await loadTracks();
  const host = await startServers({ stt: { kind: 'light-count' } });
  const sttUrl = host.sttUrl ?? '';
  try {
    const counts = options.quick ? [4] : [60, 200];
    const speechMs = options.quick ? 1_000 : SPEECH_MS;
    const warmUp = await measureSpeakers(tracks, sttUrl, Math.min(20, counts[0] ?? 1), speechMs); // JIT, wasm compile
    const runs = [];
    for (const count of counts) runs.push(await measureSpeakers(tracks, sttUrl, count, speechMs));
    const decoders = await decoderMemory(tracks, counts.at(-1) ?? 1);
    const stats = await host.stats();
    const bytesSent = warmUp.bytesSent + runs.reduce((sum, r) => sum + r.bytesSent, 0);
    const serverGotAll = stats.light?.audioBytes === bytesSent && stats.light.badFrames === 0;
    const tested = runs.filter((r) => serverGotAll && r.whole === r.count && r.speakersSeen === r.count).map((r) => r.count);
    const largest = runs.at(-1);
    if (largest === undefined) throw new Error('bench: no run');
    const cpuPerSpeakerSecond = largest.cpuMs / largest.speechSeconds;
    return {
      figures: {
        max_concurrent_speakers_tested: Math.max(0, ...tested),
        rss_kb_per_speaker: perSpeakerKb(largest.during.rssMb, largest.before.rssMb, largest.count),
        heap_kb_per_speaker: perSpeakerKb(largest.during.heapUsedMb, largest.before.heapUsedMb, largest.count),
        decoder_rss_kb_per_speaker: perSpeakerKb(decoders.after.rssMb, decoders.before.rssMb, decoders.count),
        speaker_cpu_ms_per_second: round(cpuPerSpeakerSecond, 2),
        speaker_core_percent: round(cpuPerSpeakerSecond / 10, 3),
      },
      details: {
        speechMsPerSpeaker: speechMs,
        speakersPerMeeting: PER_MEETING,
        runs: runs.map((r) => ({
          speakers: r.count,
          speakersWhole: r.whole,
          rssMbBefore: r.before.rssMb,
          rssMbMidSpeech: r.during.rssMb,
          heapUsedMbBefore: r.before.heapUsedMb,
          heapUsedMbMidSpeech: r.during.heapUsedMb,
          externalMbMidSpeech: r.during.externalMb,
          rssKbPerSpeaker: perSpeakerKb(r.during.rssMb, r.before.rssMb, r.count),
          cpuMs: round(r.cpuMs, 0),
          speechSeconds: round(r.speechSeconds, 1),
          cpuMsPerSpeakerSecond: round(r.cpuMs / r.speechSeconds, 2),
          bytesSent: r.bytesSent,
        })),
        decoders: { count: decoders.count, rssMbBefore: decoders.before.rssMb, rssMbAfter: decoders.after.rssMb, externalMbAfter: decoders.after.externalMb },
        bytesSentAllRuns: bytesSent,
        sinkBytes: stats.light?.audioBytes,
        sinkBadFrames: stats.light?.badFrames,
      },
      notes: [
        'external memory counts each decoder’s reserved WebAssembly memory (about 28 MB of address space, mostly never touched); RSS is what it uses',
      ],
    };
  } finally {
    await host.close();
  }
}
