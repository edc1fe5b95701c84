/**
 * Part 1 — audio path throughput.
 *
 * The Opus packets of the real speech fixtures go through Parley's full per-speaker audio path (the production
 * `CaptionPipeline`: `SpeakerAudio` decode + arrival-time timeline + 50 ms framing, `SpeakerStream` queueing and
 * sending, `StreamingSession.sendAudio` over a real `ws` connection) into a local sink that counts bytes (the
 * light STT server in `count` mode, in a child process so its CPU is not ours). Time is a `VirtualClock`
 * advanced as fast as the CPU allows, so the figure is CPU-bound throughput, not pacing.
 *
 * Baseline, measured in the same run and interleaved with the path runs: a bare decode of the same packets at
 * 16 kHz mono with the decoder the path uses (opus-decoder, Float32 converted to s16le; one decoder per track, as
 * the path has one per speaker, started before timing). Both are timed with
 * `process.cpuUsage()` (user + system, all threads of this process), so other load on the machine mostly
 * cancels out; the ratio uses the median of per-round ratios.
 */
import { createLibopusDecoder, floatToS16le, type OpusBackend } from '../../src/audio/opus-decoder.ts';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { StreamingSession } from '../../src/stt/assemblyai/streaming-session.ts';
import type { SttProvider } from '../../src/stt/provider.ts';
import { SessionBudget } from '../../src/stt/session-budget.ts';
import { IdleClosePolicy } from '../../src/stt/idle-close-policy.ts';
import { PCM_FRAME_BYTES } from '../../src/audio/format.ts';
import { loadTracks, packetAudioMs, type Track } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { cpuStopwatch, median, round, wallMs, yieldToLoop } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';
import { whileAdvancing } from './long-meeting.ts';

/** CPU and wall time of one measured run. */
export interface RunTiming {
  cpuMs: number;
  /** The kernel's share of `cpuMs`. */
  systemMs: number;
  wallMs: number;
  /** Audio the packets carry, ms (20 ms per packet). */
  audioMs: number;
}

/** Started decoders at 16 kHz mono, one per track. */
async function startDecoders(count: number): Promise<OpusBackend[]> {
  const decoders = Array.from({ length: count }, () => createLibopusDecoder());
  await Promise.all(decoders.map((d) => d.ready));
  return decoders;
}

/** s16le PCM of one packet, or an empty buffer for a corrupt one (the path skips it too). */
function decodeToS16(decoder: OpusBackend, packet: Buffer): Buffer {
  const decoded = decoder.decodeFrame(packet);
  const samples = decoded.channelData[0];
  return decoded.errors.length > 0 || samples === undefined ? Buffer.alloc(0) : floatToS16le(samples);
}

/** Bare decode of every track's packets at 16 kHz mono (opus-decoder + conversion to s16le). */
export async function measureDecode(tracks: readonly Track[]): Promise<RunTiming & { samples: number }> {
  const decoders = await startDecoders(tracks.length);
  const cpu = cpuStopwatch();
  const w0 = wallMs();
  let samples = 0;
  for (const [i, track] of tracks.entries()) {
    const decoder = decoders[i];
    if (decoder === undefined) continue;
    for (const { packet } of track.packets) samples += decodeToS16(decoder, packet).length >> 1;
  }
  const used = cpu();
  for (const decoder of decoders) decoder.free();
  return { cpuMs: used.totalMs, systemMs: used.systemMs, wallMs: wallMs() - w0, audioMs: tracks.reduce((sum, t) => sum + packetAudioMs(t.packets), 0), samples };
}

/** Opens one session per track before timing starts, so connection set-up is not counted. */
async function openSessions(url: string, count: number): Promise<StreamingSession[]> {
  const logger = silentLogger();
  return Promise.all(
    Array.from({ length: count }, () => StreamingSession.open({ url, apiKey: BENCH_API_KEY, speechModel: 'u3-rt-pro', keyterms: [], maxTurnSilenceMs: 1_000 }, logger)),
  );
}

/**
 * The full audio path for every track (one speaker each, interleaved in time as one meeting) into the sink at
 * `url`. Timing covers every packet push, the silence fill after each speaker's last packet, and the sends.
 */
