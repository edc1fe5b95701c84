/**
 * What must hold on Parley's side before a meeting starts, shared by `/join` and auto-join so both start only
 * where the same rules allow: the bot's permissions on the voice and caption channels, room in the voice
 * channel, the guild's daily speech-to-text budget, and no other meeting in the guild.
 */
import { PermissionFlagsBits, type GuildBasedChannel, type GuildMember, type VoiceBasedChannel } from 'discord.js';
import type { MeetingServices } from '../meeting/meeting.ts';
import type { MeetingRegistry } from '../meeting/registry.ts';
import { CAPTION_PERMISSIONS, THREAD_PERMISSIONS, VOICE_PERMISSIONS, missingPermissions } from './permissions.ts';

/** What {@link botStartProblem} looks at. */
export interface StartCheck {
  /** Parley's own member in the guild. */
  me: GuildMember;
  voiceChannel: VoiceBasedChannel;
  captionChannel: GuildBasedChannel;
  /** Translation languages of the meeting: threads need more permissions. */
  languages: readonly string[];
  services: Pick<MeetingServices, 'sttBudget'>;
  meetings: MeetingRegistry;
  /** What to do once the problem is fixed, ending the sentence, e.g. "run /join again". */
  retry: string;
}

/** Why a problem stops the start: `busy` is another meeting in the guild, anything else is on the guild's side to fix. */
export interface StartProblem {
  kind: 'permissions' | 'full' | 'budget' | 'busy';
  /** One or two sentences for the member: what is wrong and how to fix it. */
  message: string;
}

function list(names: string[]): string {
  return names.map((n) => `**${n}**`).join(', ');
}

/** The first reason Parley cannot start captioning `voiceChannel` into `captionChannel` now, or undefined. */
export function botStartProblem(check: StartCheck): StartProblem | undefined {
  const { me, voiceChannel, captionChannel, retry } = check;
  const voiceMissing = missingPermissions(voiceChannel, me, VOICE_PERMISSIONS);
  const captionMissing = missingPermissions(captionChannel, me, check.languages.length > 0 ? [...CAPTION_PERMISSIONS, ...THREAD_PERMISSIONS] : CAPTION_PERMISSIONS);
  if (voiceMissing.length > 0 || captionMissing.length > 0) {
    const parts: string[] = [];
    if (voiceMissing.length > 0) parts.push(`in <#${voiceChannel.id}>: ${list(voiceMissing)}`);
    if (captionMissing.length > 0) parts.push(`in <#${captionChannel.id}>: ${list(captionMissing)}`);
    return { kind: 'permissions', message: `Parley is missing permissions ${parts.join('; ')}. Ask a server admin to grant them, then ${retry}.` };
  }
  // Discord silently ignores a join of a full channel (without Move Members): say so now rather than time out.
  if (voiceChannel.full && !voiceChannel.permissionsFor(me).has(PermissionFlagsBits.MoveMembers)) {
    return {
      kind: 'full',
      message: `<#${voiceChannel.id}> is full (its user limit is ${voiceChannel.userLimit}), so Parley cannot join it. Raise its user limit or give Parley **Move Members**, then ${retry}.`,
    };
  }
  if (check.services.sttBudget?.spent(me.guild.id) === true) {
    return { kind: 'budget', message: 'This server has used its speech-to-text time for today. Captioning can start again after midnight UTC.' };
  }
  const running = check.meetings.get(me.guild.id);
  if (running !== undefined || check.meetings.busy(me.guild.id)) {
    const where = running === undefined ? 'another channel' : `<#${running.voiceChannelId}>`;
    return { kind: 'busy', message: `Parley is already captioning ${where} in this server. Use /end there first.` };
  }
  return undefined;
}
