/**
 * The speech-to-text factory: holds what every session shares (endpoint, key, model, turn settings) and opens
 * sessions. Per-speaker lifecycle lives in {@link ../stt/speaker-stream.ts}.
 */
import type { SttConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { StreamingSession } from './assemblyai/streaming-session.ts';

/** Opens Streaming v3 sessions. */
export interface SttProvider {
  /** Speech model sessions use, e.g. `u3-rt-pro`. */
  readonly speechModel: string;
  /**
   * Opens one session with the given keyterms.
   *
   * @throws {import('./assemblyai/streaming-session.ts').SttConnectError} when it cannot be opened.
   */
  open(keyterms: readonly string[]): Promise<StreamingSession>;
}

/** Creates the AssemblyAI Streaming v3 provider from validated config. */
export function createAssemblyAIProvider(config: SttConfig, logger: Logger): SttProvider {
  return {
    speechModel: config.speechModel,
    open: (keyterms) =>
      StreamingSession.open(
        {
          url: config.streamingUrl,
          apiKey: config.apiKey,
          speechModel: config.speechModel,
          keyterms,
          minTurnSilenceMs: config.minTurnSilenceMs,
          maxTurnSilenceMs: config.maxTurnSilenceMs,
        },
        logger,
      ),
  };
}
