/**
 * Shows everyone in the voice channel that Parley is captioning it, and takes the sign down when it stops.
 *
 * First choice: the voice channel's status (`PUT /channels/{id}/voice-status`, discord-api-docs "Modify Voice
 * Channel Status", documented 2026-04-20): at most 500 characters, shown to everyone in the channel; needs Set
 * Voice Channel Status, and Manage Channels too once the bot has left the channel, so it is cleared *before*
 * leaving. discord.js 14 has no method for it, so it goes through the client's REST (same rate-limit handling).
 * Fallback, where that permission is missing: the bot's nickname gets a 🔴 prefix and a "(captioning)" marker, or
 * "(recording)" while recording (Change Nickname), restored afterwards. Neither is required: without both, the consent notice in the channels is the only sign.
 */
import type { Guild } from 'discord.js';
import type { Logger } from '../log.ts';

/** The status text while captioning (Discord's limit is 500 characters). */
export const CAPTIONING_STATUS = '🔴 Live captions by Parley · /optout to opt out';

/** The status text while captioning and recording (`/join record:true`). */
export const RECORDING_STATUS = '🔴 Recording and live captions by Parley · /optout to opt out';

/** Discord's limit on a voice channel status, characters. */
const STATUS_MAX_CHARS = 500;

/** Discord's limit on a nickname, characters. */
const NICKNAME_MAX_CHARS = 32;

/**
 * The nickname that stands in for `status`: `🔴 name (recording)` for {@link RECORDING_STATUS}, else
 * `🔴 name (captioning)`. The name is shortened, never the marker, to fit Discord's 32 characters.
 */
export function nicknameSign(name: string, status: string): string {
  const prefix = '🔴 ';
  const marker = status === RECORDING_STATUS ? ' (recording)' : ' (captioning)';
  return `${prefix}${name.slice(0, NICKNAME_MAX_CHARS - prefix.length - marker.length)}${marker}`;
}

/** Which sign is up. */
type Shown = { kind: 'none' } | { kind: 'status' } | { kind: 'nickname'; previous: string | null };

/** The captioning sign of one meeting: {@link show} once it is in the voice channel, {@link clear} before it leaves. */
export class CaptioningIndicator {
  readonly #guild: Guild;
  readonly #voiceChannelId: string;
  readonly #logger: Logger;
  #shown: Shown = { kind: 'none' };

  constructor(guild: Guild, voiceChannelId: string, logger: Logger) {
    this.#guild = guild;
    this.#voiceChannelId = voiceChannelId;
    this.#logger = logger;
  }

  /** Which sign is up: the channel status, the nickname, or none (both were refused). */
  get shown(): Shown['kind'] {
    return this.#shown.kind;
  }

  /**
   * Puts the sign up: the voice channel status, else the nickname ({@link nicknameSign}). Never throws.
   *
   * @param status {@link CAPTIONING_STATUS} or {@link RECORDING_STATUS}; cut to Discord's 500 characters.
   */
  async show(status: string = CAPTIONING_STATUS): Promise<void> {
    try {
      await this.#setStatus(status.slice(0, STATUS_MAX_CHARS));
      this.#shown = { kind: 'status' };
      return;
    } catch (error) {
      this.#logger.debug({ err: (error as Error).message }, 'could not set the voice channel status; using the nickname');
    }
    const me = this.#guild.members.me;
    if (me === null) return;
    const previous = me.nickname;
    try {
      await me.setNickname(nicknameSign(previous ?? me.user.username, status));
      this.#shown = { kind: 'nickname', previous };
    } catch {
      // Without either permission the start notice is the only sign; that is acceptable.
    }
  }

  /** Takes the sign down. Never throws; a failure is logged (the status may stay until someone edits it). */
  async clear(): Promise<void> {
    const shown = this.#shown;
    this.#shown = { kind: 'none' };
    try {
      if (shown.kind === 'status') await this.#setStatus('');
      else if (shown.kind === 'nickname') await this.#guild.members.me?.setNickname(shown.previous);
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message, sign: shown.kind }, 'could not take down the captioning sign');
    }
  }

  async #setStatus(status: string): Promise<void> {
    await this.#guild.client.rest.put(`/channels/${this.#voiceChannelId}/voice-status`, { body: { status } });
  }
}
