/**
 * Part 10 — memory over a meeting at real-time pacing, with translation and the recap on.
 *
 * Part 4 runs 3 hours of meeting 300× faster than real time on a virtual clock, so anything tied to wall-clock time
 * (timers that pile up, rate-limit windows, HTTP keep-alive pools, buckets in discord.js's REST client, the
 * Translator's limiter) cannot show. This part runs the meeting on the system clock, one minute per minute:
 *
 * - speakers (default 8) take turns as in part 4 (`conversationPackets`: utterances cut from the fixtures, 1–3 per
 *   turn, pauses and lulls, backchannels), pushed to the production `CaptionPipeline` as their packets fall due;
 *   the live STT settings (`loadConfig` defaults: idle close 2 s, max_turn_silence 1,000 ms), so sessions close
 *   when a speaker falls quiet and reopen when they speak again; and every few minutes a member leaves the voice
 *   channel (`removeSpeaker` + the sink's `clearSpeaker`, as `Meeting.removeMember` does) and comes back when they
 *   next speak;
 * - finals and partials go to the production `DiscordSink` through discord.js's `REST` client to a local stand-in of
 *   Discord's REST API (bench/lib/discord-rest.ts: answers at once, no rate limits); finals into the SQLite
 *   `MeetingStore` (a temporary data directory);
 * - translation on: the production `Translator` (one per process, `forMeeting()` per meeting) and `TranslationSink`
 *   into 3 languages against the fake LLM Gateway (test/fakes/llm-server.ts), with `TranslationThreads` posting each
 *   language to its own channel of the stand-in (it has no thread-creation route: the thread is opened as a channel);
 * - at the end, as `Meeting.end` does: every session terminated, translations flushed, threads and sink closed,
 *   `buildMeetingReport` with the recap (fake gateway) and `postMeetingReport` with the transcript files.
 * The STT (light server, `turns` mode), Discord and LLM stand-ins run in a child process.
 *
 * Memory is sampled after a full GC (`--expose-gc`) at the start and every minute. "Flat" (issue 14): RSS stays
 * within 10 MB of its value at the 15-minute mark (a quarter of the run) to the end. Heap used is reported the same
 * way. Left out: the Discord gateway and voice connection (no UDP receive, no DAVE), the caption page, metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REST, Routes } from 'discord.js';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { Speaker } from '../../src/captions/caption.ts';
import { DiscordSink, type CaptionChannel } from '../../src/captions/discord-sink.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider, type SttProvider } from '../../src/stt/provider.ts';
import { openDatabase } from '../../src/store/database.ts';
import { MeetingStore } from '../../src/store/meeting-store.ts';
import { createLlmClient } from '../../src/llm/gateway-client.ts';
import { Translator } from '../../src/translation/translator.ts';
import { TranslationSink } from '../../src/translation/translation-sink.ts';
import { TranslationThreads } from '../../src/translation/translation-threads.ts';
import { buildMeetingReport, postMeetingReport, type ReportTarget } from '../../src/meeting/meeting-report.ts';
import { buildClips, conversationPackets, loadTracks, PACKET_MS, type Clip, type ConversationStats } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { cpuStopwatch, memorySample, round, type MemorySample } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** "Flat": RSS after GC stays within this of its value at the mark, MB (issue 14). */
export const RSS_FLAT_MB = 10;
/** The mark flatness is judged from, as a share of the run: 15 minutes of 60. */
export const FLAT_FROM_SHARE = 0.25;
/** Default length of the run, minutes (`--realtime-minutes`). */
export const DEFAULT_MINUTES = 60;
/** Length under `--quick`, minutes. */
export const QUICK_MINUTES = 2;

/** One memory sample, after a full GC. */
export interface RealtimeSample extends MemorySample {
  /** Wall time since the meeting started, minutes. */
  minute: number;
  finals: number;
  translated: number;
  openSessions: number;
  sessionsOpened: number;
  /** `process.getActiveResourcesInfo().length`: sockets, timers and the like. */
  handles: number;
  /** CPU time of this process since the start, ms. */
  cpuMs: number;
}

/** Options of {@link measureRealtimeMemory}. */
export interface RealtimeMemoryOptions {
  sttUrl: string;
  discordApi: string;
  llmBaseUrl: string;
  clips: readonly Clip[];
  durationMs: number;
  sampleEveryMs: number;
  speakers: number;
  languages: readonly string[];
  /** Every this often, one member leaves (and comes back when they next speak), ms. */
  leaveEveryMs: number;
  logger: Logger;
  /** Told each sample as it is taken (progress). */
  onSample?: (sample: RealtimeSample) => void;
}

