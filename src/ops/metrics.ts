/**
 * Prometheus metrics (prom-client): active meetings, speakers, open STT sessions, reconnects, corrupt Opus packets, dropped PCM frames,
 * LLM errors, LLM budget refusals and caption latency. Gauges and totals are read from the live objects at scrape time, so the data
 * path carries no metrics code; only caption latency is observed as captions happen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { voiceTotals } from '../voice/dave-guard.ts';

/** What the metrics are read from at each scrape. Totals must only grow. */
export interface MetricsSource {
  activeMeetings(): number;
  /** Speakers with a live pipeline, across meetings. */
  speakers(): number;
  /** AssemblyAI sessions open now (each one bills). */
  sttSessionsOpen(): number;
  /** STT reconnects since start. */
  sttReconnects(): number;
  /** Opus packets skipped because they could not be decoded, since start. */
  corruptPackets(): number;
  /** PCM frames dropped unsent from full speech-to-text queues, since start. */
  droppedFrames(): number;
  /** Failed LLM requests (translation and recap) since start; requests the daily LLM budget refused are not errors. */
  llmErrors(): number;
  /** Translations refused unsent because the guild's daily LLM budget was used, since start; omitted: not exported. */
  llmBudgetRefusals?: () => number;
  /** Speakers whose Opus decoding was given up (fresh decoders failed too, or ran out) since start. */
  decoderFailures(): number;
  /** Tokens the LLM Gateway reported in each answer's `usage`, since start; omitted: not exported. */
  llmTokens?(): { prompt: number; completion: number };
  /** Database writes (turns, translations, meeting ends, recaps) that failed since start. */
  storeWriteFailures?: () => number;
}

/** A counter whose value is a total read from `read()` at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let reported = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const total = read();
      if (total > reported) this.inc(total - reported);
      reported = Math.max(reported, total);
    },
  });
}

/** Parley's metrics registry. */
export class ParleyMetrics {
  readonly registry = new Registry();
  /** Seconds from the end of a speaker's turn (meeting time) to its final caption being emitted. */
  readonly captionLatency: Histogram;

  constructor(source: MetricsSource) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'parley_' });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    gauge('parley_active_meetings', 'Meetings being captioned now', () => source.activeMeetings());
    gauge('parley_speakers', 'Speakers with a live caption pipeline', () => source.speakers());
    gauge('parley_stt_sessions_open', 'AssemblyAI streaming sessions open now (each bills while open)', () => source.sttSessionsOpen());
    totalCounter(registry, 'parley_stt_reconnects_total', 'AssemblyAI sessions reopened after a drop', () => source.sttReconnects());
    // Packets and frames are different units (a 20 ms Opus packet in, a PCM frame out to AssemblyAI): one counter each.
    totalCounter(registry, 'parley_corrupt_opus_packets_total', 'Opus packets skipped because they could not be decoded', () => source.corruptPackets());
    totalCounter(registry, 'parley_dropped_pcm_frames_total', 'PCM frames dropped unsent from full speech-to-text queues', () => source.droppedFrames());
    totalCounter(registry, 'parley_opus_decoder_failures_total', 'Speakers who could not be captioned because their Opus decoder kept failing after being replaced', () => source.decoderFailures());
    totalCounter(registry, 'parley_voice_recoveries_total', 'DAVE recovery steps run (passthrough, re-initialisation, rejoin)', () => voiceTotals.recoveries);
    totalCounter(registry, 'parley_voice_undecryptable_frames_total', 'Voice frames that arrived but could not be decrypted, skipped', () => voiceTotals.undecryptableFrames);
    totalCounter(registry, 'parley_voice_unencrypted_frames_total', 'Voice frames sent without DAVE in an encrypted call, passed on as Opus', () => voiceTotals.unencryptedFrames);
    totalCounter(registry, 'parley_voice_contained_errors_total', "Voice library exceptions contained instead of ending the process", () => voiceTotals.containedErrors);
    totalCounter(registry, 'parley_llm_errors_total', 'LLM Gateway requests that failed after retries and fallbacks', () => source.llmErrors());
    const budgetRefusals = source.llmBudgetRefusals;
    if (budgetRefusals !== undefined) {
      totalCounter(registry, 'parley_llm_budget_refusals_total', "Translations not sent because the guild's daily LLM request budget was used", budgetRefusals);
    }
    const tokens = source.llmTokens?.bind(source);
    if (tokens !== undefined) {
      const reported = { prompt: 0, completion: 0 };
      new Counter({
        name: 'parley_llm_tokens_total',
        help: 'Tokens billed by the LLM Gateway (usage of each answer), by type: prompt or completion',
        labelNames: ['type'],
        registers: [registry],
        collect() {
          const now = tokens();
          for (const type of ['prompt', 'completion'] as const) {
            if (now[type] > reported[type]) this.inc({ type }, now[type] - reported[type]);
            reported[type] = Math.max(reported[type], now[type]);
          }
        },
      });
    }
    const storeWriteFailures = source.storeWriteFailures;
    if (storeWriteFailures !== undefined) {
      totalCounter(registry, 'parley_store_write_failures_total', 'Database writes that failed (the meeting went on without them)', storeWriteFailures);
    }
    this.captionLatency = new Histogram({
      name: 'parley_caption_latency_seconds',
      help: 'From the end of a turn to its final caption',
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers: [registry],
    });
  }
}
