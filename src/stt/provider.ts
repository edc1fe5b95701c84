/**
 * The speech-to-text factory: holds what every session of the process shares (endpoint, key, model, turn settings,
 * the idle close and the new-session budget) and opens sessions. Per-speaker lifecycle lives in
 * {@link ../stt/speaker-stream.ts}.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { SttConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { SttConnectError, StreamingSession } from './assemblyai/streaming-session.ts';
import type { LlmGatewayConfig } from './assemblyai/messages.ts';
import { IdleClosePolicy } from './idle-close-policy.ts';
import { SessionBudget } from './session-budget.ts';

/** Opens Streaming v3 sessions. */
export interface SttProvider {
  /** Speech model sessions use, e.g. `u3-rt-pro`. */
  readonly speechModel: string;
  /** How long a quiet speaker's session stays open; raised when AssemblyAI limits new sessions. */
  readonly idleClose: IdleClosePolicy;
  /** The process-wide new-session budget: take a slot before every {@link SttProvider.open}. */
  readonly budget: SessionBudget;
  /**
   * Opens one session with the given keyterms and, optionally, the languages expected to be spoken.
   *
   * @param languageCodes - the guild's expected spoken languages (`language_codes`); omitted or empty: any.
   * @param logContext - fields for the session's log lines (e.g. the speaker id).
   * @param llmGateway - a prompt AssemblyAI runs on each final turn (`llm_gateway`); omitted: none.
   * @throws {import('./assemblyai/streaming-session.ts').SttConnectError} when it cannot be opened.
   */
  open(keyterms: readonly string[], languageCodes?: readonly string[], logContext?: Record<string, unknown>, llmGateway?: LlmGatewayConfig): Promise<StreamingSession>;
}

/** Tuning that is not configuration: for tests, and for the defaults' TSDoc. */
export interface ProviderTuning {
  /** Clock of the new-session budget. Default the system clock: AssemblyAI counts real minutes. */
  budgetClock?: Clock;
  /** WebSocket ping interval, ms; see {@link import('./assemblyai/streaming-session.ts').StreamingSessionOptions}. Default 5,000. */
  pingIntervalMs?: number;
}

/**
 * `inactivity_timeout` sent with every session, s: the longest idle close plus a minute, within the API's 5–3600 s.
 * Parley closes quiet sessions itself; this only ends a session Parley has lost track of.
 */
export function inactivityTimeoutS(idleCloseMaxMs: number): number {
  return Math.min(3600, Math.max(5, Math.ceil(idleCloseMaxMs / 1000) + 60));
}

/** Creates the AssemblyAI Streaming v3 provider from validated config. */
export function createAssemblyAIProvider(config: SttConfig, logger: Logger, tuning: ProviderTuning = {}): SttProvider {
  const budget = new SessionBudget({ perMinute: config.newSessionsPerMinute, clock: tuning.budgetClock ?? systemClock });
  const idleClose = new IdleClosePolicy({ baseMs: config.idleCloseMs, maxMs: config.idleCloseMaxMs, pressure: () => budget.short });
  return {
    speechModel: config.speechModel,
    idleClose,
    budget,
    open: (keyterms, languageCodes, logContext, llmGateway) =>
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
          inactivityTimeoutS: inactivityTimeoutS(config.idleCloseMaxMs),
          ...(tuning.pingIntervalMs === undefined ? {} : { pingIntervalMs: tuning.pingIntervalMs }),
          ...(logContext === undefined ? {} : { logContext }),
          ...(llmGateway === undefined ? {} : { llmGateway }),
        },
        logger,
      ).catch((error: unknown) => {
        if (error instanceof SttConnectError && error.close.action === 'limit') {
          idleClose.onTooManySessions();
          logger.warn({ idleCloseMs: idleClose.currentMs() }, "AssemblyAI is limiting new sessions; keeping quiet speakers' sessions open longer");
        }
        throw error;
      }),
  };
}