/** What {@link measureRealtimeMemory} saw. */
export interface RealtimeMemoryRun {
  samples: RealtimeSample[];
  /** Sampled after `end`, the report posted and the translator closed. */
  afterEnd: MemorySample;
  finals: number;
  /** Finals whose translations arrived, in every language. */
  translated: number;
  translationsFailed: number;
  translationsStored: number;
  sessionsOpened: number;
  leaves: number;
  turns: number;
  speechMinutes: number;
  captionMessages: { posts: number; edits: number; failures: number; dropped: number };
  recapMade: boolean;
  reportFiles: number;
  reportMessages: number;
  /** Speakers still in the pipeline, sessions still open and timers still pending after the end. */
  leftAfterEnd: { speakers: number; openSessions: number; listeners: number };
  /** How late packets were pushed against their schedule, ms (pacing quality on a busy machine). */
  lateMsMax: number;
  wallMinutes: number;
}

/** Flatness from the mark (`fromMinute`) to the end: largest distance from the mark's value. */
export function flatness(samples: readonly RealtimeSample[], fromMinute: number): {
  from: RealtimeSample | undefined;
  end: RealtimeSample | undefined;
  rssDriftMb: number;
  heapDriftMb: number;
  rssRangeMb: number;
  flat: boolean;
} {
  const from = samples.find((s) => s.minute >= fromMinute - 1e-9);
  const end = samples.at(-1);
  if (from === undefined || end === undefined) return { from, end, rssDriftMb: Number.NaN, heapDriftMb: Number.NaN, rssRangeMb: Number.NaN, flat: false };
  const after = samples.filter((s) => s.minute >= from.minute);
  const rssDriftMb = round(Math.max(...after.map((s) => Math.abs(s.rssMb - from.rssMb))), 1);
  const heapDriftMb = round(Math.max(...after.map((s) => Math.abs(s.heapUsedMb - from.heapUsedMb))), 1);
  const rssRangeMb = round(Math.max(...after.map((s) => s.rssMb)) - Math.min(...after.map((s) => s.rssMb)), 1);
  return { from, end, rssDriftMb, heapDriftMb, rssRangeMb, flat: rssDriftMb <= RSS_FLAT_MB };
}

/** A caption channel on the Discord stand-in, through discord.js's REST client. */
function restChannel(rest: REST, channelId: string): CaptionChannel {
  return {
    send: async (message) => {
      const answer = (await rest.post(Routes.channelMessages(channelId), { body: { content: message.content, allowed_mentions: message.allowedMentions } })) as { id: string };
      return { id: answer.id };
    },
    edit: async (messageId, message) => {
      await rest.patch(Routes.channelMessage(channelId, messageId), { body: { content: message.content, allowed_mentions: message.allowedMentions } });
    },
  };
}

