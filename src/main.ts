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

const SHUTDOWN_DEADLINE_MS = 5_000;

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
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      logger.flush();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    await bot.stop('shutdown');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await bot.start();
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
});
