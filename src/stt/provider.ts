/**
 * The speech-to-text factory: holds what every session shares (endpoint, key, model, turn settings) and opens
 * sessions. Per-speaker lifecycle lives in {@link ../stt/speaker-stream.ts}.
 */
import type { SttConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { SttConnectError, StreamingSession } from './assemblyai/streaming-session.ts';
import { IdleClosePolicy } from './idle-close-policy.ts';

/** Opens Streaming v3 sessions. */
export interface SttProvider {
  /** Speech model sessions use, e.g. `u3-rt-pro`. */
  readonly speechModel: string;
  /** How long a quiet speaker's session stays open; raised when AssemblyAI limits new sessions. */
  readonly idleClose: IdleClosePolicy;
  /**
   * Opens one session with the given keyterms and, optionally, the languages expected to be spoken.
   *
   * @throws {import('./assemblyai/streaming-session.ts').SttConnectError} when it cannot be opened.
   */
  open(keyterms: readonly string[], languageCodes?: readonly string[]): Promise<StreamingSession>;
}

/** Creates the AssemblyAI Streaming v3 provider from validated config. */
export function createAssemblyAIProvider(config: SttConfig, logger: Logger): SttProvider {
  const idleClose = new IdleClosePolicy({ baseMs: config.idleCloseMs, maxMs: config.idleCloseMaxMs });
  return {
    speechModel: config.speechModel,
    idleClose,
    open: (keyterms, languageCodes) =>
      StreamingSession.open(
        {
          url: config.streamingUrl,
          apiKey: config.apiKey,
          speechModel: config.speechModel,
          keyterms,
          // Every model but the English-only one reports each final turn's language (model selection page).
          languageDetection: config.speechModel !== 'universal-streaming-english',
          ...(languageCodes !== undefined && { languageCodes }),
          minTurnSilenceMs: config.minTurnSilenceMs,
          maxTurnSilenceMs: config.maxTurnSilenceMs,
        },
        logger,
      ).catch((error: unknown) => {
        if (error instanceof SttConnectError && error.close.action === 'backoff') {
          idleClose.onTooManySessions();
          logger.warn({ idleCloseMs: idleClose.currentMs() }, 'AssemblyAI is limiting new sessions; keeping quiet speakers\' sessions open longer');
        }
        throw error;
      }),
  };
}