/** Runs one meeting at real-time pacing and samples memory; see the module comment. */
export async function measureRealtimeMemory(o: RealtimeMemoryOptions): Promise<RealtimeMemoryRun> {
  const config = loadConfig({ ASSEMBLYAI_API_KEY: BENCH_API_KEY, ASSEMBLYAI_STREAMING_URL: o.sttUrl, LLM_GATEWAY_URL: o.llmBaseUrl });
  const { logger } = o;
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-realtime-'));
  const rest = new REST({ api: o.discordApi, version: '10' }).setToken('bench-token');
  const llm = createLlmClient({ baseUrl: config.llm.baseUrl, apiKey: config.llm.apiKey, timeoutMs: config.llm.timeoutMs, logger });
  const translator = new Translator({ client: llm, model: config.llm.translationModel, fallbackModels: config.llm.translationFallbackModels, logger });
  try {
    const db = openDatabase(dataDir);
    const store = new MeetingStore(db);
    const real = createAssemblyAIProvider(config.stt, logger);
    let sessionsOpened = 0;
    const provider: SttProvider = {
      speechModel: real.speechModel,
      idleClose: real.idleClose,
      budget: real.budget,
      open: (...args) => {
        sessionsOpened++;
        return real.open(...args);
      },
    };
    const captionChannelId = '200000000000000001';
    const sink = new DiscordSink({ channel: restChannel(rest, captionChannelId), clock: systemClock, logger });
    const threads = new TranslationThreads({
      open: async (language) => restChannel(rest, `2000000000000001${String(o.languages.indexOf(language) + 10).padStart(2, '0')}`),
      clock: systemClock,
      logger,
      onNotice: (notice) => sink.notice(notice),
    });
    let meetingId = 0;
    let translated = 0;
    let translationsFailed = 0;
    let translationsStored = 0;
    let pipeline: CaptionPipeline | undefined;
    const translation = new TranslationSink({
      translator: translator.forMeeting(),
      languages: () => o.languages,
      logger,
      onTranslated: (result) => {
        if (result.failed.length > 0) translationsFailed++;
        else translated++;
        for (const [language, text] of Object.entries(result.translations)) {
          pipeline?.transcript.setTranslation(result.event.turnId, language, text);
          store.recordTranslation(meetingId, result.event.turnId, language, text);
          translationsStored++;
        }
        threads.post(result);
      },
      onNotice: (notice) => sink.notice(notice),
    });
    const startedAtMs = Date.now();
    const live = new CaptionPipeline({
      provider,
      clock: systemClock,
      logger,
      sinks: [sink, translation],
      keyterms: [],
      idleCloseMs: () => provider.idleClose.currentMs(),
      maxTurnSilenceMs: config.stt.maxTurnSilenceMs,
    });
    pipeline = live;
    meetingId = store.startMeeting({ guildId: '1', voiceChannelId: '2', captionChannelId, startedBy: '4', startedAtMs });
    let finals = 0;
    live.prependListener('caption', (event) => {
      if (event.kind !== 'final') return;
      finals++;
      store.recordTurn(meetingId, event);
    });

    const openSessions = () => live.status().filter((s) => s.state === 'open' || s.state === 'connecting' || s.state === 'terminating').length;
    const cpu = cpuStopwatch();
    const samples: RealtimeSample[] = [];
    const start = performance.now();
    const sample = () => {
      const m = memorySample();
      const s: RealtimeSample = {
        ...m,
        minute: round((performance.now() - start) / 60_000, 2),
        finals,
        translated,
        openSessions: openSessions(),
        sessionsOpened,
        handles: process.getActiveResourcesInfo().length,
        cpuMs: round(cpu().totalMs, 0),
      };
      samples.push(s);
      o.onSample?.(s);
    };

    const speakers: Speaker[] = Array.from({ length: o.speakers }, (_, i) => ({ id: `30000000000000000${i}`, name: `Member ${i + 1}` }));
    const stats: ConversationStats = { packetsPerSpeaker: [], turns: 0, endMs: 0 };
    const packets = conversationPackets({ speakers: o.speakers, durationMs: o.durationMs, seed: 11, clips: o.clips }, stats);
    let next = packets.next();
    let nextSampleAt = 0;
    let nextLeaveAt = o.leaveEveryMs;
    let leaves = 0;
    let lateMsMax = 0;
    for (;;) {
      const elapsed = performance.now() - start;
      if (elapsed >= nextSampleAt) {
        sample();
        nextSampleAt += o.sampleEveryMs;
        if (nextSampleAt > o.durationMs) break;
      }
      if (elapsed >= nextLeaveAt) {
        const leaving = speakers[leaves % speakers.length];
        if (leaving !== undefined) {
          sink.clearSpeaker(leaving.id);
          void live.removeSpeaker(leaving.id);
        }
        leaves++;
        nextLeaveAt += o.leaveEveryMs;
      }
      while (!next.done && next.value.atMs <= elapsed) {
        lateMsMax = Math.max(lateMsMax, elapsed - next.value.atMs);
        const speaker = speakers[next.value.speaker];
        if (speaker !== undefined) live.pushOpusPacket(speaker, next.value.packet);
        next = packets.next();
      }
      const wakeAt = Math.min(nextSampleAt, nextLeaveAt, next.done ? Infinity : next.value.atMs);
      await sleep(Math.max(1, wakeAt - (performance.now() - start)));
    }

    // The end, as Meeting.end does it without a shutdown deadline.
    const wallMinutes = round((performance.now() - start) / 60_000, 2);
    await live.end();
    await translation.flushed();
    store.endMeeting(meetingId, Date.now());
    await threads.close();
    await sink.close();
    const report = await buildMeetingReport({
      title: `Meeting in #captions, ${new Date(startedAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      transcript: live.transcript,
      durationMs: Date.now() - startedAtMs,
      headline: '⏹️ Captioning has ended.',
      recap: { client: llm, model: config.llm.recapModel, fallbackModels: config.llm.recapFallbackModels, timeoutMs: config.llm.recapTimeoutMs },
      logger,
    });
    if (report.recap !== undefined) store.saveRecap(meetingId, JSON.stringify(report.recap));
    let reportMessages = 0;
    const target: ReportTarget = {
      send: async (message) => {
        reportMessages++;
        await rest.post(Routes.channelMessages(captionChannelId), {
          body: { content: message.content, embeds: message.embeds, allowed_mentions: message.allowedMentions },
          files: message.files.map((file, i) => ({ name: file.name ?? `file-${i}`, data: file.attachment as Buffer })),
        });
      },
    };
    await postMeetingReport(target, report);
    const leftAfterEnd = {
      speakers: live.speakerCount,
      openSessions: live.closing().length,
      listeners: live.eventNames().reduce((sum, name) => sum + live.listenerCount(name), 0),
    };
    const speechMs = stats.packetsPerSpeaker.reduce((a, b) => a + b, 0) * PACKET_MS;
    const result: Omit<RealtimeMemoryRun, 'afterEnd'> = {
      samples,
      finals,
      translated,
      translationsFailed,
      translationsStored,
      sessionsOpened,
      leaves,
      turns: stats.turns,
      speechMinutes: round(speechMs / 60_000, 1),
      captionMessages: { ...sink.counts },
      recapMade: report.recap !== undefined && report.recapFailed !== true,
      reportFiles: report.files.length,
      reportMessages,
      leftAfterEnd,
      lateMsMax: round(lateMsMax, 0),
      wallMinutes,
    };
    db.close();
    await translator.close();
    return { ...result, afterEnd: memorySample() };
  } finally {
    await translator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs part 10. */
export async function run(options: PartOptions): Promise<PartResult> {
  const minutes = options.realtimeMinutes ?? (options.quick ? QUICK_MINUTES : DEFAULT_MINUTES);
  const durationMs = Math.round(minutes * 60_000);
  // A sample a minute; at least eight samples in a short run.
  const sampleEveryMs = Math.min(60_000, Math.max(1_000, Math.round(durationMs / 8)));
  const clips = buildClips(await loadTracks());
  const host = await startServers({ stt: { kind: 'light-turns' }, discord: true, llm: true });
  const languages = ['es', 'fr', 'de'];
  try {
    const logger = createLogger({ level: 'warn', secrets: [BENCH_API_KEY, 'bench-token'] });
    const runResult = await measureRealtimeMemory({
      sttUrl: host.sttUrl ?? '',
      discordApi: host.discordApi ?? '',
      llmBaseUrl: host.llmBaseUrl ?? '',
      clips,
      durationMs,
      sampleEveryMs,
      speakers: 8,
      languages,
      leaveEveryMs: Math.max(2_000, Math.round(durationMs / 12)),
      logger,
      onSample: (s) =>
        process.stderr.write(
          `    realtime-memory ${s.minute.toFixed(1)} min: rss ${s.rssMb} MB, heap ${s.heapUsedMb} MB, external ${s.externalMb} MB, finals ${s.finals}, translated ${s.translated}, sessions ${s.sessionsOpened} (open ${s.openSessions}), handles ${s.handles}, cpu ${s.cpuMs} ms\n`,
        ),
    });
    const f = flatness(runResult.samples, minutes * FLAT_FROM_SHARE);
    const serverStats = await host.stats();
    const llmRequests = serverStats.llm ?? [];
    return {
      figures: {
        realtime_minutes: minutes,
        realtime_rss_mb_15min: f.from?.rssMb ?? Number.NaN,
        realtime_rss_mb_end: f.end?.rssMb ?? Number.NaN,
        realtime_rss_drift_mb_15min_to_end: f.rssDriftMb,
        realtime_heap_used_mb_15min: f.from?.heapUsedMb ?? Number.NaN,
        realtime_heap_used_mb_end: f.end?.heapUsedMb ?? Number.NaN,
        realtime_heap_drift_mb_15min_to_end: f.heapDriftMb,
        realtime_memory_flat: f.flat ? 1 : 0,
        realtime_cpu_percent: round((((f.end?.cpuMs ?? 0) / Math.max(1, runResult.wallMinutes * 60_000)) * 100), 1),
      },
      details: {
        speakers: 8,
        languages,
        fromMinute: f.from?.minute,
        rssRangeMb: f.rssRangeMb,
        finals: runResult.finals,
        translated: runResult.translated,
        translationsFailed: runResult.translationsFailed,
        translationsStored: runResult.translationsStored,
        sessionsOpened: runResult.sessionsOpened,
        leaves: runResult.leaves,
        turns: runResult.turns,
        speechMinutes: runResult.speechMinutes,
        captionMessages: runResult.captionMessages,
        recapMade: runResult.recapMade,
        reportFiles: runResult.reportFiles,
        reportMessages: runResult.reportMessages,
        leftAfterEnd: runResult.leftAfterEnd,
        lateMsMax: runResult.lateMsMax,
        wallMinutes: runResult.wallMinutes,
        afterEnd: runResult.afterEnd,
        llmRequests: llmRequests.length,
        discordRequests: serverStats.discord?.length ?? 0,
        sttServer: serverStats.light,
        maxRssMbNoGc: round(process.resourceUsage().maxRSS / 1024, 1),
        samples: runResult.samples,
      },
      notes: [],
    };
  } finally {
    await host.close();
  }
}
