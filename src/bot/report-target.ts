/**
 * A meeting report sent privately to the member who asked: the deferred (ephemeral) reply carries the first
 * message, ephemeral follow-ups the rest. Used wherever posting in a channel could show a meeting's text to people
 * who could not see its caption channel.
 */
import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { ReportTarget } from '../meeting/meeting-report.ts';

/** The target for an interaction already deferred ephemerally. */
export function privateReportTarget(interaction: ChatInputCommandInteraction<'cached'>): ReportTarget {
  let first = true;
  return {
    send: async (message) => {
      if (first) {
        first = false;
        return interaction.editReply(message);
      }
      return interaction.followUp({ ...message, flags: MessageFlags.Ephemeral });
    },
  };
}
