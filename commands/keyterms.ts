/**
 * `/keyterms add|remove|list`: the guild's vocabulary, sent to AssemblyAI as `keyterms_prompt` (at most 100 terms
 * of at most 50 characters, AssemblyAI Streaming v3 docs). Running sessions get an `UpdateConfiguration`.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { escapeDiscordText } from '../src/text/discord-markdown.ts';

/** Terms as shown in a reply: escaped, since a term is free text. */
function shown(terms: readonly string[]): string {
  return terms.map(escapeDiscordText).join(', ');
}

function parseTerms(raw: string): string[] {
  return raw
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

export const keyterms: Command = {
  data: new SlashCommandBuilder()
    .setName('keyterms')
    .setDescription('Words and names speech-to-text should listen for')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('add')
        .setDescription('Add terms (comma-separated)')
        .addStringOption((o) => o.setName('terms').setDescription('e.g. Kubernetes, Siobhan, PR-42').setRequired(true).setMaxLength(1000)),
    )
    .addSubcommand((s) =>
      s
        .setName('remove')
        .setDescription('Remove terms (comma-separated)')
        .addStringOption((o) => o.setName('terms').setDescription('Terms to remove').setRequired(true).setMaxLength(1000)),
    )
    .addSubcommand((s) => s.setName('list').setDescription('List the terms')),

  async execute(interaction, context) {
    // Default member permissions only hide the command; check on the server too.
    if (!interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Changing keyterms needs the Manage Server permission.');
    }
    const guildId = interaction.guildId;
    const sub = interaction.options.getSubcommand(true);
    let reply: string;
    if (sub === 'list') {
      const terms = context.settings.keyterms(guildId);
      reply = terms.length === 0 ? 'No keyterms yet. Add some with `/keyterms add`.' : `Keyterms (${terms.length}/100): ${shown(terms)}`;
    } else {
      const terms = parseTerms(interaction.options.getString('terms', true));
      if (terms.length === 0) throw new CommandError('Give at least one term, separated by commas, e.g. `Kubernetes, Siobhan`.');
      if (sub === 'add') {
        const result = context.settings.addKeyterms(guildId, terms);
        if (!result.ok) throw new CommandError(result.error);
        reply = `Added. Keyterms (${result.keyterms.length}/100): ${shown(result.keyterms)}`;
      } else {
        context.settings.removeKeyterms(guildId, terms);
        const left = context.settings.keyterms(guildId);
        reply = `Removed. Keyterms (${left.length}/100): ${left.length === 0 ? 'none' : shown(left)}`;
      }
      context.meetings.get(guildId)?.setKeyterms(context.settings.keyterms(guildId));
    }
    await interaction.reply({ content: reply.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default keyterms;
