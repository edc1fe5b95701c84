/**
 * `/forget meeting:N` (Manage Server): deletes a meeting of this server from Parley's database: the meeting, its
 * speakers, every turn and translation, and its recap. Messages already posted in Discord are not touched.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';

export const forget: Command = {
  data: new SlashCommandBuilder()
    .setName('forget')
    .setDescription("Delete a meeting's stored transcript, translations and recap")
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addIntegerOption((o) => o.setName('meeting').setDescription('Meeting number, as /recap shows it').setMinValue(1).setRequired(true)),

  async execute(interaction, context) {
    // Default member permissions only hide the command; check on the server too.
    if (!interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Deleting a meeting needs the Manage Server permission.');
    }
    const guildId = interaction.guildId;
    const meetingId = interaction.options.getInteger('meeting', true);
    if (context.meetings.get(guildId)?.id === meetingId) {
      throw new CommandError(`Meeting #${meetingId} is still being captioned. Use /end first, then /forget it.`);
    }
    if (!context.meetingDeletion.deleteMeeting(guildId, meetingId)) {
      throw new CommandError(`There is no meeting #${meetingId} in this server (it may have been deleted already).`);
    }
    const recordingFiles = (await context.services.recordings?.deleteMeeting(guildId, meetingId)) ?? 0;
    context.logger.info({ guildId, meetingId, recordingFiles }, 'meeting deleted by /forget');
    await interaction.reply({
      content: `Deleted meeting #${meetingId}: its transcript, translations and recap are gone from Parley's database${recordingFiles > 0 ? ', and its recording from its disk' : ''}. Messages already posted in Discord stay until someone deletes them.`,
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  },
};

export default forget;
