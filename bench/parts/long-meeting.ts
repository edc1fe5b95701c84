/**
 * Part 4 — memory over a simulated 3-hour meeting with 10 speakers.
 *
 * The production `CaptionPipeline` on a `VirtualClock` (replay-style: every pipeline timer fires at its exact
 * meeting time, however fast the wall clock runs), fed a 3-hour conversation built from the real fixtures
 * (`conversationPackets`: turn-taking with pauses and lulls, backchannels), with the live defaults: idle close
 * 15 s (sessions close and reopen as people fall silent and speak again), max_turn_silence 1,000 ms. Final
 * captions go to the production `DiscordSink` (over an in-memory channel that answers at once) and into the
 * SQLite `MeetingStore`, as the bot does. The STT server is the light one in `turns` mode, in a child process.
 *
 * Memory is sampled after a full GC (the part runs with `--expose-gc`) before the meeting, every 15 minutes of
 * meeting time, at 3 h, and after `end()`. "Flat" means: from the 1-hour mark to the end, heap used grows by no
 * more than what the transcript itself holds (the in-memory `Transcript` keeps every final turn until `/end`;
 * the database holds them too) plus a 5 MB allowance, and RSS by no more than 32 MB; and nothing accumulates
 * per session: open sessions, timers and listeners stay within one set per speaker.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { DiscordSink, type CaptionChannel } from '../../src/captions/discord-sink.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider, type SttProvider } from '../../src/stt/provider.ts';
import type { StreamingSession } from '../../src/stt/assemblyai/streaming-session.ts';
import { openDatabase } from '../../src/store/database.ts';
import { MeetingStore } from '../../src/store/meeting-store.ts';
import { buildClips, conversationPackets, loadTracks, PACKET_MS, type ConversationStats } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { memorySample, round, wallMs, yieldToLoop, type MemorySample } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** Allowed heap growth from the 1-hour mark to the end beyond the transcript's own size, MB. */
export const HEAP_ALLOWANCE_MB = 5;
/** Allowed RSS growth from the 1-hour mark to the end, MB. */
export const RSS_ALLOWANCE_MB = 32;

interface Sample extends MemorySample {
  meetingMin: number;
  transcriptTurns: number;
  transcriptMb: number;
  openSessions: number;
}

