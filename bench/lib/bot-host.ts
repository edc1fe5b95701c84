/**
 * Child-process host for the production bot ({@link ParleyBot}, what `npm start` runs), so that a bench part can
 * measure the bot's CPU alone: the Discord stand-in and the STT stand-in run in the part's process, the bot here.
 *
 * Started by {@link startBotHost} with a JSON {@link BotHostConfig} as its only argument. Over the IPC channel:
 * `{type:'ready'}` once the client is ready; `{type:'mark'}` → {@link BotHostMark} (this process's
 * `process.cpuUsage()` and the monotonic clock `--cpu-prof` stamps samples with); `{type:'stop'}` → the bot's
 * meetings end, the client disconnects, and the process exits 0 (which writes a `--cpu-prof` profile, when asked
 * for, to its directory).
 *
 * The bot logs as with `npm start` (pino JSON on stderr, level from the config): the parent keeps the last
 * {@link LOG_TAIL_BYTES} for error reports instead of printing it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { loadConfig, loadDiscordConfig, secretsOf } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { ParleyBot } from '../../src/bot/app.ts';
import tls from 'node:tls';

/** How much of the bot's log the parent keeps, bytes. */
export const LOG_TAIL_BYTES = 16_384;

/** What the host is started with. */
export interface BotHostConfig {
  /** The bot's environment, exactly as `npm start` would read it. */
  env: Record<string, string>;
  /** PEM certificates to trust (the stand-ins' self-signed ones), as `NODE_EXTRA_CA_CERTS` would. */
  trust: string[];
}

/** The host's CPU time and clock at one instant. */
export interface BotHostMark {
  type: 'mark';
  /** `process.cpuUsage()`, µs. */
  cpu: { user: number; system: number };
  /** `process.hrtime.bigint()` in µs: the clock of `--cpu-prof` sample timestamps (V8's monotonic TimeTicks). */
  monotonicUs: number;
  rssBytes: number;
}

/** A running bot host. */
export interface BotHost {
  child: ChildProcess;
  /** The end of the bot's log (at most {@link LOG_TAIL_BYTES}). */
  logTail(): string;
  mark(): Promise<BotHostMark>;
  /** Stops the bot and waits for the process to exit (killed after `deadlineMs`). */
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * Forks the host and waits until the bot is online.
 *
 * @param execArgv extra Node flags for the bot's process, e.g. `['--cpu-prof', '--cpu-prof-dir=DIR']`.
 * @throws if the host exits before the bot is ready.
 */
export async function startBotHost(config: BotHostConfig, execArgv: string[] = []): Promise<BotHost> {
  const child = fork(new URL(import.meta.url), [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-LOG_TAIL_BYTES);
  });
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bot host exited before the bot was ready (${code}); its log ends:\n${tail}`));
    child.once('exit', onExit);
    child.once('message', () => {
      child.off('exit', onExit);
      resolve();
    });
  });
  return {
    child,
    logTail: () => tail,
    mark() {
      return new Promise<BotHostMark>((resolve) => {
        const onMessage = (message: { type?: string }) => {
          if (message.type !== 'mark') return;
          child.off('message', onMessage);
          resolve(message as BotHostMark);
        };
        child.on('message', onMessage);
        child.send({ type: 'mark' });
      });
    },
    async stop(deadlineMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

// Child-process entry.
if (import.meta.main) {
  const config = JSON.parse(process.argv[2] ?? '{}') as BotHostConfig;
  // As test/fakes/discord/certs.ts's trustCertificateInProcess, for several certificates at once.
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...config.trust]);
  const appConfig = loadConfig(config.env);
  const discord = loadDiscordConfig(config.env);
  const logger = createLogger({ level: appConfig.logLevel, secrets: secretsOf(appConfig, discord) });
  const bot = new ParleyBot({ config: appConfig, discord, logger });
  await bot.start();
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'mark') {
      const mark: BotHostMark = { type: 'mark', cpu: process.cpuUsage(), monotonicUs: Number(process.hrtime.bigint() / 1000n), rssBytes: process.memoryUsage.rss() };
      process.send?.(mark);
    } else if (message.type === 'stop') {
      void bot.stop('shutdown', AbortSignal.timeout(10_000)).finally(() => {
        logger.flush();
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}
