/**
 * `npm start`: runs the bot. Configuration comes from the environment (and `.env`), validated once here.
 *
 * On SIGINT/SIGTERM every meeting ends: STT sessions get `Terminate`, voice is left, each caption channel is told
 * and gets its transcript. The process then exits, within 5 s even if Discord or AssemblyAI do not answer.
 */
import 'dotenv/config';
import { Events } from 'discord.js';
import { systemClock } from './clock.ts';
import { ConfigError, loadConfig, loadDiscordConfig, secretsOf } from './config.ts';
import { createLogger } from './log.ts';
import { createDiscordClient } from './bot/client.ts';
import { createInteractionHandler } from './bot/interactions.ts';
import type { BotContext } from './bot/command.ts';
import { MeetingRegistry } from './meeting/registry.ts';
import { createAssemblyAIProvider } from './stt/provider.ts';
import { openDatabase } from './store/database.ts';
import { GuildSettingsStore } from './store/guild-settings.ts';
import { MeetingStore } from './store/meeting-store.ts';
import { commands } from '../commands/index.ts';

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
  const db = openDatabase(config.dataDir);
  const settings = new GuildSettingsStore(db);
  const meetingStore = new MeetingStore(db);
  const meetings = new MeetingRegistry(logger);
  const client = createDiscordClient(discord);
  const provider = createAssemblyAIProvider(config.stt, logger);

  client.once(Events.ClientReady, (ready) => {
    logger.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'Parley is online');
    const context: BotContext = {
      client: ready,
      config,
      logger,
      settings,
      meetingStore,
      meetings,
      services: { stt: config.stt, provider, clock: systemClock, logger, settings, meetingStore },
    };
    const handle = createInteractionHandler(commands, context);
    client.on(Events.InteractionCreate, (interaction) => void handle(interaction));
    client.on(Events.VoiceStateUpdate, (oldState, newState) => meetings.onVoiceStateUpdate(oldState, newState, ready.user.id));
  });
  client.on(Events.Error, (error) => logger.error({ err: error.message }, 'discord client error'));

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal, meetings: meetings.size }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    await meetings.endAll('shutdown');
    await client.destroy();
    db.close();
    logger.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await client.login(discord.token);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
});
