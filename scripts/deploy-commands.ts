/**
 * `npm run deploy-commands`: registers Parley's slash commands with Discord, globally (may take up to an hour to
 * appear) or, with DISCORD_GUILD_ID set, to that one server (instant, for development).
 */
import 'dotenv/config';
import { REST, Routes } from 'discord.js';
import { ConfigError, loadDiscordConfig } from '../src/config.ts';
import { commands } from '../commands/index.ts';

async function main(): Promise<void> {
  const config = loadDiscordConfig(process.env);
  const rest = new REST(config.restApiUrl === undefined ? {} : { api: config.restApiUrl }).setToken(config.token);
  const body = commands.map((command) => command.data.toJSON());
  const route =
    config.guildId === undefined ? Routes.applicationCommands(config.clientId) : Routes.applicationGuildCommands(config.clientId, config.guildId);
  const registered = (await rest.put(route, { body })) as unknown[];
  const where = config.guildId === undefined ? 'globally' : `in guild ${config.guildId}`;
  process.stdout.write(`Registered ${registered.length} commands ${where}: ${commands.map((c) => `/${c.data.name}`).join(', ')}\n`);
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
