/**
 * `npm start`: runs the bot. Configuration comes from the environment (and `.env`), validated once here.
 *
 * On SIGINT/SIGTERM every meeting ends: STT sessions get `Terminate`, voice is left, each caption channel is told
 * and gets its transcript. The process then exits, within 5 s even if Discord or AssemblyAI do not answer.
 */
import 'dotenv/config';
import { ConfigError, loadConfig, loadDiscordConfig, secretsOf } from './config.ts';
import { createLogger } from './log.ts';
import { ParleyBot } from './bot/app.ts';

/** Whole shutdown, signal to exit, ms: the process exits with code 1 if it is not done by then. */
const SHUTDOWN_DEADLINE_MS = 5_000;
/** Left after the work deadline to close the Discord client and the database, ms. */
const CLOSE_RESERVE_MS = 1_000;

async function main(): Promise<void> {
  let config;
  let discord;
  try {
    config = loadConfig(process.env);
    discord = loadDiscordConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, secrets: secretsOf(config, discord) });
  const bot = new ParleyBot({ config, discord, logger });

  let shuttingDown = false;
  /**
   * Ends every meeting and exits with `exitCode`. One deadline, passed down as an AbortSignal: sessions are
   * terminated and transcripts posted first; optional work still running when it fires is abandoned (left for
   * /recap). A hard timer exits with 1 if even that does not finish.
   */
  const shutdown = async (signal: string, exitCode: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const hardDeadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      logger.flush();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    hardDeadline.unref();
    await bot.stop('shutdown', AbortSignal.timeout(SHUTDOWN_DEADLINE_MS - CLOSE_RESERVE_MS));
    logger.flush();
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  // A bug must not leave meetings billing with no one listening: end them as SIGTERM would, then exit 1.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: errorDetail(reason) }, 'unhandled promise rejection; ending meetings and exiting');
    void shutdown('unhandledRejection', 1);
  });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: errorDetail(error) }, 'uncaught exception; ending meetings and exiting');
    void shutdown('uncaughtException', 1);
  });

  await bot.start();
}

function errorDetail(error: unknown): { message: string; stack?: string | undefined } {
  return error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error) };
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
});
