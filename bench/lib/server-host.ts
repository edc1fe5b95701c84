/**
 * Child-process host for the bench's local servers, so that their CPU time and memory never count against
 * Parley's figures (the bench measures its own process with `process.cpuUsage()` and `process.memoryUsage()`).
 *
 * Started by {@link ./servers.ts} with a JSON config as its only argument; talks over the IPC channel:
 * `{type:'ready', …urls}` once listening, `{type:'stats'}` → `{type:'stats', …}`, `{type:'close'}` → exits.
 */
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../../test/fakes/assemblyai-server.ts';
import { startFakeLlmServer, type FakeLlmServer } from '../../test/fakes/llm-server.ts';
import { startDiscordRest, type DiscordRest } from './discord-rest.ts';
import { startLightStt, type LightStt } from './light-stt.ts';
import type { HostConfig, HostReady, HostStats } from './servers.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as HostConfig;

let light: LightStt | undefined;
let fake: FakeAssemblyAI | undefined;
let discord: DiscordRest | undefined;
let llm: FakeLlmServer | undefined;

// Started first: the full fake's sessions with `llm_gateway` (in-stream translation) call it, as AssemblyAI calls its gateway.
if (config.llm === true) llm = await startFakeLlmServer();
if (config.stt?.kind === 'light-count' || config.stt?.kind === 'light-turns') {
  light = await startLightStt({
    mode: config.stt.kind === 'light-count' ? 'count' : 'turns',
    apiKey: config.apiKey,
    ...(config.stt.beginDelayMs === undefined ? {} : { beginDelayMs: config.stt.beginDelayMs }),
    ...(config.stt.terminationDelayMs === undefined ? {} : { terminationDelayMs: config.stt.terminationDelayMs }),
  });
} else if (config.stt?.kind === 'fake') {
  // Answers at once unless the part asks for a handshake: no model delay either way.
  fake = await startFakeAssemblyAI({
    apiKey: config.apiKey,
    maxAudioAheadMs: config.stt.maxAudioAheadMs === undefined ? 2000 : config.stt.maxAudioAheadMs,
    beginDelayMs: config.stt.beginDelayMs ?? 0,
    terminationDelayMs: config.stt.terminationDelayMs ?? 0,
    ...(llm !== undefined && { llmGatewayUrl: llm.baseUrl }),
  });
}
if (config.discord === true) discord = await startDiscordRest();

const ready: HostReady = { type: 'ready' };
const sttUrl = light?.url ?? fake?.url;
if (sttUrl !== undefined) ready.sttUrl = sttUrl;
if (discord !== undefined) ready.discordApi = discord.api;
if (llm !== undefined) ready.llmBaseUrl = llm.baseUrl;
process.send?.(ready);

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    const stats: HostStats = { type: 'stats' };
    if (light !== undefined) stats.light = light.stats();
    if (fake !== undefined) {
      stats.fake = {
        sessions: fake.sessions.length,
        violations: fake.violations.slice(0, 20),
        violationCount: fake.violations.length,
        audioMs: fake.sessions.reduce((sum, session) => sum + session.audioMs, 0),
        finals: fake.sessions.reduce((sum, session) => sum + session.sentMessages.filter((m) => m['type'] === 'Turn' && m['end_of_turn'] === true).length, 0),
      };
    }
    if (discord !== undefined) stats.discord = discord.records;
    if (llm !== undefined) {
      stats.llm = llm.requests.map((request) => {
        const body = request.body as { model?: unknown } | undefined;
        return { receivedAt: request.receivedAt, model: typeof body?.model === 'string' ? body.model : 'unknown' };
      });
    }
    process.send?.(stats);
    return;
  }
  if (message.type === 'close') {
    void (async () => {
      await Promise.allSettled([light?.close(), fake?.close(), discord?.close(), llm?.close()]);
      process.exit(0);
    })();
  }
});
process.on('disconnect', () => process.exit(0));
