/**
 * Starts the bench's local servers in a child process ({@link ./server-host.ts}) and talks to it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { DiscordRestRecord } from './discord-rest.ts';
import type { LightSttStats } from './light-stt.ts';

/** The API key every local STT server accepts. */
export const BENCH_API_KEY = 'bench-assemblyai-key-0123456789';

/** Which servers to start. */
export interface HostConfig {
  apiKey: string;
  /**
   * `light-count`: counts bytes; `light-turns`: counts and detects turns; `fake`: the full fake from test/fakes.
   * `beginDelayMs`/`terminationDelayMs`: the STT server's handshake (default 0: it answers at once).
   */
  stt?: { kind: 'light-count' | 'light-turns' | 'fake'; maxAudioAheadMs?: number | null; beginDelayMs?: number; terminationDelayMs?: number };
  discord?: boolean;
  llm?: boolean;
}

/** Sent once the servers listen. */
export interface HostReady {
  type: 'ready';
  sttUrl?: string;
  discordApi?: string;
  llmBaseUrl?: string;
}

/** Answer to a stats request. */
export interface HostStats {
  type: 'stats';
  light?: LightSttStats;
  fake?: { sessions: number; violations: string[]; violationCount: number; audioMs: number; finals: number };
  discord?: DiscordRestRecord[];
  llm?: Array<{ receivedAt: number; model: string }>;
}

/** A running server host. */
export interface ServerHost extends HostReady {
  stats(): Promise<HostStats>;
  close(): Promise<void>;
}

/** Forks the host and waits until its servers listen. */
export async function startServers(config: Omit<HostConfig, 'apiKey'>): Promise<ServerHost> {
  const child: ChildProcess = fork(new URL('./server-host.ts', import.meta.url), [JSON.stringify({ ...config, apiKey: BENCH_API_KEY })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  const exited = once(child, 'exit');
  const ready = await new Promise<HostReady>((resolve, reject) => {
    child.once('message', (message) => resolve(message as HostReady));
    child.once('exit', (code) => reject(new Error(`server host exited early (${code})`)));
  });
  return {
    ...ready,
    stats() {
      return new Promise<HostStats>((resolve) => {
        const onMessage = (message: { type?: string }) => {
          if (message.type !== 'stats') return;
          child.off('message', onMessage);
          resolve(message as HostStats);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats' });
      });
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill(), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
