/**
 * Permission arithmetic as Discord computes it, per discord-api-docs "Permissions" (topics/permissions):
 * "Permission Hierarchy", "Permission Overwrites" and "Implicit Permissions".
 */
import { PermissionFlagsBits } from 'discord-api-types/v10';
import type { APIOverwrite, APIRole } from 'discord-api-types/v10';

/** Every permission bit discord-api-types knows. */
export const ALL_PERMISSIONS: bigint = Object.values(PermissionFlagsBits).reduce((all, bit) => all | bit, 0n);

/** Overwrite type 0 = role, 1 = member (discord-api-docs "Overwrite Object"). */
const ROLE_OVERWRITE = 0;
const MEMBER_OVERWRITE = 1;

/** What {@link computePermissions} needs to know about a guild. */
export interface PermissionContext {
  guildId: string;
  ownerId: string;
  roles: readonly APIRole[];
}

/** Guild-level permissions: @everyone (role id = guild id) OR the member's roles; owner and Administrator get all. */
export function computeBasePermissions(ctx: PermissionContext, userId: string, memberRoleIds: readonly string[]): bigint {
  if (userId === ctx.ownerId) return ALL_PERMISSIONS;
  let permissions = 0n;
  for (const role of ctx.roles) {
    if (role.id === ctx.guildId || memberRoleIds.includes(role.id)) permissions |= BigInt(role.permissions);
  }
  if ((permissions & PermissionFlagsBits.Administrator) !== 0n) return ALL_PERMISSIONS;
  return permissions;
}

/**
 * Channel permissions: base, then the @everyone overwrite, then the member's role overwrites (denies and
 * allows OR-ed together), then the member overwrite. Then the implicit rules: without View Channel a member has
 * no channel permission; without Send Messages in a text channel, no Mention Everyone, Send TTS, Attach Files or
 * Embed Links.
 */
export function computePermissions(
  ctx: PermissionContext,
  userId: string,
  memberRoleIds: readonly string[],
  overwrites: readonly APIOverwrite[] | undefined,
  options: { textBased?: boolean } = {},
): bigint {
  const base = computeBasePermissions(ctx, userId, memberRoleIds);
  if ((base & PermissionFlagsBits.Administrator) !== 0n) return ALL_PERMISSIONS;
  let permissions = base;
  const list = overwrites ?? [];
  const everyone = list.find((o) => o.type === ROLE_OVERWRITE && o.id === ctx.guildId);
  if (everyone) permissions = (permissions & ~BigInt(everyone.deny)) | BigInt(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const o of list) {
    if (o.type === ROLE_OVERWRITE && o.id !== ctx.guildId && memberRoleIds.includes(o.id)) {
      allow |= BigInt(o.allow);
      deny |= BigInt(o.deny);
    }
  }
  permissions = (permissions & ~deny) | allow;
  const member = list.find((o) => o.type === MEMBER_OVERWRITE && o.id === userId);
  if (member) permissions = (permissions & ~BigInt(member.deny)) | BigInt(member.allow);

  if ((permissions & PermissionFlagsBits.ViewChannel) === 0n) return 0n;
  if (options.textBased && (permissions & PermissionFlagsBits.SendMessages) === 0n) {
    permissions &= ~(
      PermissionFlagsBits.MentionEveryone |
      PermissionFlagsBits.SendTTSMessages |
      PermissionFlagsBits.AttachFiles |
      PermissionFlagsBits.EmbedLinks
    );
  }
  return permissions;
}

/** True when every bit of `required` is in `permissions`. */
export function hasAll(permissions: bigint, required: bigint): boolean {
  return (permissions & required) === required;
}
