/**
 * Permission checks made before Parley acts, so the user hears exactly what is missing instead of a generic
 * failure later. Permission names follow Discord's client wording.
 *
 * Needed (Discord docs, "Permissions"; @discordjs/voice receive): voice channel: View Channel, Connect (Speak is not needed to listen); caption
 * channel: View Channel, Send Messages, Embed Links, Attach Files; translation threads: Create Public Threads and
 * Send Messages in Threads.
 */
import { PermissionFlagsBits, type GuildBasedChannel, type GuildMember, type PermissionResolvable } from 'discord.js';

/** A permission Parley checks, with the name Discord's UI shows. */
export interface NamedPermission {
  flag: bigint;
  name: string;
}

const named = (flag: bigint, name: string): NamedPermission => ({ flag, name });

/** Bot permissions in the voice channel. */
export const VOICE_PERMISSIONS = [named(PermissionFlagsBits.ViewChannel, 'View Channel'), named(PermissionFlagsBits.Connect, 'Connect')];

/** Bot permissions in the caption channel. */
export const CAPTION_PERMISSIONS = [
  named(PermissionFlagsBits.ViewChannel, 'View Channel'),
  named(PermissionFlagsBits.SendMessages, 'Send Messages'),
  named(PermissionFlagsBits.EmbedLinks, 'Embed Links'),
  named(PermissionFlagsBits.AttachFiles, 'Attach Files'),
];

/** Extra bot permissions in the caption channel when translation threads are used. */
export const THREAD_PERMISSIONS = [
  named(PermissionFlagsBits.CreatePublicThreads, 'Create Public Threads'),
  named(PermissionFlagsBits.SendMessagesInThreads, 'Send Messages in Threads'),
];

/**
 * Bot permissions that are asked for in the invite but not required: the voice channel status that tells
 * everyone Parley is captioning (Set Voice Channel Status), and the nickname marker used where that is missing.
 */
export const OPTIONAL_PERMISSIONS = [
  named(PermissionFlagsBits.SetVoiceChannelStatus, 'Set Voice Channel Status'),
  named(PermissionFlagsBits.ChangeNickname, 'Change Nickname'),
];

/** The permissions `member` lacks in `channel`, by name; empty when it has them all. */
export function missingPermissions(channel: GuildBasedChannel, member: GuildMember, needed: readonly NamedPermission[]): string[] {
  const granted = channel.permissionsFor(member);
  return needed.filter((p) => !granted.has(p.flag as PermissionResolvable)).map((p) => p.name);
}
