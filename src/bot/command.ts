/**
 * The shape of a slash command (one per file in `commands/`, as in the create-discord-bot template), and the
 * context the bot hands each one.
 */
import type { ChatInputCommandInteraction, Client, SharedSlashCommand } from 'discord.js';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { GuildSettingsStore } from '../store/guild-settings.ts';
import type { MeetingStore } from '../store/meeting-store.ts';
import type { MeetingDeletion } from '../store/meeting-deletion.ts';
import type { MeetingRegistry } from '../meeting/registry.ts';
import type { MeetingServices } from '../meeting/meeting.ts';
import type { CommandCooldowns } from './cooldowns.ts';
import type { CaptionLinks } from '../web/links.ts';
import type { AutoJoinStore } from '../store/auto-join-store.ts';
import type { AutoJoinWatcher } from './auto-join.ts';

/** What every command's `execute` receives besides the interaction. */
export interface BotContext {
  client: Client<true>;
  config: Config;
  logger: Logger;
  settings: GuildSettingsStore;
  meetingStore: MeetingStore;
  /** Deletes meetings and members' turns (`/forget`, `/optout erase`). */
  meetingDeletion: MeetingDeletion;
  meetings: MeetingRegistry;
  /** What each meeting is built with. */
  services: MeetingServices;
  /** Cooldowns of the commands that declare {@link Command.cooldown}. */
  cooldowns: CommandCooldowns;
  /** Issues caption-page links; undefined when the page is off (`WEB_PORT` unset). */
  captionLinks?: CaptionLinks | undefined;
  /** `/autojoin` rules and the watcher that acts on them. */
  autoJoin: { rules: AutoJoinStore; watcher: AutoJoinWatcher };
}

/** A slash command module: its registration data and its handler. */
export interface Command {
  data: SharedSlashCommand;
  /** True for commands under the member and guild cooldowns (`COOLDOWN_MEMBER_S`, `COOLDOWN_GUILD_S`). */
  cooldown?: boolean;
  /**
   * Handles one invocation in a guild. Throw {@link CommandError} for anything the user can fix: the bot replies
   * with its message, ephemerally.
   */
  execute(interaction: ChatInputCommandInteraction<'cached'>, context: BotContext): Promise<void>;
}

/** A problem the invoking user can fix; its message says what is wrong and what to do. */
export class CommandError extends Error {
  override name = 'CommandError';
}
