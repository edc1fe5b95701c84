/**
 * `/spoken-languages set|clear|list`: the languages members of this server are expected to speak. Parley passes
 * them to AssemblyAI as the `language_codes` hint when a speaker's session opens (so a change applies from each
 * speaker's next session); without a hint the model detects any language it supports. Each final caption still
 * carries the language AssemblyAI detected, whatever the hint.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { languageName, parseLanguageList } from '../src/translation/languages.ts';

function describe(codes: readonly string[]): string {
  return codes.map((code) => `${languageName(code)} (${code})`).join(', ');
}

export const spokenLanguages: Command = {
  data: new SlashCommandBuilder()
    .setName('spoken-languages')
    .setDescription('Languages people speak here (a hint for speech-to-text)')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Set the languages spoken in this server')
        .addStringOption((o) => o.setName('codes').setDescription('ISO 639-1 codes, e.g. en,es').setRequired(true).setMaxLength(200)),
    )
    .addSubcommand((s) => s.setName('clear').setDescription('Detect any language'))
    .addSubcommand((s) => s.setName('list').setDescription('Show the languages spoken in this server')),

  async execute(interaction, context) {
    const sub = interaction.options.getSubcommand(true);
    const guildId = interaction.guildId;
    if (sub !== 'list' && !interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Changing the spoken languages needs the Manage Server permission.');
    }
    let reply: string;
    if (sub === 'set') {
      const parsed = parseLanguageList(interaction.options.getString('codes', true));
      if (!parsed.ok) throw new CommandError(parsed.error);
      const regional = parsed.languages.find((code) => code.includes('-'));
      if (regional !== undefined) {
        throw new CommandError(`Speech-to-text takes languages without a region: use ${regional.split('-')[0] ?? ''} instead of ${regional}.`);
      }
      context.settings.setSpokenLanguages(guildId, parsed.languages);
      reply = `Speech-to-text will expect ${describe(parsed.languages)}. This applies to each speaker's next speech-to-text session (within seconds of them pausing).`;
    } else if (sub === 'clear') {
      context.settings.setSpokenLanguages(guildId, []);
      reply = 'Speech-to-text will detect any language it supports.';
    } else {
      const current = context.settings.spokenLanguages(guildId);
      reply = current.length === 0 ? 'No spoken languages set: speech-to-text detects any language it supports. Set some with `/spoken-languages set en,es`.' : `Speech-to-text expects ${describe(current)}.`;
    }
    await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default spokenLanguages;
