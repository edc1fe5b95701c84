import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'dotenv';
import { ConfigError, loadConfig, loadDiscordConfig } from '../src/config.ts';

const example = parse(readFileSync(new URL('../.env.example', import.meta.url)));

describe('config', () => {
  it('accepts .env.example as copied, once the required values are filled in, with the documented defaults', () => {
    const config = loadConfig({ ...example, ASSEMBLYAI_API_KEY: 'key' });
    expect(config.stt).toMatchObject({ streamingUrl: 'wss://streaming.assemblyai.com/v3/ws', speechModel: 'universal-3-6-pro', idleCloseMs: 750, idleCloseMaxMs: 15_000, maxTurnSilenceMs: 1_000, keyterms: [], newSessionsPerMinute: 100 });
    expect(loadConfig({ ASSEMBLYAI_API_KEY: 'key', ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE: '5' }).stt.newSessionsPerMinute).toBe(5);
    expect(config.stt.minTurnSilenceMs).toBeUndefined(); // empty means unset, not 0
    expect(config.llm).toMatchObject({ apiKey: 'key', translationModel: 'gemini-2.5-flash-lite', recapModel: 'claude-sonnet-4-6', translationFallbackModels: [], timeoutMs: 30_000, recapTimeoutMs: 120_000, translationMode: 'batched' });
    expect(loadConfig({ ASSEMBLYAI_API_KEY: 'key', TRANSLATION_MODE: 'in-stream' }).llm.translationMode).toBe('in-stream');
    const discord = loadDiscordConfig({ ...example, DISCORD_TOKEN: 'token', DISCORD_CLIENT_ID: '123456789012345678' });
    expect(discord).toMatchObject({ guildId: undefined, restApiUrl: undefined, metricsPort: undefined });
  });

  it('reads the daily LLM request budget: empty or 0 is off, a whole number of requests otherwise', () => {
    expect(loadConfig({ ...example, ASSEMBLYAI_API_KEY: 'k' }).limits.dailyLlmRequestsPerGuild).toBeUndefined();
    expect(loadConfig({ ASSEMBLYAI_API_KEY: 'k', DAILY_LLM_REQUESTS_PER_GUILD: '0' }).limits.dailyLlmRequestsPerGuild).toBeUndefined();
    expect(loadConfig({ ASSEMBLYAI_API_KEY: 'k', DAILY_LLM_REQUESTS_PER_GUILD: '500' }).limits.dailyLlmRequestsPerGuild).toBe(500);
    expect(() => loadConfig({ ASSEMBLYAI_API_KEY: 'k', DAILY_LLM_REQUESTS_PER_GUILD: '2.5' })).toThrow(/^Invalid configuration: DAILY_LLM_REQUESTS_PER_GUILD must be a whole number of requests$/);
    expect(() => loadConfig({ ASSEMBLYAI_API_KEY: 'k', DAILY_LLM_REQUESTS_PER_GUILD: '-1' })).toThrow(/^Invalid configuration: DAILY_LLM_REQUESTS_PER_GUILD must be 0 \(off\) or more requests$/);
  });

  it('names the variable that is wrong, in one line, without echoing secrets', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /^Invalid configuration: ASSEMBLYAI_API_KEY is required/],
      [{ ASSEMBLYAI_API_KEY: 'k', STT_IDLE_CLOSE_MS: 'soon' }, /^Invalid configuration: STT_IDLE_CLOSE_MS must be a number of milliseconds$/],
      [{ ASSEMBLYAI_API_KEY: 'k', ASSEMBLYAI_STREAMING_URL: 'https://x' }, /^Invalid configuration: ASSEMBLYAI_STREAMING_URL must be a ws:\/\/ or wss:\/\/ URL$/],
      [{ ASSEMBLYAI_API_KEY: 'k', STT_KEYTERMS: `ok, ${'x'.repeat(51)}` }, /STT_KEYTERMS each term must be at most 50 characters/],
      [{ ASSEMBLYAI_API_KEY: 'k', LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
      [{ ASSEMBLYAI_API_KEY: 'k', TRANSLATION_MODE: 'instream' }, /^Invalid configuration: TRANSLATION_MODE must be batched or in-stream$/],
      [{ ASSEMBLYAI_API_KEY: 'k', ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE: '0' }, /^Invalid configuration: ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE must be at least 1$/],
    ];
    for (const [env, message] of cases) expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadDiscordConfig({ DISCORD_TOKEN: 'secret-token-value', DISCORD_CLIENT_ID: 'abc' })).toThrow(ConfigError);
    try {
      loadDiscordConfig({ DISCORD_TOKEN: 'secret-token-value', DISCORD_CLIENT_ID: 'abc' });
    } catch (error) {
      expect((error as Error).message).toBe('Invalid configuration: DISCORD_CLIENT_ID must be the application id: a number of 17 to 20 digits');
      expect((error as Error).message).not.toContain('secret-token-value');
    }
  });
});
