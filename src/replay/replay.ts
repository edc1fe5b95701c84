/**
 * Replays recorded speakers through the same caption pipeline the bot uses: each track becomes the Opus packets a
 * Discord client would send (48 kHz stereo, 20 ms, nothing during silence), delivered at their times.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtualClock } from '../clock.ts';
import { PCM_FRAME_MS } from '../audio/format.ts';
import type { Logger } from '../log.ts';
import type { CaptionSink, Speaker } from '../captions/caption.ts';
import type { CloseClassification } from '../stt/assemblyai/close-codes.ts';
import type { SttProvider } from '../stt/provider.ts';
import { CaptionPipeline } from '../pipeline/caption-pipeline.ts';
import type { Transcript } from '../transcript/transcript.ts';
import { mergeByTime, type PacketSource } from './schedule.ts';
import { TranslationSink, type TranslatedCaption } from '../translation/translation-sink.ts';
import type { Translator } from '../translation/translator.ts';
import { InStreamTranslator } from '../translation/in-stream-translator.ts';
import { inStreamGatewayConfig } from '../translation/in-stream-prompt.ts';

/** One speaker's packets. */
export interface ReplayTrack {
  speaker: Speaker;
  /** In send order; pulled as the replay plays (one packet ahead), so a source decoded on the fly stays in bounded memory. */
  packets: PacketSource['packets'];
}

/** Options for {@link runReplay}. */
export interface ReplayOptions {
  tracks: ReplayTrack[];
  provider: SttProvider;
  /** Playback speed: 1 is real time; more is for local servers only (AssemblyAI rejects faster-than-real-time audio). */
  speed: number;
  logger: Logger;
  sinks: CaptionSink[];
  keyterms: readonly string[];
  idleCloseMs: number | (() => number);
  maxTurnSilenceMs: number;
  /** Pacing allowance for session audio; `null` when the clock is accelerated (local servers only). */
  maxAudioAheadMs: number | null;
  /** Wall time allowed for draining after the last turn's silence, ms; default {@link DEFAULT_DRAIN_TIMEOUT_MS}. */
  drainTimeoutMs?: number;
  /** Translate every final caption into these languages. */
  translation?: {
    translator: Translator;
    languages: readonly string[];
    /** Set for `TRANSLATION_MODE=in-stream`: AssemblyAI translates each final turn with this model (`llm_gateway`). */
    inStreamModel?: string;
    /** Each caption's translations, in caption order. */
    onTranslated: (result: TranslatedCaption) => void;
  };
}

/** What a replay produced. `fatal` is set when AssemblyAI refused us and the replay stopped early. */
export interface ReplayResult {
  transcript: Transcript;
  fatal?: CloseClassification;
}

/** Meeting time between two steps of the replay clock, ms: the PCM frame length. */
const STEP_MS = 50;

/**
 * Default bound on draining, wall ms: 5 minutes. The slowest legitimate drain at `--speed 1` is a speaker whose
 * queue is full (60 s of audio, `maxQueuedMs`) paced out at real time after a reconnect that used every retry
 * (7 attempts of up to 10 s each to get `Begin`, backoff capped at 15 s, 5 s more after each 3009), then a
 * `Terminate` answered within its 5 s deadline: about 3.5 minutes.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 300_000;

/** Thrown by {@link runReplay} when the pipeline has not drained within `drainTimeoutMs`. */
export class ReplayDrainError extends Error {
  override name = 'ReplayDrainError';
  constructor(timeoutMs: number, pending: string[]) {
    super(
      `replay did not finish within ${Math.round(timeoutMs / 1000)} s of the recording's end: still waiting for ${pending.join('; ')}. Its sessions were closed without their last captions.`,
    );
  }
}

/**
 * Plays every track from meeting time 0, waits for the last final transcripts, and returns the transcript.
 *
 * Time is virtual: the replay advances the pipeline's clock in steps of at most 50 ms, paced against wall time
 * at `speed`, so packets arrive at exactly their recorded times and the pipeline's timers fire at exactly their
 * meeting times, whatever the machine's load. The clock keeps moving at `speed` after the last packet until the
 * pipeline has drained (every speaker's queued audio sent, every session terminated): after a reconnect or a slow
 * handshake a session's audio runs ahead of the time since its `Begin`, and paced frames wait for the clock.
 *
 * @throws {ReplayDrainError} when draining takes longer than `drainTimeoutMs` (wall ms, default 5 minutes); the
 *   sessions still open are dropped first, so none is left billing.
 * @throws whatever a track's packet source throws when it is pulled (e.g. `AudioFileError` for a recording found
 *   corrupt mid-way); the replay stops there
 */
