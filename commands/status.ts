/**
 * `/status`: who is being transcribed, each speaker's session state, the caption channel and the elapsed time.
 */
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/bot/command.ts';
import { formatClock } from '../src/transcript/formats.ts';
import { escapeDiscordText } from '../src/text/discord-markdown.ts';

const STATE_TEXT = {
  idle: 'quiet (no STT session open)',
  connecting: 'connecting to speech-to-text',
  open: 'transcribing',
  terminating: 'closing session',
  paused: 'paused after repeated speech-to-text failures (retries when they next speak)',
  failed: 'speech-to-text refused',
} as const;

export const status: Command = {
  data: new SlashCommandBuilder().setName('status').setDescription('Show what Parley is captioning').setDMPermission(false),

  async execute(interaction, context) {
    const meeting = context.meetings.get(interaction.guildId);
    if (meeting === undefined) {
      await interaction.reply({ content: 'Parley is not captioning anything in this server. Use /join to start.', flags: MessageFlags.Ephemeral });
      return;
    }
    const speakers = meeting.speakers();
    const lines = [
      `${meeting.recording ? 'Recording and captioning' : 'Captioning'} <#${meeting.voiceChannelId}> into <#${meeting.captionChannelId}> for ${formatClock(meeting.elapsedMs).replace(/\.\d$/, '')}, started by <@${meeting.startedById}>.`,
      // Speakers who left are no longer listed, so "nobody has spoken" would not be true.
      speakers.length === 0 ? 'Nobody is being transcribed right now.' : `Speakers (${speakers.length}):`,
      ...speakers.map((s) => {
        const notKept = s.stats.framesNotKept > 0 ? `, ${Math.round(s.stats.framesNotKept / 20)} s of wordless audio not kept for a resend` : '';
        const decoder = s.decoderFailed ? ', cannot be captioned: their audio could not be decoded' : '';
        const extra = (s.corruptPackets > 0 ? `, ${s.corruptPackets} corrupt packets skipped` : '') + notKept + decoder;
        return `- ${escapeDiscordText(s.speaker.name)}: ${STATE_TEXT[s.state]}, ${s.stats.finalTurns} caption${s.stats.finalTurns === 1 ? '' : 's'}${extra}`;
      }),
    ];
    await interaction.reply({ content: lines.join('\n').slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};

export default status;