export async function measureAudioPath(tracks: readonly Track[], url: string): Promise<RunTiming & { framesSent: number; bytesSent: number }> {
  const sessions = await openSessions(url, tracks.length);
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
  const clock = new VirtualClock();
  const pipeline = new CaptionPipeline({
    provider,
    clock,
    logger: silentLogger(),
    sinks: [],
    keyterms: [],
    idleCloseMs: 15_000,
    maxTurnSilenceMs: 1_000,
    maxAudioAheadMs: null,
  });
  const schedule = tracks
    .flatMap((track, i) => track.packets.map((p) => ({ speaker: { id: `s${i}`, name: track.name }, atMs: p.atMs, packet: p.packet })))
    .sort((a, b) => a.atMs - b.atMs);
  const lastAt = schedule.at(-1)?.atMs ?? 0;

  const cpu = cpuStopwatch();
  const w0 = wallMs();
  let n = 0;
  for (const item of schedule) {
    clock.advanceTo(item.atMs);
    pipeline.pushOpusPacket(item.speaker, item.packet, item.atMs);
    // Yield every 20 packets: lets the sessions attach and the sockets flush, as a live event loop would.
    if (++n % 20 === 0) await yieldToLoop();
  }
  for (let t = lastAt; t <= lastAt + 1_500; t += 50) {
    clock.advanceTo(t);
    await yieldToLoop();
  }
  const used = cpu();
  const timing = { cpuMs: used.totalMs, systemMs: used.systemMs, wallMs: wallMs() - w0 };

  const status = pipeline.status();
  const framesSent = status.reduce((sum, s) => sum + s.stats.framesSent, 0);
  const bytesSent = sessions.reduce((sum, s) => sum + s.audioBytes, 0);
  await whileAdvancing(clock, pipeline.end());
  return { ...timing, audioMs: tracks.reduce((sum, t) => sum + packetAudioMs(t.packets), 0), framesSent, bytesSent };
}

/**
 * The least any implementation must do to put the same audio on the wire in 50 ms frames: the same bare decode,
 * a naive framer (gaps and the 1.3 s after each spurt filled with zeros, as Parley's path fills them, so the
 * frame count is about the same) and `StreamingSession.sendAudio` on a pre-opened session per track. Parley's
 * path over this one is the cost of Parley's own logic (timeline, queueing, timers); this one over the bare
 * decode is the cost of sending 50 ms frames over a WebSocket on this machine.
 */
export async function measureMinimalPath(tracks: readonly Track[], url: string): Promise<RunTiming & { framesSent: number }> {
  const sessions = await openSessions(url, tracks.length);
  const schedule = tracks.flatMap((track, i) => track.packets.map((p) => ({ i, atMs: p.atMs, packet: p.packet }))).sort((a, b) => a.atMs - b.atMs);
  const fillMs = 1_300;
  let framesSent = 0;
  const decoders = await startDecoders(sessions.length);
  const speakers = sessions.map((session, i) => ({ session, decoder: decoders[i] ?? createLibopusDecoder(), frame: Buffer.alloc(PCM_FRAME_BYTES), fill: 0, lastAt: null as number | null }));
  const append = (s: (typeof speakers)[number], pcm: Buffer) => {
    let offset = 0;
    while (offset < pcm.length) {
      const n = Math.min(pcm.length - offset, PCM_FRAME_BYTES - s.fill);
      pcm.copy(s.frame, s.fill, offset, offset + n);
      s.fill += n;
      offset += n;
      if (s.fill === PCM_FRAME_BYTES) {
        s.session.sendAudio(s.frame);
        framesSent++;
        s.frame = Buffer.alloc(PCM_FRAME_BYTES);
        s.fill = 0;
      }
    }
  };
  const zeros = Buffer.alloc(Math.round((fillMs * 32))); // 32 bytes per ms at 16 kHz s16le
  const appendSilence = (s: (typeof speakers)[number], ms: number) => append(s, zeros.subarray(0, Math.round(Math.min(ms, fillMs)) * 32));

  const cpu = cpuStopwatch();
  const w0 = wallMs();
  let n = 0;
  for (const item of schedule) {
    const s = speakers[item.i];
    if (s === undefined) continue;
    if (s.lastAt !== null && item.atMs - s.lastAt > 20) appendSilence(s, item.atMs - 20 - s.lastAt);
    append(s, decodeToS16(s.decoder, item.packet));
    s.lastAt = item.atMs;
    if (++n % 20 === 0) await yieldToLoop();
  }
  for (const s of speakers) {
    appendSilence(s, fillMs);
    if (s.fill > 0) append(s, zeros.subarray(0, PCM_FRAME_BYTES - s.fill));
  }
  await yieldToLoop();
  const used = cpu();
  const timing = { cpuMs: used.totalMs, systemMs: used.systemMs, wallMs: wallMs() - w0 };
  for (const s of speakers) s.decoder.free();
  await Promise.all(sessions.map((session) => session.terminate()));
  return { ...timing, audioMs: tracks.reduce((sum, t) => sum + packetAudioMs(t.packets), 0), framesSent };
}

