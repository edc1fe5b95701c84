/**
 * Part 7 — memory of `npm run replay` over a 3-hour track.
 *
 * A Craig-style track is written to a temporary WAV, streamed to disk (one 5-minute unit in memory): katiesteve.wav
 * converted to 48 kHz (29.5 s of speech), then digital silence to the end of 5 minutes (one speaker's share of a
 * 10-person call), repeated 36 times (3 h; 48 kHz 16-bit mono, about 1 GB on disk). 48 kHz, Craig's rate, so the run measures replay's streaming rather
 * than libsamplerate's CPU (about 1 s per minute of 16 kHz audio here).
 *
 * The replay path as `npm run replay` builds it: `openAudioFile` → `discordOpusFrames` (decode, convert, voice
 * activity, Opus encode) → `mergeByTime` → the production `CaptionPipeline` on a `VirtualClock` advanced in
 * `runReplay`'s 50 ms steps, against the light STT server (`turns` mode) in a child process. What is not
 * `runReplay` itself is its wall-clock pacing: its `setTimeout` per step (at least 1 ms; 216,000 steps in 3 hours) would make the run take over 3.5 minutes even at
 * an unbounded `--speed`; here each step yields to the event loop once (`setImmediate`), as the long-meeting part
 * does. The loop stays at most 2 MB of audio ahead of what the server has read, so buffered socket writes (an
 * artefact of running faster than real time) do not count as memory.
 *
 * RSS and heap are sampled after a full GC (`--expose-gc`) before the replay starts, every 15 minutes of track
 * time, and at the end; peak RSS is `process.resourceUsage().maxRSS`. Target: RSS (sampled and peak) never more
 * than 100 MB above the start, and flat: heap used after GC within 5 MB from the 15-minute sample to the end. RSS
 * drift over the same span is reported beside it: RSS rises in steps while heap and array buffers after GC stay
 * flat (the long-meeting part allows 32 MB of RSS growth for the same behaviour).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import type { CaptionSink } from '../../src/captions/caption.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { openAudioFile, readAudioFile } from '../../src/replay/audio-file.ts';
import { discordOpusFrames, toDiscordPcm } from '../../src/replay/discord-opus.ts';
import { mergeByTime } from '../../src/replay/schedule.ts';
import { createAssemblyAIProvider, type SttProvider } from '../../src/stt/provider.ts';
import type { StreamingSession } from '../../src/stt/assemblyai/streaming-session.ts';
import { speechFixture } from '../../test/support/fixtures.ts';
import { writeLongWav } from '../../test/support/long-wav.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { memorySample, round, wallMs, yieldToLoop, type MemorySample } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** Allowed RSS above the start at any sample and at the peak, MB (issue 14). */
export const RSS_ABOVE_START_LIMIT_MB = 100;
/** Allowed change of heap used after GC from the 15-minute sample to the end, MB. */
export const HEAP_FLAT_MB = 5;

const UNIT_S = 300;
const STEP_MS = 50; // runReplay's step

interface Sample extends MemorySample {
  trackMin: number;
}

