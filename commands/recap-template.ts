/**
 * `/recap-template set|show|custom|clear-custom` (Manage Server): which recap this server gets at `/end` and from
 * `/recap`: meeting notes (the default), coaching feedback with exact quotes, a study session, a tabletop
 * session recap or a stand-up digest, plus an optional custom prompt of the server's own. The transcript stays
 * fenced as data and the answer format and limits stay fixed whatever the prompt says (`src/recap/templates.ts`).
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { CUSTOM_PROMPT_MAX_CHARS, RECAP_TEMPLATE_IDS, recapTemplate, validateCustomPrompt, type RecapTemplateId } from '../src/recap/templates.ts';
import { escapeDiscordText } from '../src/text/discord-markdown.ts';

export const recapTemplateCommand: Command = {
  data: new SlashCommandBuilder()
    .setName('recap-template')
    .setDescription('Choose the kind of recap this server gets')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Pick a recap template')
        .addStringOption((o) =>
          o
            .setName('template')
            .setDescription('The kind of recap')
            .setRequired(true)
            .addChoices(...RECAP_TEMPLATE_IDS.map((id) => ({ name: recapTemplate(id).name, value: id }))),
        ),
    )
    .addSubcommand((s) => s.setName('show').setDescription('Show the template and custom prompt in use'))
    .addSubcommand((s) =>
      s
        .setName('custom')
        .setDescription('Add your own instructions to every recap (tone, focus, language)')
        .addStringOption((o) =>
          o.setName('prompt').setDescription(`At most ${CUSTOM_PROMPT_MAX_CHARS} characters`).setRequired(true).setMaxLength(CUSTOM_PROMPT_MAX_CHARS),
        ),
    )
    .addSubcommand((s) => s.setName('clear-custom').setDescription('Remove the custom instructions')),

  async execute(interaction, context) {
    if (!interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Changing the recap template needs the Manage Server permission.');
    }
    const store = context.services.recapSettings;
    const guildId = interaction.guildId;
    const sub = interaction.options.getSubcommand(true);
    let reply: string;
    if (sub === 'set') {
      const template = interaction.options.getString('template', true);
      if (!(RECAP_TEMPLATE_IDS as readonly string[]).includes(template)) {
        throw new CommandError(`Unknown template "${escapeDiscordText(template)}". Pick one of: ${RECAP_TEMPLATE_IDS.join(', ')}.`);
      }
      store.setTemplate(guildId, template as RecapTemplateId);
      reply = `Recaps in this server are now **${recapTemplate(template as RecapTemplateId).name}**. Try it on a past meeting with \`/recap\`.`;
    } else if (sub === 'custom') {
      const checked = validateCustomPrompt(interaction.options.getString('prompt', true));
      if (!checked.ok) throw new CommandError(`${checked.reason} Write what every recap should focus on, its tone or its language.`);
      store.setCustomPrompt(guildId, checked.prompt);
      reply = 'Saved. Every recap in this server follows these instructions from now on (the transcript format and answer limits stay as they are).';
    } else if (sub === 'clear-custom') {
      reply = store.clearCustomPrompt(guildId) ? 'The custom instructions are removed.' : 'This server had no custom instructions.';
    } else {
      const style = store.recapStyle(guildId);
      const prompt = style.customPrompt === undefined ? 'No custom instructions.' : `Custom instructions:\n>>> ${escapeDiscordText(style.customPrompt)}`;
      reply = `Template: **${recapTemplate(style.template).name}**. ${prompt}`;
    }
    await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default recapTemplateCommand;
