/**
 * `/recording enable|disable|status` (Manage Server): whether `/join record:true` may record this server's voice
 * channels. Off by default. Even when it is on, a meeting records only when `/join` asks for it, and never a
 * member who opted out.
 */
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';

export const recording: Command = {
  data: new SlashCommandBuilder()
    .setName('recording')
    .setDescription('Allow or forbid recording voice channels in this server (off by default)')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) => s.setName('enable').setDescription('Let /join record:true record each member who has not opted out'))
    .addSubcommand((s) => s.setName('disable').setDescription('Forbid recording; a recording in progress goes on until /end'))
    .addSubcommand((s) => s.setName('status').setDescription('Whether recording is allowed here')),

  async execute(interaction, context) {
    // Default member permissions only hide the command; check on the server too.
    if (!interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Turning recording on or off needs the Manage Server permission.');
    }
    const recordings = context.services.recordings;
    if (recordings === undefined) throw new CommandError('Recording is not available on this Parley.');
    const guildId = interaction.guildId;
    const sub = interaction.options.getSubcommand(true);
    let reply: string;
    if (sub === 'enable') {
      recordings.settings.enable(guildId, interaction.user.id);
      reply = `Recording is allowed in this server. \`/join record:true\` records each member who has not opted out, one Ogg Opus file per speaker, posted at \`/end\` and kept ${recordings.keptFor}. Members are told in the consent notice and the voice channel's status, and \`/optout\` stops their recording at once.`;
    } else if (sub === 'disable') {
      const was = recordings.settings.disable(guildId);
      reply = was ? 'Recording is off in this server: `/join record:true` is refused.' : 'Recording was already off in this server.';
    } else {
      const consent = recordings.settings.consent(guildId);
      reply =
        consent === undefined
          ? 'Recording is off in this server (the default). A member with Manage Server can turn it on with `/recording enable`.'
          : `Recording is allowed in this server, since <t:${Math.floor(consent.enabledAtMs / 1000)}:f> (turned on by <@${consent.enabledBy}>). \`/recording disable\` turns it off.`;
    }
    await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default recording;
