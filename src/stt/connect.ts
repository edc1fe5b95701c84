/**
 * Opening a Streaming v3 session with retries: the one retry loop of the STT path (a dropped session comes back
 * through it too). Backoff is exponential with jitter; a `fatal` refusal (1008: bad key, no balance) is not
 * retried; 3009 (too many new sessions) waits an extra `tooManySessionsBackoffMs` before the next attempt.
 */
import pRetry, { AbortError } from 'p-retry';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { SttConnectError, type StreamingSession } from './assemblyai/streaming-session.ts';

/** Options for {@link openWithRetry}. */
export interface OpenWithRetryOptions {
  open: () => Promise<StreamingSession>;
  /** Attempts after the first. */
  retries: number;
  /** Extra wait after a 3009, ms. */
  tooManySessionsBackoffMs: number;
  signal: AbortSignal;
  logger: Logger;
  /** Fields added to every log line (e.g. the speaker id). */
  logContext: Record<string, unknown>;
}

/**
 * Opens a session, retrying what can be retried.
 *
 * @throws {SttConnectError} the last refusal when retries run out or it is fatal; an `AbortError` when aborted.
 */
export function openWithRetry(options: OpenWithRetryOptions): Promise<StreamingSession> {
  const { signal } = options;
  return pRetry(
    async () => {
      if (signal.aborted) throw new AbortError('aborted');
      return options.open();
    },
    {
      retries: options.retries,
      minTimeout: 250,
      maxTimeout: 15_000,
      factor: 2,
      randomize: true,
      signal,
      shouldRetry: ({ error }) => !(error instanceof SttConnectError) || error.retryable,
      onFailedAttempt: async ({ error, attemptNumber }) => {
        const close = error instanceof SttConnectError ? error.close : undefined;
        options.logger.warn(
          { ...options.logContext, attempt: attemptNumber, code: close?.code, reason: close?.reason ?? error.message },
          'could not open an AssemblyAI session',
        );
        if (close?.action === 'backoff') await sleep(options.tooManySessionsBackoffMs, undefined, { signal }).catch(() => {});
      },
    },
  );
}