/** Awaits `work` while moving the virtual clock on, so timers it waits for (the sink's edit interval) fire. */
export async function whileAdvancing<T>(clock: VirtualClock, work: Promise<T>): Promise<T> {
  let done = false;
  const result = work.finally(() => {
    done = true;
  });
  for (let i = 0; i < 2_000 && !done; i++) {
    clock.advance(50);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return result;
}

/** Runs part 4. */
export async function run(options: PartOptions): Promise<PartResult> {
  const speakers = 10;
  const durationMs = options.quick ? 3 * 60_000 : 3 * 3_600_000;
  const sampleEveryMs = options.quick ? 60_000 : 15 * 60_000;
  const clips = buildClips(await loadTracks());
  const host = await startServers({ stt: { kind: 'light-turns' } });
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const logger = silentLogger();
  try {
    const db = openDatabase(dataDir);
    const store = new MeetingStore(db);
    const clock = new VirtualClock();
    const real = createAssemblyAIProvider(
      { apiKey: BENCH_API_KEY, streamingUrl: host.sttUrl ?? '', speechModel: 'u3-rt-pro', idleCloseMs: 2_000, idleCloseMaxMs: 15_000, minTurnSilenceMs: undefined, maxTurnSilenceMs: 1_000, keyterms: [], newSessionsPerMinute: 100_000 },
      logger,
    );
    // Sessions are tracked only to compare bytes sent with bytes received (back-pressure below); closed ones are dropped.
    const sessions = new Set<StreamingSession>();
    let closedBytes = 0;
    const provider: SttProvider = {
      speechModel: real.speechModel,
    idleClose: real.idleClose,
    budget: real.budget,
      open: async (keyterms) => {
        const session = await real.open(keyterms);
        sessions.add(session);
        session.once('close', () => {
          closedBytes += session.audioBytes;
          sessions.delete(session);
        });
        return session;
      },
    };
    let nextId = 1;
    const channel: CaptionChannel = { send: async () => ({ id: String(nextId++) }), edit: async () => {} };
    const sink = new DiscordSink({ channel, clock, logger });
    const pipeline = new CaptionPipeline({ provider, clock, logger, sinks: [sink], keyterms: [], idleCloseMs: () => provider.idleClose.currentMs(), maxTurnSilenceMs: 1_000, maxAudioAheadMs: null });
    const meetingId = store.startMeeting({ guildId: '1', voiceChannelId: '2', captionChannelId: '3', startedBy: '4', startedAtMs: Date.now() });
    let transcriptChars = 0;
    pipeline.prependListener('caption', (event) => {
      if (event.kind !== 'final') return;
      store.recordTurn(meetingId, event);
      transcriptChars += event.text.length + event.turnId.length;
    });
    const sentBytes = () => closedBytes + [...sessions].reduce((sum, s) => sum + s.audioBytes, 0);
    const openSessions = () => pipeline.status().filter((s) => s.state === 'open' || s.state === 'connecting' || s.state === 'terminating').length;
    const samples: Sample[] = [];
    const sample = (meetingMs: number) => {
      const m = memorySample();
      // A transcript turn in memory: its text and id (UTF-16) plus ~200 bytes of object overhead.
      const transcriptMb = round((pipeline.transcript.turns.length * 200 + transcriptChars * 2) / 2 ** 20, 2);
      samples.push({ ...m, meetingMin: round(meetingMs / 60_000, 1), transcriptTurns: pipeline.transcript.turns.length, transcriptMb, openSessions: openSessions() });
    };

    sample(0);
    const wallStart = wallMs();
    const stats: ConversationStats = { packetsPerSpeaker: [], turns: 0, endMs: 0 };
    const speakerList = Array.from({ length: speakers }, (_, i) => ({ id: `member-${i + 1}`, name: `Member ${i + 1}` }));
    let nextSample = sampleEveryMs;
    let throttled = 0;
    const advanceTo = async (time: number) => {
      while (clock.now() < time) {
        const next = Math.min(time, clock.now() + 50);
        clock.advanceTo(next);
        await yieldToLoop(); // socket events between steps, as in replay
        if (next >= nextSample) {
          // Back-pressure: never run more than 2 MB of audio ahead of what the server has read, so buffered
          // socket writes (an artefact of running faster than real time) do not show up as memory.
          for (;;) {
            const received = (await host.stats()).light?.audioBytes ?? 0;
            if (sentBytes() - received < 2 * 2 ** 20) break;
            throttled++;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          if (next >= nextSample && nextSample <= durationMs) {
            sample(nextSample);
            nextSample += sampleEveryMs;
          }
        }
      }
    };
    for (const packet of conversationPackets({ speakers, durationMs, seed: 7, clips }, stats)) {
      if (packet.atMs > durationMs) break;
      await advanceTo(packet.atMs);
      const speaker = speakerList[packet.speaker];
      if (speaker !== undefined) pipeline.pushOpusPacket(speaker, packet.packet, packet.atMs);
    }
    await advanceTo(durationMs);
    // Let the last finals arrive (wall time), with the meeting clock standing at 3 h.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const wallSeconds = (wallMs() - wallStart) / 1000;
    const endSample = samples.at(-1);
    const status = pipeline.status();
    const atEnd = {
      speakersInPipeline: pipeline.speakerCount,
      openSessions: openSessions(),
      sessionsOpened: status.reduce((sum, s) => sum + s.stats.sessionsOpened, 0),
      finalTurns: status.reduce((sum, s) => sum + s.stats.finalTurns, 0),
      framesDropped: status.reduce((sum, s) => sum + s.stats.framesDropped, 0),
      pendingVirtualTimers: clock.pendingTimers,
      pipelineListeners: pipeline.eventNames().map((name) => `${String(name)}:${pipeline.listenerCount(name)}`),
      pipelineListenerTotal: pipeline.eventNames().reduce((sum, name) => sum + pipeline.listenerCount(name), 0),
      processHandles: process.getActiveResourcesInfo().length,
    };
    await pipeline.end();
    await whileAdvancing(clock, sink.close());
    sample(durationMs);
    const afterEnd = samples.at(-1);
    store.endMeeting(meetingId, Date.now());
    db.close();
    const dbBytes = ['parley.db', 'parley.db-wal'].reduce((sum, f) => {
      try {
        return sum + statSync(join(dataDir, f)).size;
      } catch {
        return sum;
      }
    }, 0);
    const serverStats = await host.stats();

    const start = samples[0];
    const hourMark = samples.find((s) => s.meetingMin >= (options.quick ? 1 : 60)) ?? start;
    const heapGrowth = (endSample?.heapUsedMb ?? 0) - (hourMark?.heapUsedMb ?? 0);
    const transcriptGrowth = (endSample?.transcriptMb ?? 0) - (hourMark?.transcriptMb ?? 0);
    const rssGrowth = (endSample?.rssMb ?? 0) - (hourMark?.rssMb ?? 0);
    const flat = heapGrowth <= transcriptGrowth + HEAP_ALLOWANCE_MB && rssGrowth <= RSS_ALLOWANCE_MB && atEnd.openSessions <= speakers && atEnd.pendingVirtualTimers <= 3 * speakers;
    const speechMs = stats.packetsPerSpeaker.reduce((a, b) => a + b, 0) * PACKET_MS;
    return {
      figures: {
        rss_mb_start: start?.rssMb ?? Number.NaN,
        rss_mb_end: endSample?.rssMb ?? Number.NaN,
        rss_mb_1h: hourMark?.rssMb ?? Number.NaN,
        heap_used_mb_start: start?.heapUsedMb ?? Number.NaN,
        heap_used_mb_1h: hourMark?.heapUsedMb ?? Number.NaN,
        heap_used_mb_end: endSample?.heapUsedMb ?? Number.NaN,
        heap_growth_mb_1h_to_end: round(heapGrowth, 1),
        transcript_mb_growth_1h_to_end: round(transcriptGrowth, 2),
        memory_flat: flat ? 1 : 0,
        open_sessions_end: atEnd.openSessions,
        pipeline_listeners_end: atEnd.pipelineListenerTotal,
        pending_timers_end: atEnd.pendingVirtualTimers,
      },
      details: {
        meeting: { speakers, hours: durationMs / 3_600_000, turns: stats.turns, speechHours: round(speechMs / 3_600_000, 2), wallSeconds: round(wallSeconds, 1), speedX: round(durationMs / 1000 / wallSeconds, 0) },
        atEnd,
        afterEnd: afterEnd === undefined ? undefined : { rssMb: afterEnd.rssMb, heapUsedMb: afterEnd.heapUsedMb },
        database: { finalTurnsRecorded: pipeline.transcript.turns.length, fileMb: round(dbBytes / 2 ** 20, 2) },
        throttledSteps: throttled,
        samples,
        sttServer: serverStats.light,
      },
      notes: [],
    };
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
