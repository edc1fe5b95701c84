/**
 * Part 6 — LLM requests per final turn and per minute, translating into 3 languages, in both translation modes.
 *
 * Batched (`TRANSLATION_MODE=batched`, the default), first:
 * The production `TranslationSink` and `Translator` (defaults: at most 30 requests per minute per model, up to 8
 * turns coalesced per request, every language of a turn in the same request) with the production gateway client,
 * against the fake LLM Gateway (child process; its default handler answers translation schemas at once). A lively
 * 10-speaker call: each speaker has a final turn every 3–5 s (about 4 s on average: 150 finals a minute in all),
 * for 65 s of real time; then the backlog drains. Real time, not scaled: the Translator's limiter runs on wall
 * time, and a scaled budget would only prove the scaling. Per-minute figures are the most requests the fake
 * received in any 60-second window.
 *
 * In-stream (`TRANSLATION_MODE=in-stream`), second, see {@link runInStream}: 10 speakers' `SpeakerStream`s, each
 * session opened with the production `llm_gateway` prompt, against the full fake AssemblyAI server, which runs the
 * prompt on each final turn against the fake LLM Gateway (both in the server host's process) and answers with
 * `LLMGatewayResponse`; the production `InStreamTranslator` + `TranslationSink` turn the answers into translations.
 * Requests counted are the ones the fake AssemblyAI made to the gateway (AssemblyAI's, server-side).
 *
 * Both delays run from the moment Parley has the final caption to the moment its translations are ready to post,
 * on local servers with no model time: they measure Parley's queueing and the extra hops, not a model's latency.
 */
import { silentLogger, type Logger } from '../../src/log.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { createLlmClient } from '../../src/llm/gateway-client.ts';
import { TranslationSink } from '../../src/translation/translation-sink.ts';
import { Translator, type TurnTranslator } from '../../src/translation/translator.ts';
import { InStreamTranslator } from '../../src/translation/in-stream-translator.ts';
import { inStreamGatewayConfig } from '../../src/translation/in-stream-prompt.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { SpeakerStream } from '../../src/stt/speaker-stream.ts';
import { systemClock } from '../../src/clock.ts';
import { PCM_FRAME_BYTES, PCM_FRAME_MS } from '../../src/audio/format.ts';
import { speechManifest } from '../../test/support/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { maxInWindow, percentile, round, seededRandom } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** The gateway's limit per model, requests per minute (paid accounts: AssemblyAI docs, LLM Gateway "Rate limits"). */
export const GATEWAY_LIMIT_PER_MINUTE = 30;
const LANGUAGES = ['es', 'fr', 'de'];
const MODEL = 'gemini-2.5-flash-lite';

/** Sentences to say: the fixtures' reference texts, split at sentence ends. */
function sentences(): string[] {
  const texts = speechManifest().flatMap((entry) => [entry.text, ...(entry.segments ?? []).map((s) => s.text)]);
  return texts.flatMap((text) => text.split(/(?<=[.?!])\s+/)).filter((s) => s.trim().length > 0);
}

/** Runs part 6: batched, then in-stream. */
export async function run(options: PartOptions): Promise<PartResult> {
  const batched = await runBatched(options);
  const inStream = await runInStream(options);
  const f = batched.figures;
  return {
    figures: {
      ...f,
      llm_requests_per_final_turn_batched: f['llm_requests_per_final_turn'] ?? Number.NaN,
      translation_delay_ms_p50_batched: f['translation_delay_ms_p50'] ?? Number.NaN,
      translation_delay_ms_p99_batched: f['translation_delay_ms_p99'] ?? Number.NaN,
      ...inStream.figures,
    },
    details: { batched: batched.details, inStream: inStream.details },
    notes: [...batched.notes, ...inStream.notes],
  };
}

