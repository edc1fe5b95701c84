/**
 * `/languages set|clear|list`: the languages this server's captions are translated into. Each gets a thread under
 * the caption channel ("Captions · Español").
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { languageName, parseLanguageList } from '../src/translation/languages.ts';

function describe(codes: readonly string[]): string {
  return codes.map((code) => `${languageName(code)} (${code})`).join(', ');
}

export const languages: Command = {
  data: new SlashCommandBuilder()
    .setName('languages')
    .setDescription('Languages to translate captions into')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Set the translation languages')
        .addStringOption((o) => o.setName('codes').setDescription('ISO 639-1 codes, e.g. es,de,ja').setRequired(true).setMaxLength(200)),
    )
    .addSubcommand((s) => s.setName('clear').setDescription('Stop translating'))
    .addSubcommand((s) => s.setName('list').setDescription('Show the translation languages')),

  async execute(interaction, context) {
    const sub = interaction.options.getSubcommand(true);
    const guildId = interaction.guildId;
    if (sub !== 'list' && !interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Changing translation languages needs the Manage Server permission.');
    }
    let reply: string;
    if (sub === 'set') {
      const parsed = parseLanguageList(interaction.options.getString('codes', true));
      if (!parsed.ok) throw new CommandError(parsed.error);
      context.settings.setLanguages(guildId, parsed.languages);
      reply = `Captions will be translated into ${describe(parsed.languages)}, each in its own thread under the caption channel.`;
    } else if (sub === 'clear') {
      context.settings.setLanguages(guildId, []);
      reply = 'Translation is off.';
    } else {
      const current = context.settings.languages(guildId);
      reply = current.length === 0 ? 'No translation languages. Add some with `/languages set es,de`.' : `Translating into ${describe(current)}.`;
    }
    // In-stream translation fixes the languages of a session when it opens: a running meeting renews them.
    if (sub !== 'list') context.meetings.get(guildId)?.languagesChanged();
    await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default languages;
