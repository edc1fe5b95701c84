/**
 * The bot as a separate process, started the way `npm start` starts it: `node src/main.ts` from the repository
 * root, configured only through its environment. Its log (JSON lines on stderr) is kept for waiting and checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { botEnv, type World } from './world.ts';

/** The repository root, where `npm start` runs. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** One parsed log line (pino JSON); `raw` keeps the text. */
export interface ChildLogLine {
  msg?: string;
  level?: number;
  raw: string;
  [field: string]: unknown;
}

/** A running bot process. */
export interface BotProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  readonly output: () => string;
  /** Resolves with the first log line (already written, or to come) matching `predicate`; rejects if the process exits first. */
  waitForLog(predicate: (line: ChildLogLine) => boolean): Promise<ChildLogLine>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node src/main.ts` against `world` and waits until it reports it is online. */
export async function startBotProcess(world: World, extraEnv: Record<string, string> = {}): Promise<BotProcess> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...botEnv(world, extraEnv) };
  const child = spawn(process.execPath, ['src/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let pending = '';
  const lines: ChildLogLine[] = [];
  const waiters: Array<{ predicate: (line: ChildLogLine) => boolean; resolve: (line: ChildLogLine) => void; reject: (error: Error) => void }> = [];
  let exitedWith: string | undefined;

  const onText = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    output += text;
    pending += text;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const raw of complete) {
      if (raw.trim() === '') continue;
      let line: ChildLogLine;
      try {
        line = { ...(JSON.parse(raw) as object), raw };
      } catch {
        line = { raw };
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (!waiter.predicate(line)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout?.on('data', onText);
  child.stderr?.on('data', onText);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedWith = `the bot exited (code ${code}, signal ${signal}). Output:\n${output}`;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(exitedWith));
      resolve({ code, signal });
    });
  });

  const bot: BotProcess = {
    child,
    output: () => output,
    waitForLog(predicate) {
      const found = lines.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      if (exitedWith !== undefined) return Promise.reject(new Error(exitedWith));
      return new Promise((resolve, reject) => waiters.push({ predicate, resolve, reject }));
    },
    exited,
  };
  await bot.waitForLog((line) => line.msg === 'Parley is online');
  return bot;
}