/** The batched mode: the production Translator against the fake LLM Gateway. */
/** The production `TranslationSink` into {@link LANGUAGES}, timing each final (stamped in `finalAt`) to its translations. */
function timedSink(translator: TurnTranslator, logger: Logger): { sink: TranslationSink; delivered: number[]; finalAt: Map<string, number>; failed: () => number } {
  const delivered: number[] = [];
  const finalAt = new Map<string, number>();
  let failed = 0;
  const sink = new TranslationSink({
    translator,
    languages: () => LANGUAGES,
    logger,
    onTranslated: (result) => {
      if (result.failed.length > 0) failed++;
      const at = finalAt.get(result.event.turnId);
      if (at !== undefined) delivered.push(performance.now() - at);
    },
    onNotice: () => {},
  });
  return { sink, delivered, finalAt, failed: () => failed };
}

async function runBatched(options: PartOptions): Promise<PartResult> {
  const speakers = 10;
  const durationMs = options.quick ? 6_000 : 65_000;
  const host = await startServers({ llm: true });
  const logger = silentLogger();
  const client = createLlmClient({ baseUrl: host.llmBaseUrl ?? '', apiKey: BENCH_API_KEY, logger });
  const translator = new Translator({ client, model: MODEL, logger });
  const { sink, delivered, finalAt, failed } = timedSink(translator, logger);
  const lines = sentences();
  const random = seededRandom(3);
  let finals = 0;
  const start = performance.now();
  try {
    await Promise.all(
      Array.from({ length: speakers }, async (_, i) => {
        const speaker = { id: `u${i + 1}`, name: `Speaker ${i + 1}` };
        let t = random() * 4_000;
        let n = 0;
        for (;;) {
          const wait = start + t - performance.now();
          if (t > durationMs) break;
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const meetingMs = Math.round(performance.now() - start);
          const event: CaptionEvent = {
            kind: 'final',
            speaker,
            turnId: `${speaker.id}:1:${n++}`,
            startMs: Math.max(0, meetingMs - 2_500),
            endMs: meetingMs,
            text: lines[Math.floor(random() * lines.length)] ?? 'Hello.',
          };
          finalAt.set(event.turnId, performance.now());
          finals++;
          sink.caption(event);
          t += 3_000 + random() * 2_000;
        }
      }),
    );
    await sink.flushed();
    const stats = await host.stats();
    const received = (stats.llm ?? []).filter((r) => r.model === MODEL).map((r) => r.receivedAt);
    const requests = received.length;
    const perMinuteMax = maxInWindow(received, 60_000);
    const t = translator.stats();
    const spanMs = received.length > 1 ? (received.at(-1) ?? 0) - (received[0] ?? 0) : 0;
    return {
      figures: {
        llm_requests_per_final_turn: round(requests / finals, 3),
        llm_requests_per_minute_10_speakers: perMinuteMax,
        llm_final_turns_per_minute_10_speakers: round(finals / (durationMs / 60_000), 1),
        translation_delay_ms_p50: round(percentile(delivered, 50), 0),
        translation_delay_ms_p99: round(percentile(delivered, 99), 0),
      },
      details: {
        languages: LANGUAGES,
        model: MODEL,
        speakers,
        durationSeconds: durationMs / 1000,
        finals,
        requests,
        translatorStats: t,
        turnsPerRequest: round(t.turns / Math.max(1, t.requests), 2),
        averageRequestsPerMinute: spanMs > 0 ? round(((requests - 1) / spanMs) * 60_000, 1) : null,
        maxRequestsInAny60s: perMinuteMax,
        failedTranslations: failed(),
        delivered: delivered.length,
      },
      notes: [],
    };
  } finally {
    await translator.close();
    await host.close();
  }
}

/** A 440 Hz tone frame at about −13.5 dBFS RMS (the fake's speech threshold is −45 dBFS), 16 kHz s16le mono. */
function toneFrame(startSample: number): Buffer {
  const pcm = Buffer.alloc(PCM_FRAME_BYTES);
  for (let i = 0; i < PCM_FRAME_BYTES / 2; i++) pcm.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * (startSample + i)) / 16_000) * 0.3 * 32_767), i * 2);
  return pcm;
}

