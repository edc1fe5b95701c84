/**
 * Everything a bot test talks to, on loopback: the Discord stand-in, the fake AssemblyAI streaming server and the
 * fake LLM Gateway, plus a data directory. The bot (in this process or as a child) is configured from the
 * environment {@link botEnv} returns, exactly as `npm start` reads it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDiscordStandIn, type DiscordStandIn, type StandInOptions } from '../../fakes/discord/stand-in.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeAssemblyAIOptions, type FakeSession } from '../../fakes/assemblyai-server.ts';
import { startFakeLlmServer, type FakeLlmServer, type FakeLlmServerOptions } from '../../fakes/llm-server.ts';
import { TEST_API_KEY } from '../../support/pipeline-harness.ts';

/** The bot token the stand-in accepts (it rejects any other, as Discord does). */
export const TEST_DISCORD_TOKEN = 'parley-test-bot-token.0123456789';

/**
 * A recognizer that names the fake session a turn came from: `session3` becomes the caption "Session3.", so a
 * caption shows which session (and, through the audio that session received, which member) produced it.
 */
export const sessionTaggingRecognizer: NonNullable<FakeAssemblyAIOptions['recognizer']> = ({ session, startMs, endMs }) => [
  { text: `session${session.index}`, start: startMs, end: endMs },
];

/** Options for {@link startWorld}. */
export interface WorldOptions {
  standIn?: StandInOptions;
  stt?: Omit<FakeAssemblyAIOptions, 'apiKey'>;
  llm?: FakeLlmServerOptions;
}

/** The servers of one test file. */
export interface World {
  standIn: DiscordStandIn;
  stt: FakeAssemblyAI;
  llm: FakeLlmServer;
  dataDir: string;
  close(): Promise<void>;
}

/** Starts the stand-in, the fake AssemblyAI server and the fake LLM Gateway, and makes a temporary data directory. */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const standIn = await startDiscordStandIn({ token: TEST_DISCORD_TOKEN, ...options.standIn });
  const llm = await startFakeLlmServer(options.llm);
  // Sessions opened with llm_gateway (in-stream translation) ask this same gateway, as AssemblyAI asks its own.
  const stt = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, llmGatewayUrl: llm.baseUrl, ...options.stt });
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bot-test-'));
  return {
    standIn,
    stt,
    llm,
    dataDir,
    async close() {
      await Promise.allSettled([standIn.close(), stt.close(), llm.close()]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The environment the bot is configured from: the same variables for the in-process bot and for `npm start`. */
export function botEnv(world: World, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DISCORD_TOKEN: TEST_DISCORD_TOKEN,
    DISCORD_CLIENT_ID: world.standIn.applicationId,
    DISCORD_REST_API_URL: world.standIn.restApiUrl,
    NODE_EXTRA_CA_CERTS: world.standIn.caCertPath,
    ASSEMBLYAI_API_KEY: TEST_API_KEY,
    ASSEMBLYAI_STREAMING_URL: world.stt.url,
    LLM_GATEWAY_URL: world.llm.baseUrl,
    DATA_DIR: world.dataDir,
    LOG_LEVEL: 'debug',
    // Tests run /join, /end and /recap back to back; the cooldown tests set their own.
    COOLDOWN_MEMBER_S: '0',
    COOLDOWN_GUILD_S: '0',
    ...extra,
  };
}

/**
 * The first session to connect to the fake AssemblyAI server as number `index` or later (`stt.sessions.length`
 * taken before the action that should open it). Earlier sessions not yet handed out by `nextSession` are skipped.
 */
export async function sessionFrom(stt: FakeAssemblyAI, index: number): Promise<FakeSession> {
  for (;;) {
    const session = await stt.nextSession();
    if (session.index >= index) return session;
  }
}
