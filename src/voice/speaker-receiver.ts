/**
 * Subscribes to each member's audio as they start speaking, hands their Opus packets on, and heals a speaker whose
 * receive stream dies.
 *
 * @discordjs/voice 0.19 (packages/voice/src/receive): `receiver.speaking` emits `start` per user id; `subscribe`
 * returns an object-mode `AudioReceiveStream` of Opus packets; any decryption error destroys that user's stream;
 * packets that fail DAVE decryption while keys change are dropped without a signal (discord.js#11441, #11445).
 * The failure to detect is "a speaker goes silent for good" (as users of other bots report; discord.js#11441), so:
 * - a stream that closes while the member is still wanted is re-subscribed at once;
 * - a member who keeps starting to speak while their stream yields nothing is re-subscribed too;
 * - more than `maxResubscribes` failures inside `failureWindowMs` escalate to `onRepeatedFailure` (the voice link
 *   recovers the DAVE session or rejoins), and after `maxEscalations` the speaker is reported lost.
 */
import { EventEmitter } from 'node:events';
import { EndBehaviorType, type AudioReceiveStream, type VoiceReceiver } from '@discordjs/voice';
import type { Logger } from '../log.ts';

/** The part of @discordjs/voice's `VoiceReceiver` Parley uses. */
export type ReceiverLike = Pick<VoiceReceiver, 'speaking' | 'subscribe' | 'subscriptions'>;

/** Options for {@link SpeakerReceiver}. */
export interface SpeakerReceiverOptions {
  logger: Logger;
  /** False for bots and opted-out members: their audio is never subscribed to. Checked on every speaking start. */
  isAllowed: (userId: string) => boolean;
  /** Receives every Opus packet of an allowed member. */
  onPacket: (userId: string, packet: Buffer) => void;
  /** Failures inside this window count together, ms. Default 30,000. */
  failureWindowMs?: number;
  /** Re-subscriptions allowed inside the window before escalating. Default 3. */
  maxResubscribes?: number;
  /** Escalations inside the window before the speaker is reported lost. Default 2. */
  maxEscalations?: number;
  /** Speaking starts in a row without a single packet before the stream counts as failed. Default 3. */
  maxSilentStarts?: number;
}

/** Typed events of a {@link SpeakerReceiver}. */
export interface SpeakerReceiverEvents {
  /** A member's stream was re-subscribed after it died or stalled. */
  resubscribed: [userId: string, reason: string];
  /** Re-subscribing kept failing: the voice link should recover DAVE or rejoin. */
  repeatedFailure: [userId: string];
  /** The member could not be recovered; their audio is no longer received. */
  speakerLost: [userId: string];
}

interface SpeakerState {
  stream: AudioReceiveStream | null;
  /** Why we are destroying the stream ourselves, so its close is healed with that reason. */
  restartReason: string | null;
  failures: number[];
  escalations: number[];
  silentStarts: number;
  lost: boolean;
}

/** Manages the receive subscriptions of one voice connection. */
export class SpeakerReceiver extends EventEmitter<SpeakerReceiverEvents> {
  readonly #receiver: ReceiverLike;
  readonly #o: Required<SpeakerReceiverOptions>;
  readonly #speakers = new Map<string, SpeakerState>();
  readonly #onStart = (userId: string) => this.#handleStart(userId);
  #stopped = false;

  constructor(receiver: ReceiverLike, options: SpeakerReceiverOptions) {
    super();
    this.#receiver = receiver;
    this.#o = { failureWindowMs: 30_000, maxResubscribes: 3, maxEscalations: 2, maxSilentStarts: 3, ...options };
    receiver.speaking.on('start', this.#onStart);
  }

  /** Members with a live subscription. */
  get subscribedUserIds(): string[] {
    return [...this.#speakers.entries()].filter(([, s]) => s.stream !== null).map(([id]) => id);
  }

  /** Stops receiving a member (they left, or opted out) and forgets their failures. */
  drop(userId: string): void {
    const state = this.#speakers.get(userId);
    this.#speakers.delete(userId);
    state?.stream?.destroy();
  }

  /** Clears a lost speaker so the next speaking start tries again (after a rejoin). */
  resetLost(): void {
    for (const state of this.#speakers.values()) {
      state.lost = false;
      state.silentStarts = 0;
    }
  }

  /** Unsubscribes everyone and detaches from the receiver. */
  stop(): void {
    this.#stopped = true;
    this.#receiver.speaking.off('start', this.#onStart);
    for (const userId of [...this.#speakers.keys()]) this.drop(userId);
  }

  #handleStart(userId: string): void {
    if (this.#stopped || !this.#o.isAllowed(userId)) return;
    const state = this.#state(userId);
    if (state.lost) return;
    if (state.stream === null) {
      this.#subscribe(userId, state);
      return;
    }
    // Discord marks them speaking from raw UDP packets; if none of those reached us decrypted, the stream stalled.
    state.silentStarts++;
    if (state.silentStarts >= this.#o.maxSilentStarts) {
      this.#o.logger.warn({ userId, silentStarts: state.silentStarts }, 'speaker is speaking but no audio arrives; re-subscribing');
      state.silentStarts = 0;
      // Healed from the stream's close, after the library has dropped the subscription: subscribing before that
      // would get the same dead stream back.
      state.restartReason = 'stalled';
      state.stream.destroy();
    }
  }

  #state(userId: string): SpeakerState {
    let state = this.#speakers.get(userId);
    if (state === undefined) {
      state = { stream: null, restartReason: null, failures: [], escalations: [], silentStarts: 0, lost: false };
      this.#speakers.set(userId, state);
    }
    return state;
  }

  #subscribe(userId: string, state: SpeakerState): void {
    // subscribe() returns the existing stream if the library still holds one for this user.
    const stream = this.#receiver.subscribe(userId, { end: { behavior: EndBehaviorType.Manual } });
    state.stream = stream;
    stream.on('data', (packet: Buffer) => {
      state.silentStarts = 0;
      this.#o.onPacket(userId, packet);
    });
    stream.on('error', (error: Error) => {
      this.#o.logger.warn({ userId, err: error.message }, 'receive stream failed');
    });
    // Registered after the library's own close listener (added in subscribe), which removes the subscription.
    stream.once('close', () => {
      if (state.stream !== stream) return;
      state.stream = null;
      const reason = state.restartReason ?? 'stream closed';
      state.restartReason = null;
      if (this.#stopped || this.#speakers.get(userId) !== state || !this.#o.isAllowed(userId)) return;
      this.#fail(userId, state, reason);
    });
  }

  #fail(userId: string, state: SpeakerState, reason: string): void {
    const now = Date.now();
    const window = now - this.#o.failureWindowMs;
    state.failures = state.failures.filter((t) => t > window);
    state.failures.push(now);
    if (state.failures.length <= this.#o.maxResubscribes) {
      this.#subscribe(userId, state);
      this.#o.logger.info({ userId, reason }, 'speaker re-subscribed');
      this.emit('resubscribed', userId, reason);
      return;
    }
    state.escalations = state.escalations.filter((t) => t > window);
    if (state.escalations.length >= this.#o.maxEscalations) {
      state.lost = true;
      this.#o.logger.error({ userId, reason }, 'speaker could not be recovered');
      this.emit('speakerLost', userId);
      return;
    }
    state.escalations.push(now);
    state.failures = [];
    this.#subscribe(userId, state);
    this.#o.logger.warn({ userId, reason }, 'speaker keeps failing; asking the voice link to recover');
    this.emit('repeatedFailure', userId);
  }
}
