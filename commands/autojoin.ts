/**
 * `/autojoin set|clear|list` (Manage Server): voice channels Parley captions by itself once enough members
 * (bots not counted) are in them, with the usual consent notice, leaving when the channel has emptied. The start
 * runs the same checks as `/join` (src/bot/auto-join.ts says when a rule triggers and how failures cool off).
 */
import { ChannelType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { CommandError, type Command } from '../src/bot/command.ts';
import { CALLER_CAPTION_PERMISSIONS, CAPTION_PERMISSIONS, THREAD_PERMISSIONS, VOICE_PERMISSIONS, missingPermissions } from '../src/bot/permissions.ts';
import { AUTO_JOIN_MAX_MEMBERS, AUTO_JOIN_MAX_RULES, AUTO_JOIN_MIN_MEMBERS } from '../src/store/auto-join-store.ts';

function list(names: string[]): string {
  return names.map((n) => `**${n}**`).join(', ');
}

export const autojoin: Command = {
  data: new SlashCommandBuilder()
    .setName('autojoin')
    .setDescription('Caption a voice channel automatically when people gather in it')
    .setDMPermission(false)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Join a voice channel by itself once enough members are in it')
        .addChannelOption((o) => o.setName('voice_channel').setDescription('Voice channel to caption').setRequired(true).addChannelTypes(ChannelType.GuildVoice))
        .addChannelOption((o) =>
          o
            .setName('caption_channel')
            .setDescription('Text channel for the captions')
            .setRequired(true)
            .addChannelTypes(ChannelType.GuildText, ChannelType.GuildVoice, ChannelType.GuildAnnouncement),
        )
        .addIntegerOption((o) =>
          o
            .setName('min_members')
            .setDescription('Members (bots not counted) in the voice channel that start captioning')
            .setRequired(true)
            .setMinValue(AUTO_JOIN_MIN_MEMBERS)
            .setMaxValue(AUTO_JOIN_MAX_MEMBERS),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('clear')
        .setDescription('Stop joining a voice channel (or every one) by itself')
        .addChannelOption((o) => o.setName('voice_channel').setDescription('Voice channel (default: all of them)').addChannelTypes(ChannelType.GuildVoice)),
    )
    .addSubcommand((s) => s.setName('list').setDescription('Show the voice channels Parley joins by itself')),

  async execute(interaction, context) {
    if (!interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)) {
      throw new CommandError('Auto-join needs the Manage Server permission. Ask a server admin.');
    }
    const { guild, member } = interaction;
    const { rules, watcher } = context.autoJoin;
    const sub = interaction.options.getSubcommand(true);
    let reply: string;
    if (sub === 'set') {
      const me = guild.members.me;
      if (me === null) throw new CommandError('Parley is not fully connected to this server yet. Try again in a moment.');
      const voiceChannel = guild.channels.cache.get(interaction.options.getChannel('voice_channel', true).id);
      if (voiceChannel === undefined || voiceChannel.type !== ChannelType.GuildVoice) {
        throw new CommandError('Pick a voice channel of this server for `voice_channel` (stage channels are not supported).');
      }
      const captionChannel = guild.channels.cache.get(interaction.options.getChannel('caption_channel', true).id);
      if (captionChannel === undefined || !captionChannel.isSendable() || captionChannel.isThread()) {
        throw new CommandError('Pick a text channel of this server for `caption_channel`: Parley posts the captions there.');
      }
      const minMembers = interaction.options.getInteger('min_members', true);
      if (!Number.isInteger(minMembers) || minMembers < AUTO_JOIN_MIN_MEMBERS || minMembers > AUTO_JOIN_MAX_MEMBERS) {
        throw new CommandError(`\`min_members\` must be a whole number from ${AUTO_JOIN_MIN_MEMBERS} to ${AUTO_JOIN_MAX_MEMBERS}.`);
      }
      // As /join: captions go only where the member who set this could read and write them.
      const callerMissing = missingPermissions(captionChannel, member, CALLER_CAPTION_PERMISSIONS);
      if (callerMissing.length > 0) {
        throw new CommandError(`You don't have ${list(callerMissing)} in <#${captionChannel.id}>, so you can't send captions there. Pick a channel you can post in.`);
      }
      const languages = context.settings.languages(guild.id);
      const voiceMissing = missingPermissions(voiceChannel, me, VOICE_PERMISSIONS);
      const captionMissing = missingPermissions(captionChannel, me, languages.length > 0 ? [...CAPTION_PERMISSIONS, ...THREAD_PERMISSIONS] : CAPTION_PERMISSIONS);
      if (voiceMissing.length > 0 || captionMissing.length > 0) {
        const parts: string[] = [];
        if (voiceMissing.length > 0) parts.push(`in <#${voiceChannel.id}>: ${list(voiceMissing)}`);
        if (captionMissing.length > 0) parts.push(`in <#${captionChannel.id}>: ${list(captionMissing)}`);
        throw new CommandError(`Parley is missing permissions ${parts.join('; ')}. Ask a server admin to grant them, then run /autojoin set again.`);
      }
      const result = rules.set({ guildId: guild.id, voiceChannelId: voiceChannel.id, captionChannelId: captionChannel.id, minMembers, setBy: member.id, setAtMs: Date.now() });
      if (!result.ok) throw new CommandError(result.error);
      watcher.forget(guild.id, voiceChannel.id);
      reply = `${result.replaced ? 'Updated' : 'Set'}: Parley captions <#${voiceChannel.id}> in <#${captionChannel.id}> by itself when ${minMembers} member${minMembers === 1 ? ' is' : 's are'} in it, and leaves once it has emptied. \`/autojoin clear\` stops it.`;
      await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
      // Members may be there already.
      watcher.evaluate(guild, voiceChannel.id);
      return;
    }
    if (sub === 'clear') {
      const chosen = interaction.options.getChannel('voice_channel');
      if (chosen !== null && guild.channels.cache.get(chosen.id) === undefined) {
        throw new CommandError('Pick a voice channel of this server for `voice_channel`, or leave it out to clear every auto-join channel.');
      }
      const removed = rules.clear(guild.id, chosen?.id);
      watcher.forget(guild.id, chosen?.id);
      reply =
        chosen === null
          ? removed === 0
            ? 'This server has no auto-join channels.'
            : `Removed ${removed} auto-join channel${removed === 1 ? '' : 's'}. A meeting already running goes on until /end or until its channel empties.`
          : removed === 0
            ? `<#${chosen.id}> is not an auto-join channel. \`/autojoin list\` shows them.`
            : `Parley no longer joins <#${chosen.id}> by itself. A meeting already running there goes on until /end or until the channel empties.`;
    } else {
      const all = rules.list(guild.id);
      reply =
        all.length === 0
          ? 'This server has no auto-join channels. `/autojoin set` adds one.'
          : [
              `Auto-join channels (${all.length} of at most ${AUTO_JOIN_MAX_RULES}):`,
              ...all.map((r) => `- <#${r.voiceChannelId}> → captions in <#${r.captionChannelId}> when ${r.minMembers} member${r.minMembers === 1 ? ' is' : 's are'} in it (set by <@${r.setBy}>)`),
            ].join('\n');
    }
    await interaction.reply({ content: reply, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default autojoin;
