/**
 * `/optin`: undo `/optout`.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/bot/command.ts';

export const optin: Command = {
  data: new SlashCommandBuilder().setName('optin').setDescription('Allow Parley to caption me again').setDMPermission(false),

  async execute(interaction, context) {
    context.settings.setOptedOut(interaction.user.id, false);
    await interaction.reply({
      content: 'Done: your speech will be captioned when Parley is in your voice channel. /optout stops it again.',
      flags: MessageFlags.Ephemeral,
    });
  },
};

export default optin;
