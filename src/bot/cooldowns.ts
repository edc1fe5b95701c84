/**
 * Cooldowns on the commands that cost money or disturb a channel (`/join`, `/end`, `/recap`): a member may run
 * each once per member cooldown, and a guild once per guild cooldown. Kept in memory by rate-limiter-flexible;
 * every key expires after its cooldown, so memory is bounded by the members active within one cooldown. A
 * refused or failed command does not start a cooldown: only a command that ran does.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';

/** Cooldown lengths, ms; 0 turns one off. */
export interface CooldownSettings {
  memberMs: number;
  guildMs: number;
}

/** Which cooldown is still running, and for how long. */
export interface CooldownWait {
  scope: 'member' | 'guild';
  /** Time left, ms. */
  remainingMs: number;
}

function limiter(ms: number): RateLimiterMemory | undefined {
  // duration 0 means "never expires" to rate-limiter-flexible: no limiter at all is what 0 means here.
  return ms > 0 ? new RateLimiterMemory({ points: 1, duration: ms / 1000 }) : undefined;
}

/** The cooldowns of one bot. */
export class CommandCooldowns {
  readonly #member: RateLimiterMemory | undefined;
  readonly #guild: RateLimiterMemory | undefined;

  constructor(settings: CooldownSettings) {
    this.#member = limiter(settings.memberMs);
    this.#guild = limiter(settings.guildMs);
  }

  /** The cooldown `command` is still under for this member or guild, or undefined when it may run now. */
  async waiting(command: string, guildId: string, userId: string): Promise<CooldownWait | undefined> {
    const member = await this.#member?.get(`${command}:${guildId}:${userId}`);
    if (member !== null && member !== undefined && member.consumedPoints >= 1) return { scope: 'member', remainingMs: member.msBeforeNext };
    const guild = await this.#guild?.get(`${command}:${guildId}`);
    if (guild !== null && guild !== undefined && guild.consumedPoints >= 1) return { scope: 'guild', remainingMs: guild.msBeforeNext };
    return undefined;
  }

  /** Starts both cooldowns of `command` (it ran). */
  async ran(command: string, guildId: string, userId: string): Promise<void> {
    await Promise.all([this.#member?.penalty(`${command}:${guildId}:${userId}`, 1), this.#guild?.penalty(`${command}:${guildId}`, 1)]);
  }
}