export async function runReplay(options: ReplayOptions): Promise<ReplayResult> {
  const clock = new VirtualClock();
  const translation = options.translation;
  const inStreamModel = translation?.inStreamModel;
  const inStream = inStreamModel === undefined ? undefined : new InStreamTranslator({ model: inStreamModel, logger: options.logger, clock });
  const translationSink =
    translation === undefined
      ? undefined
      : new TranslationSink({
          translator: inStream ?? translation.translator,
          languages: () => translation.languages,
          logger: options.logger,
          onTranslated: (result) => {
            for (const [language, text] of Object.entries(result.translations)) pipeline.transcript.setTranslation(result.event.turnId, language, text);
            translation.onTranslated(result);
          },
          onNotice: (notice) => {
            for (const sink of options.sinks) sink.notice(notice);
          },
        });
  const pipeline = new CaptionPipeline({
    provider: options.provider,
    clock,
    logger: options.logger,
    sinks: translationSink === undefined ? options.sinks : [...options.sinks, translationSink],
    keyterms: options.keyterms,
    ...(inStreamModel !== undefined &&
      translation !== undefined && {
        llmGateway: (speaker: Speaker) => inStreamGatewayConfig({ model: inStreamModel, languages: translation.languages, speakerName: speaker.name }),
      }),
    idleCloseMs: options.idleCloseMs,
    maxTurnSilenceMs: options.maxTurnSilenceMs,
    maxAudioAheadMs: options.maxAudioAheadMs,
    jitterMs: 0, // packet times are exact
  });
  pipeline.on('llmResult', (result) => inStream?.onResult(result));
  const schedule = mergeByTime(options.tracks);

  let fatal: CloseClassification | undefined;
  pipeline.once('fatal', (close) => {
    fatal = close;
  });

  const wallStart = performance.now();
  const advanceTo = async (time: number) => {
    while (clock.now() < time && fatal === undefined) {
      const next = Math.min(time, clock.now() + STEP_MS);
      const wait = wallStart + next / options.speed - performance.now();
      await sleep(Math.max(0, wait)); // always yields, so socket events are handled between steps
      clock.advanceTo(next);
    }
  };

  let lastAt = 0;
  for await (const item of schedule) {
    if (fatal !== undefined) break;
    await advanceTo(item.atMs);
    pipeline.pushOpusPacket(item.speaker, item.packet, item.atMs);
    lastAt = item.atMs;
  }
  // Let the last turns end the way live ones do: on silence after the speaker's last packet.
  await advanceTo(lastAt + options.maxTurnSilenceMs + 400);
  const transcript = await drain(pipeline, clock, options.speed, options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  await translationSink?.flushed();
  return fatal === undefined ? { transcript } : { transcript, fatal };
}

/**
 * Ends the pipeline while its clock keeps moving, paced at `speed`, so that frames held back by pacing and timers
 * of sessions still closing can run. Bounded by `timeoutMs` of wall time.
 *
 * @throws {ReplayDrainError} on timeout, after dropping the sessions still open.
 */
async function drain(pipeline: CaptionPipeline, clock: VirtualClock, speed: number, timeoutMs: number): Promise<Transcript> {
  let done = false;
  const ended = pipeline.end().finally(() => {
    done = true;
  });
  const wallStart = performance.now();
  const clockStart = clock.now();
  while (!done) {
    if (performance.now() - wallStart >= timeoutMs) {
      const pending = pipeline.closing().map((s) => `${s.speaker.name} (session ${s.state}, ${((s.bufferedFrames * PCM_FRAME_MS) / 1000).toFixed(1)} s of audio held)`);
      pipeline.destroy();
      throw new ReplayDrainError(timeoutMs, pending);
    }
    const next = clock.now() + STEP_MS;
    const wait = wallStart + (next - clockStart) / speed - performance.now();
    await sleep(Math.max(0, wait)); // always yields, so socket events are handled between steps
    clock.advanceTo(next);
  }
  return ended;
}
