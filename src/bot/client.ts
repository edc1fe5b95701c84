/**
 * The discord.js client Parley runs on: intents `Guilds` and `GuildVoiceStates` only (no privileged intents;
 * without `GuildVoiceStates` a voice connection never leaves signalling: discord.js guide, "Voice connections"), and REST pointed at
 * `DISCORD_REST_API_URL` when set (a rate-limit proxy, or a local server in tests).
 */
import { Client, GatewayIntentBits, Options, Partials } from 'discord.js';
import type { DiscordConfig } from '../config.ts';

/** Creates (does not log in) the client. */
export function createDiscordClient(config: DiscordConfig): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildVoiceStates],
    partials: [Partials.GuildMember],
    allowedMentions: { parse: [] },
    // Parley reads no message history; keep caches small on long runs.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
    ...(config.restApiUrl === undefined ? {} : { rest: { api: config.restApiUrl } }),
  });
}
