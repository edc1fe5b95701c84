/**
 * Routes slash-command interactions to their command and turns failures into ephemeral replies: a
 * {@link CommandError} says what the user can fix; anything else gets a plain apology and is logged.
 */
import { MessageFlags, type Interaction } from 'discord.js';
import { CommandError, type BotContext, type Command } from './command.ts';
import type { CooldownWait } from './cooldowns.ts';

/** Builds the `interactionCreate` handler for these commands. */
export function createInteractionHandler(commands: readonly Command[], context: BotContext): (interaction: Interaction) => Promise<void> {
  const byName = new Map(commands.map((command) => [command.data.name, command]));
  return async (interaction) => {
    if (!interaction.isChatInputCommand()) return;
    const command = byName.get(interaction.commandName);
    if (command === undefined) return;
    const logger = context.logger.child({ command: interaction.commandName, guildId: interaction.guildId, interactionId: interaction.id });
    try {
      if (!interaction.inCachedGuild()) throw new CommandError('Use Parley\'s commands in a server, not in direct messages.');
      if (command.cooldown === true) {
        const wait = await context.cooldowns.waiting(interaction.commandName, interaction.guildId, interaction.user.id);
        if (wait !== undefined) throw new CommandError(cooldownMessage(interaction.commandName, wait));
      }
      await command.execute(interaction, context);
      if (command.cooldown === true) await context.cooldowns.ran(interaction.commandName, interaction.guildId, interaction.user.id);
    } catch (error) {
      const userError = error instanceof CommandError;
      if (userError) logger.info({ reason: error.message }, 'command refused');
      else logger.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'command failed');
      const content = userError ? error.message : 'Something went wrong while running that command. Please try again; if it keeps failing, tell the bot\'s owner.';
      try {
        if (interaction.deferred || interaction.replied) await interaction.editReply({ content, allowedMentions: { parse: [] } });
        else await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
      } catch (replyError) {
        logger.warn({ err: (replyError as Error).message }, 'could not send the error reply');
      }
    }
  };
}

function cooldownMessage(command: string, wait: CooldownWait): string {
  const seconds = Math.max(1, Math.ceil(wait.remainingMs / 1000));
  return wait.scope === 'member'
    ? `You used /${command} moments ago. Try again in ${seconds} s.`
    : `/${command} was used in this server moments ago. Try again in ${seconds} s.`;
}
