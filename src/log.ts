/**
 * Structured logging (pino). Secrets are scrubbed from every line, whatever field or message they appear in,
 * and transcript text belongs at debug level only: it is user content.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Replacement written in place of a secret. */
export const REDACTED = '[redacted]';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** pino level name, e.g. `info`. */
  level: string;
  /** Values (API keys, tokens) that must never reach the log, wherever they appear. Empty strings are ignored. */
  secrets: readonly string[];
  /** Where lines go; stderr when omitted, so stdout stays free for replay's captions. */
  destination?: DestinationStream;
}

/** Creates the process logger. Secrets are replaced with {@link REDACTED} in every serialised line. */
export function createLogger(options: LoggerOptions): Logger {
  const secrets = options.secrets.filter((secret) => secret.length >= 4);
  const destination = options.destination ?? pino.destination({ fd: 2, sync: false });
  const scrubbing: DestinationStream = {
    write(line: string) {
      let clean = line;
      for (const secret of secrets) clean = clean.replaceAll(secret, REDACTED);
      destination.write(clean);
    },
  };
  return pino(
    {
      level: options.level,
      redact: { paths: ['*.apiKey', '*.token', '*.authorization', '*.Authorization', 'headers.authorization'], censor: REDACTED },
    },
    scrubbing,
  );
}

/** A logger that drops everything, for library-style use in tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
