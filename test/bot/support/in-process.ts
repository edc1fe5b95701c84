/**
 * Runs the real bot ({@link ParleyBot}, what `npm start` runs) inside the test process, configured from the same
 * environment as the child-process tests, with its log lines captured so tests can wait for what it reports.
 */
import { loadConfig, loadDiscordConfig, secretsOf } from '../../../src/config.ts';
import { createLogger } from '../../../src/log.ts';
import { ParleyBot } from '../../../src/bot/app.ts';
import { botEnv, type World } from './world.ts';

/** One parsed log line of the bot. */
export interface LogLine {
  level: number;
  msg: string;
  raw: string;
  [field: string]: unknown;
}

/** The bot's log, kept in memory, with race-free waiting (the bot's own logger writes it). */
export class LogCapture {
  readonly lines: LogLine[] = [];
  readonly #waiters: Array<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];

  /** A pino destination that records each line. */
  readonly destination = {
    write: (raw: string): void => {
      const line = { ...(JSON.parse(raw) as { level: number; msg: string }), raw };
      this.lines.push(line);
      for (const waiter of [...this.#waiters]) {
        if (!waiter.predicate(line)) continue;
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    },
  };

  /** Resolves with the first line (logged already, or to come) matching `predicate`; the test timeout is the safety net. */
  waitFor(predicate: (line: LogLine) => boolean): Promise<LogLine> {
    const found = this.lines.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }));
  }
}

/** A bot running in this process. */
export interface InProcessBot {
  bot: ParleyBot;
  logs: LogCapture;
  /** Ends the bot's meetings and disconnects it (what SIGTERM does, without exiting). */
  stop(): Promise<void>;
}

/**
 * Starts the bot against `world` and waits until it is ready. The stand-in's voice certificate is trusted in this
 * process (the child-process tests use NODE_EXTRA_CA_CERTS instead).
 */
export async function startInProcessBot(world: World, extraEnv: Record<string, string> = {}): Promise<InProcessBot> {
  world.standIn.trustInThisProcess();
  const env = botEnv(world, extraEnv);
  const config = loadConfig(env);
  const discord = loadDiscordConfig(env);
  const logs = new LogCapture();
  const logger = createLogger({ level: config.logLevel, secrets: secretsOf(config, discord), destination: logs.destination });
  const bot = new ParleyBot({ config, discord, logger });
  await bot.start();
  return { bot, logs, stop: () => bot.stop('shutdown') };
}
