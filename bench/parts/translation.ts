/**
 * Part 6 — LLM requests per final turn and per minute, translating into 3 languages.
 *
 * The production `TranslationSink` and `Translator` (defaults: at most 30 requests per minute per model, up to 8
 * turns coalesced per request, every language of a turn in the same request) with the production gateway client,
 * against the fake LLM Gateway (child process; its default handler answers translation schemas at once). A lively
 * 10-speaker call: each speaker has a final turn every 3–5 s (about 4 s on average: 150 finals a minute in all),
 * for 65 s of real time; then the backlog drains. Real time, not scaled: the Translator's limiter runs on wall
 * time, and a scaled budget would only prove the scaling. Per-minute figures are the most requests the fake
 * received in any 60-second window.
 */
import { silentLogger } from '../../src/log.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { createLlmClient } from '../../src/llm/gateway-client.ts';
import { TranslationSink } from '../../src/translation/translation-sink.ts';
import { Translator } from '../../src/translation/translator.ts';
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

/** Runs part 6. */
export async function run(options: PartOptions): Promise<PartResult> {
  const speakers = 10;
  const durationMs = options.quick ? 6_000 : 65_000;
  const host = await startServers({ llm: true });
  const logger = silentLogger();
  const client = createLlmClient({ baseUrl: host.llmBaseUrl ?? '', apiKey: BENCH_API_KEY, logger });
  const translator = new Translator({ client, model: MODEL, logger });
  const delivered: number[] = [];
  let failed = 0;
  const finalAt = new Map<string, number>();
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
        failedTranslations: failed,
        delivered: delivered.length,
      },
      notes: [],
    };
  } finally {
    await translator.close();
    await host.close();
  }
}
