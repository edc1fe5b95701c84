/**
 * `/optout`: Parley never sends this member's audio anywhere, in any server, until they `/optin`.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/bot/command.ts';

export const optout: Command = {
  data: new SlashCommandBuilder().setName('optout').setDescription('Never caption me: my audio is not sent to speech-to-text').setDMPermission(false),

  async execute(interaction, context) {
    context.settings.setOptedOut(interaction.user.id, true);
    // Stop at once in every running meeting, not just from the next speaking start.
    await Promise.all(context.meetings.all().map((meeting) => meeting.removeMember(interaction.user.id)));
    await interaction.reply({
      content: 'Done: Parley will not send your audio anywhere, in any server, until you use /optin.',
      flags: MessageFlags.Ephemeral,
    });
  },
};

export default optout;