/**
 * The in-stream mode: 10 speakers, each saying a 1.5–2.5 s utterance every 3–5 s (real-time PCM frames, then the
 * silence the pipeline fills after a spurt and the end of speech), for 25 s of real time (6 s with `quick`).
 * Sessions stay open between utterances (idle close 15 s), as in a lively call.
 */
async function runInStream(options: PartOptions): Promise<PartResult> {
  const speakers = 10;
  const durationMs = options.quick ? 6_000 : 25_000;
  const host = await startServers({ stt: { kind: 'fake' }, llm: true });
  const logger = silentLogger();
  const provider = createAssemblyAIProvider(
    { apiKey: BENCH_API_KEY, streamingUrl: host.sttUrl ?? '', speechModel: 'u3-rt-pro', idleCloseMs: 15_000, idleCloseMaxMs: 15_000, minTurnSilenceMs: undefined, maxTurnSilenceMs: 1_000, keyterms: [], newSessionsPerMinute: 100_000 },
    logger,
  );
  const translator = new InStreamTranslator({ model: MODEL, logger });
  const { sink, delivered, finalAt, failed } = timedSink(translator, logger);
  let finals = 0;
  const random = seededRandom(5);
  const start = performance.now();
  const streams = Array.from({ length: speakers }, (_, i) => {
    const speaker = { id: `u${i + 1}`, name: `Speaker ${i + 1}` };
    const stream = new SpeakerStream({
      speaker,
      provider,
      clock: systemClock,
      logger,
      keyterms: () => [],
      llmGateway: () => inStreamGatewayConfig({ model: MODEL, languages: LANGUAGES, speakerName: speaker.name }),
      idleCloseMs: 15_000,
    });
    stream.on('caption', (event) => {
      if (event.kind !== 'final') return;
      finals++;
      finalAt.set(event.turnId, performance.now());
      sink.caption(event);
    });
    stream.on('llmResult', (result) => translator.onResult(result));
    return stream;
  });
  const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, start + at - performance.now())));
  try {
    await Promise.all(
      streams.map(async (stream) => {
        let t = random() * 3_000;
        let sample = 0;
        while (t + 4_000 <= durationMs) {
          const speechMs = 1_500 + Math.round(random() * 1_000);
          const frames = Math.round(speechMs / PCM_FRAME_MS) + Math.round(1_300 / PCM_FRAME_MS);
          for (let n = 0; n < frames; n++) {
            await sleepUntil(t + n * PCM_FRAME_MS);
            const speech = n * PCM_FRAME_MS < speechMs;
            stream.pushFrame({ pcm: speech ? toneFrame(sample) : Buffer.alloc(PCM_FRAME_BYTES), meetingStartMs: Math.round(t + n * PCM_FRAME_MS), speech });
            sample += PCM_FRAME_BYTES / 2;
          }
          stream.endOfSpeech();
          t += speechMs + 1_500 + random() * 2_000;
        }
      }),
    );
    await Promise.all(streams.map((stream) => stream.end()));
    await sink.flushed();
    const stats = await host.stats();
    const requests = (stats.llm ?? []).filter((r) => r.model === MODEL).length;
    const t = translator.stats();
    return {
      figures: {
        llm_requests_per_final_turn_in_stream: round(requests / Math.max(1, finals), 3),
        llm_requests_per_minute_10_speakers_in_stream: round(requests / (durationMs / 60_000), 0),
        translation_delay_ms_p50_in_stream: round(percentile(delivered, 50), 0),
        translation_delay_ms_p99_in_stream: round(percentile(delivered, 99), 0),
      },
      details: {
        languages: LANGUAGES,
        model: MODEL,
        speakers,
        durationSeconds: durationMs / 1000,
        finals,
        requests,
        answers: t.answers,
        failedTranslations: failed(),
        delivered: delivered.length,
        sttViolations: stats.fake?.violations ?? [],
      },
      notes: stats.fake !== undefined && stats.fake.violationCount > 0 ? [`in-stream: the fake AssemblyAI server recorded ${stats.fake.violationCount} protocol violations`] : [],
    };
  } finally {
    for (const stream of streams) stream.destroy();
    translator.close();
    await host.close();
  }
}