/** Runs part 7. */
export async function run(options: PartOptions): Promise<PartResult> {
  const repeats = options.quick ? 1 : 36;
  const sampleEveryMs = options.quick ? 60_000 : 15 * 60_000; // quick: 5 minutes
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-replay-'));
  const host = await startServers({ stt: { kind: 'light-turns' } });
  try {
    const speech = (await toDiscordPcm(await readAudioFile(speechFixture('katiesteve.wav')))).channels[0];
    const unit = new Float32Array(UNIT_S * 48_000);
    unit.set(speech.subarray(0, unit.length));
    const path = join(dir, 'long-track.wav');
    const writeStart = wallMs();
    const samplesInFile = await writeLongWav(path, { sampleRate: 48_000, unit, repeats, bits: 16 });
    const writeSeconds = (wallMs() - writeStart) / 1000;

    const logger = silentLogger();
    const clock = new VirtualClock();
    const real = createAssemblyAIProvider(
      { apiKey: BENCH_API_KEY, streamingUrl: host.sttUrl ?? '', speechModel: 'u3-rt-pro', idleCloseMs: 2_000, idleCloseMaxMs: 15_000, minTurnSilenceMs: undefined, maxTurnSilenceMs: 1_000, keyterms: [], newSessionsPerMinute: 100_000 },
      logger,
    );
    const sessions = new Set<StreamingSession>();
    let closedBytes = 0;
    const provider: SttProvider = {
      speechModel: real.speechModel,
      idleClose: real.idleClose,
      budget: real.budget,
      open: async (keyterms, languageCodes, logContext) => {
        const session = await real.open(keyterms, languageCodes, logContext);
        sessions.add(session);
        session.once('close', () => {
          closedBytes += session.audioBytes;
          sessions.delete(session);
        });
        return session;
      },
    };
    let finals = 0;
    const sink: CaptionSink = { caption: (event) => void (event.kind === 'final' && finals++), notice: () => {} };
    const pipeline = new CaptionPipeline({ provider, clock, logger, sinks: [sink], keyterms: [], idleCloseMs: () => provider.idleClose.currentMs(), maxTurnSilenceMs: 1_000, maxAudioAheadMs: null, jitterMs: 0 });
    const sentBytes = () => closedBytes + [...sessions].reduce((sum, s) => sum + s.audioBytes, 0);

    const samples: Sample[] = [];
    const sample = (trackMs: number) => samples.push({ ...memorySample(), trackMin: round(trackMs / 60_000, 1) });
    let nextSample = sampleEveryMs;
    let throttled = 0;
    const advanceTo = async (time: number) => {
      while (clock.now() < time) {
        const next = Math.min(time, clock.now() + STEP_MS);
        clock.advanceTo(next);
        await yieldToLoop();
        if (next < nextSample) continue;
        for (;;) {
          const received = (await host.stats()).light?.audioBytes ?? 0;
          if (sentBytes() - received < 2 * 2 ** 20) break;
          throttled++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        sample(nextSample);
        nextSample += sampleEveryMs;
      }
    };

    sample(0);
    const wallStart = wallMs();
    const cpuStart = process.cpuUsage();
    const audio = await openAudioFile(path);
    const speaker = { id: 'craig-track', name: 'Craig track' };
    const packets = discordOpusFrames(audio.blocks(), { sampleRate: audio.sampleRate, channels: audio.channels });
    let packetCount = 0;
    let lastAt = 0;
    for await (const packet of mergeByTime([{ speaker, packets }])) {
      await advanceTo(packet.atMs);
      pipeline.pushOpusPacket(packet.speaker, packet.packet, packet.atMs);
      packetCount++;
      lastAt = packet.atMs;
    }
    await advanceTo(Math.max(lastAt + 1_400, (samplesInFile / 48_000) * 1000));
    await pipeline.end();
    const wallSeconds = (wallMs() - wallStart) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    sample(lastAt);
    const peakRssMb = round(process.resourceUsage().maxRSS / 1024, 1);

    const start = samples[0]!;
    const at15 = samples.find((s) => s.trackMin >= sampleEveryMs / 60_000) ?? start;
    const during = samples.slice(1);
    const maxRss = Math.max(...during.map((s) => s.rssMb));
    const end = samples.at(-1)!;
    const growth = round(maxRss - start.rssMb, 1);
    const flatDrift = round(Math.max(...samples.filter((s) => s.trackMin >= at15.trackMin).map((s) => Math.abs(s.rssMb - at15.rssMb))), 1);
    const peakGrowth = round(peakRssMb - start.rssMb, 1);
    const heapDrift = round(Math.max(...samples.filter((s) => s.trackMin >= at15.trackMin).map((s) => Math.abs(s.heapUsedMb - at15.heapUsedMb))), 1);
    const ok = growth <= RSS_ABOVE_START_LIMIT_MB && peakGrowth <= RSS_ABOVE_START_LIMIT_MB && heapDrift <= HEAP_FLAT_MB;
    const trackHours = round(samplesInFile / 48_000 / 3600, 2);
    return {
      figures: {
        replay_rss_mb_above_start: growth,
        replay_rss_mb_start: start.rssMb,
        replay_rss_mb_end: end.rssMb,
        replay_peak_rss_mb_above_start: peakGrowth,
        replay_rss_drift_mb_15min_to_end: flatDrift,
        replay_heap_drift_mb_15min_to_end: heapDrift,
        replay_memory_ok: ok ? 1 : 0,
        replay_x_realtime: round((trackHours * 3600) / wallSeconds, 0),
      },
      details: {
        track: { hours: trackHours, file: 'WAV 48 kHz 16-bit mono', fileMb: round((samplesInFile * 2) / 2 ** 20, 0), writeSeconds: round(writeSeconds, 1), speechShare: round(speech.length / unit.length, 2) },
        packets: packetCount,
        finals,
        wallSeconds: round(wallSeconds, 1),
        cpuSeconds: round((cpu.user + cpu.system) / 1e6, 1),
        throttledSteps: throttled,
        peakRssMb,
        samples,
        sttServer: (await host.stats()).light,
      },
      notes: [],
    };
  } finally {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
