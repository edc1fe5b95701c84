/**
 * A meeting's time limits: a maximum length (with a warning before it) and leaving a voice channel that has had
 * no member for a while. Music or an open mic in an empty channel would otherwise bill speech-to-text all night.
 * Two timers at most, on the meeting's clock; `stop` clears both.
 */
import type { Clock, TimerHandle } from '../clock.ts';

/** Lengths, ms (see `LimitsConfig`). */
export interface MeetingLimitSettings {
  maxMeetingMs: number;
  /** Warned this long before `maxMeetingMs`; 0: no warning. */
  maxMeetingWarningMs: number;
  emptyChannelLeaveMs: number;
}

/** Options for {@link MeetingLimits}. */
export interface MeetingLimitsOptions {
  settings: MeetingLimitSettings;
  clock: Clock;
  /** The maximum length is `remainingMs` away. */
  onWarning: (remainingMs: number) => void;
  onMaxLength: () => void;
  /** Nobody has been in the voice channel for `emptyChannelLeaveMs`. */
  onEmpty: () => void;
}

/** The limits of one meeting. */
export class MeetingLimits {
  readonly #o: MeetingLimitsOptions;
  #lengthTimer: TimerHandle | null = null;
  #emptyTimer: TimerHandle | null = null;
  #stopped = false;

  constructor(options: MeetingLimitsOptions) {
    this.#o = options;
  }

  /** Starts the length timers (the meeting has just started). */
  start(): void {
    const { maxMeetingMs, maxMeetingWarningMs } = this.#o.settings;
    const warnAfter = maxMeetingMs - maxMeetingWarningMs;
    if (maxMeetingWarningMs > 0 && warnAfter > 0) {
      this.#lengthTimer = this.#o.clock.setTimeout(() => {
        this.#o.onWarning(maxMeetingWarningMs);
        this.#lengthTimer = this.#o.clock.setTimeout(() => this.#o.onMaxLength(), maxMeetingWarningMs);
      }, warnAfter);
    } else {
      this.#lengthTimer = this.#o.clock.setTimeout(() => this.#o.onMaxLength(), maxMeetingMs);
    }
  }

  /** The number of members (bots not counted) in the voice channel now. */
  membersChanged(members: number): void {
    if (this.#stopped) return;
    if (members > 0) {
      this.#clear('empty');
      return;
    }
    if (this.#emptyTimer !== null) return;
    this.#emptyTimer = this.#o.clock.setTimeout(() => {
      this.#emptyTimer = null;
      this.#o.onEmpty();
    }, this.#o.settings.emptyChannelLeaveMs);
  }

  /** Clears every timer; later calls do nothing. */
  stop(): void {
    this.#stopped = true;
    this.#clear('length');
    this.#clear('empty');
  }

  #clear(which: 'length' | 'empty'): void {
    const handle = which === 'length' ? this.#lengthTimer : this.#emptyTimer;
    if (handle !== null) this.#o.clock.clearTimeout(handle);
    if (which === 'length') this.#lengthTimer = null;
    else this.#emptyTimer = null;
  }
}