/** Runs part 1. */
export async function run(options: PartOptions): Promise<PartResult> {
  const tracks = await loadTracks();
  const host = await startServers({ stt: { kind: 'light-count' } });
  const sttUrl = host.sttUrl ?? '';
  try {
    // Warm-up: JIT, wasm tiers, first connections.
    await measureDecode(tracks);
    await measureMinimalPath(tracks, sttUrl);
    await measureAudioPath(tracks, sttUrl);
    const rounds = options.quick ? 2 : 18;
    const decode: RunTiming[] = [];
    const minimal: Array<RunTiming & { framesSent: number }> = [];
    const path: Array<RunTiming & { framesSent: number; bytesSent: number }> = [];
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so drift in machine load affects all three alike.
      const steps = [
        async () => void decode.push(await measureDecode(tracks)),
        async () => void minimal.push(await measureMinimalPath(tracks, sttUrl)),
        async () => void path.push(await measureAudioPath(tracks, sttUrl)),
      ];
      for (let k = 0; k < steps.length; k++) await steps[(r + k) % steps.length]?.();
    }
    const audioMs = decode[0]?.audioMs ?? 0;
    const decodeX = decode.map((d) => audioMs / d.cpuMs);
    const minimalX = minimal.map((m) => audioMs / m.cpuMs);
    const pathX = path.map((p) => audioMs / p.cpuMs);
    const ratios = pathX.map((x, i) => x / (decodeX[i] ?? Number.NaN));
    const floorRatios = minimalX.map((x, i) => x / (decodeX[i] ?? Number.NaN));
    const ownRatios = pathX.map((x, i) => x / (minimalX[i] ?? Number.NaN));
    const stats = await host.stats();
    const framesSent = path.reduce((sum, p) => sum + p.framesSent, 0);
    const bytesSent = path.reduce((sum, p) => sum + p.bytesSent, 0);
    return {
      figures: {
        audio_path_x_realtime: round(median(pathX), 0),
        audio_path_vs_decode_ratio: round(median(ratios), 3),
        decode_x_realtime: round(median(decodeX), 0),
        audio_path_send_floor_ratio: round(median(floorRatios), 3),
        audio_path_vs_minimal_ratio: round(median(ownRatios), 3),
      },
      details: {
        tracks: tracks.map((t) => ({ name: t.name, packets: t.packets.length })),
        audioSecondsPerRound: audioMs / 1000,
        rounds,
        pathCpuMsPerRound: path.map((p) => round(p.cpuMs, 1)),
        decodeCpuMsPerRound: decode.map((d) => round(d.cpuMs, 1)),
        minimalCpuMsPerRound: minimal.map((m) => round(m.cpuMs, 1)),
        kernelShareOfCpu: {
          decode: round(median(decode.map((d) => d.systemMs / d.cpuMs)), 3),
          minimal: round(median(minimal.map((m) => m.systemMs / m.cpuMs)), 3),
          path: round(median(path.map((p) => p.systemMs / p.cpuMs)), 3),
        },
        pathWallMsPerRound: path.map((p) => round(p.wallMs, 1)),
        framesSentPerRoundMinimal: minimal[0]?.framesSent ?? 0,
        ratioPerRound: ratios.map((r) => round(r, 3)),
        pathCpuUsPerPacket: round((median(path.map((p) => p.cpuMs)) * 1000) / (tracks.reduce((s, t) => s + t.packets.length, 0)), 2),
        decodeCpuUsPerPacket: round((median(decode.map((d) => d.cpuMs)) * 1000) / (tracks.reduce((s, t) => s + t.packets.length, 0)), 2),
        framesSentPerRound: (path[0]?.framesSent ?? 0),
        sinkCheck: {
          bytesSentByClient: bytesSent,
          framesSentTimesFrameBytes: framesSent * PCM_FRAME_BYTES,
          sinkBinaryFrames: stats.light?.binaryFrames,
          sinkBadFrames: stats.light?.badFrames,
        },
      },
      notes: [],
    };
  } finally {
    await host.close();
  }
}
