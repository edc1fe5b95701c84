/**
 * Replays recorded speakers through the same caption pipeline the bot uses: each track becomes the Opus packets a
 * Discord client would send (48 kHz stereo, 20 ms, nothing during silence), delivered at their times.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtualClock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionSink, Speaker } from '../captions/caption.ts';
import type { CloseClassification } from '../stt/assemblyai/close-codes.ts';
import type { SttProvider } from '../stt/provider.ts';
import { CaptionPipeline } from '../pipeline/caption-pipeline.ts';
import type { Transcript } from '../transcript/transcript.ts';
import { mergeByTime, type PacketSource } from './schedule.ts';
import { TranslationSink, type TranslatedCaption } from '../translation/translation-sink.ts';
import type { Translator } from '../translation/translator.ts';

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
  /** Translate every final caption into these languages. */
  translation?: {
    translator: Translator;
    languages: readonly string[];
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
 * Plays every track from meeting time 0, waits for the last final transcripts, and returns the transcript.
 *
 * Time is virtual: the replay advances the pipeline's clock in steps of at most 50 ms, paced against wall time
 * at `speed`, so packets arrive at exactly their recorded times and the pipeline's timers fire at exactly their
 * meeting times, whatever the machine's load.
 *
 * @throws whatever a track's packet source throws when it is pulled (e.g. `AudioFileError` for a recording found
 *   corrupt mid-way); the replay stops there
 */
export async function runReplay(options: ReplayOptions): Promise<ReplayResult> {
  const clock = new VirtualClock();
  const translation = options.translation;
  const translationSink =
    translation === undefined
      ? undefined
      : new TranslationSink({
          translator: translation.translator,
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
    idleCloseMs: options.idleCloseMs,
    maxTurnSilenceMs: options.maxTurnSilenceMs,
    maxAudioAheadMs: options.maxAudioAheadMs,
    jitterMs: 0, // packet times are exact
  });
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
  const transcript = await pipeline.end();
  await translationSink?.flushed();
  return fatal === undefined ? { transcript } : { transcript, fatal };
}
