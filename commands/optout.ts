/**
 * `/optout [erase]`: Parley never sends this member's audio anywhere, in any server, until they `/optin`. Their
 * audio already queued for speech-to-text is dropped unsent. With `erase`, their stored turns from this server's
 * past meetings are deleted too.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/bot/command.ts';

export const optout: Command = {
  data: new SlashCommandBuilder()
    .setName('optout')
    .setDescription('Never caption me: my audio is not sent to speech-to-text')
    .setDMPermission(false)
    .addBooleanOption((o) => o.setName('erase').setDescription("Also delete what I said in this server's past meetings")),

  async execute(interaction, context) {
    // Closing sessions takes a round trip to AssemblyAI: answer within Discord's 3 s by deferring first.
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    context.settings.setOptedOut(interaction.user.id, true);
    // Stop at once in every running meeting, not just from the next speaking start; queued audio never leaves.
    await Promise.all(context.meetings.all().map((meeting) => meeting.removeMember(interaction.user.id, { discard: true })));
    let erased = '';
    if (interaction.options.getBoolean('erase') === true) {
      const { turns, meetings } = context.meetingDeletion.eraseSpeaker(interaction.guildId, interaction.user.id);
      context.logger.info({ guildId: interaction.guildId, turns, meetings }, 'member erased their stored turns');
      const tracks = (await context.services.recordings?.eraseSpeaker(interaction.guildId, interaction.user.id)) ?? 0;
      erased = ` Deleted ${turns} caption${turns === 1 ? '' : 's'} of yours from ${meetings} past meeting${meetings === 1 ? '' : 's'} of this server, with their translations; the recaps of those meetings were deleted too.${tracks > 0 ? ` ${tracks} recording${tracks === 1 ? '' : 's'} of your voice kept by Parley ${tracks === 1 ? 'was' : 'were'} deleted.` : ''}`;
    }
    await interaction.editReply({
      content: `Done: Parley will not send your audio anywhere, in any server, until you use /optin. Nor will it record you: a recording of you in progress has stopped.${erased}`,
      allowedMentions: { parse: [] },
    });
  },
};

export default optout;
