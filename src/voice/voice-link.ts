/**
 * Parley's connection to one voice channel: joins with DAVE and `selfDeaf: false` (a deafened client receives
 * nothing), follows the discord.js guide's reconnect recipe, recovers a speaker whose audio keeps failing, and
 * reports when the connection is gone for good.
 *
 * Reconnect recipe (discord.js guide, "Voice connections: handling disconnects"): on `Disconnected`, race
 * `entersState(Signalling, 5 s)` against `entersState(Connecting, 5 s)`; if neither happens, the bot was kicked
 * or the channel is gone, so destroy the connection.
 */
import { EventEmitter } from 'node:events';
import {
  VoiceConnectionStatus,
  entersState,
  joinVoiceChannel,
  type DiscordGatewayAdapterCreator,
  type VoiceConnection,
  type VoiceConnectionState,
} from '@discordjs/voice';
import type { DAVESession } from '@discordjs/voice';
import type { Logger } from '../log.ts';
import { SpeakerReceiver } from './speaker-receiver.ts';

/** Options for {@link VoiceLink.join}. */
export interface VoiceLinkOptions {
  guildId: string;
  channelId: string;
  adapterCreator: DiscordGatewayAdapterCreator;
  logger: Logger;
  /** See {@link SpeakerReceiverOptions.isAllowed}. */
  isAllowed: (userId: string) => boolean;
  onPacket: (userId: string, packet: Buffer) => void;
  /** How long to wait for the connection to become ready, ms. Default 20,000. */
  readyTimeoutMs?: number;
}

/** Why the link ended. */
export type VoiceLinkEnd = 'left' | 'disconnected' | 'destroyed';

/** Typed events of a {@link VoiceLink}. */
export interface VoiceLinkEvents {
  /** The connection is gone and will not come back. */
  ended: [VoiceLinkEnd];
  /** A speaker's audio could not be recovered. */
  speakerLost: [userId: string];
  /** A recovery step ran (re-subscribe, DAVE recovery or rejoin), for logs and metrics. */
  recovery: [userId: string, step: string];
}

/** Thrown when the voice connection does not become ready. */
export class VoiceJoinError extends Error {
  override name = 'VoiceJoinError';
}

/** One guild's voice connection and its receive subscriptions. */
export class VoiceLink extends EventEmitter<VoiceLinkEvents> {
  readonly connection: VoiceConnection;
  readonly receiver: SpeakerReceiver;
  readonly #logger: Logger;
  #leaving = false;
  #ended = false;
  /** Recoveries run per member: the first tries DAVE recovery, later ones rejoin. */
  readonly #recoveries = new Map<string, number>();

  private constructor(connection: VoiceConnection, options: VoiceLinkOptions) {
    super();
    this.connection = connection;
    this.#logger = options.logger;
    this.receiver = new SpeakerReceiver(connection.receiver, {
      logger: options.logger,
      isAllowed: options.isAllowed,
      onPacket: options.onPacket,
    });
    this.receiver.on('resubscribed', (userId, reason) => this.emit('recovery', userId, `re-subscribed (${reason})`));
    this.receiver.on('repeatedFailure', (userId) => this.#recover(userId));
    this.receiver.on('speakerLost', (userId) => this.emit('speakerLost', userId));
    connection.on('stateChange', (oldState, newState) => void this.#onStateChange(oldState, newState));
    connection.on('error', (error) => this.#logger.warn({ err: error.message }, 'voice connection error'));
  }

  /**
   * Joins the voice channel and waits until the connection is ready.
   *
   * @throws {VoiceJoinError} if it is not ready within `readyTimeoutMs`; the connection is destroyed.
   */
  static async join(options: VoiceLinkOptions): Promise<VoiceLink> {
    const connection = joinVoiceChannel({
      guildId: options.guildId,
      channelId: options.channelId,
      adapterCreator: options.adapterCreator,
      selfDeaf: false,
      selfMute: true,
      daveEncryption: true,
    });
    try {
      await entersState(connection, VoiceConnectionStatus.Ready, options.readyTimeoutMs ?? 20_000);
    } catch {
      connection.destroy();
      throw new VoiceJoinError('Could not connect to the voice channel in time. Check that Parley can see and connect to it, then try /join again.');
    }
    return new VoiceLink(connection, options);
  }

  /** Leaves the voice channel. Idempotent. */
  leave(): void {
    if (this.#leaving) return;
    this.#leaving = true;
    this.receiver.stop();
    if (this.connection.state.status !== VoiceConnectionStatus.Destroyed) this.connection.destroy();
    this.#end('left');
  }

  #end(reason: VoiceLinkEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.receiver.stop();
    this.emit('ended', reason);
  }

  async #onStateChange(oldState: VoiceConnectionState, newState: VoiceConnectionState): Promise<void> {
    if (oldState.status === newState.status) return;
    this.#logger.debug({ from: oldState.status, to: newState.status }, 'voice connection state');
    if (newState.status === VoiceConnectionStatus.Destroyed) {
      this.#end(this.#leaving ? 'left' : 'destroyed');
      return;
    }
    if (newState.status !== VoiceConnectionStatus.Disconnected || this.#leaving) return;
    try {
      await Promise.race([
        entersState(this.connection, VoiceConnectionStatus.Signalling, 5_000),
        entersState(this.connection, VoiceConnectionStatus.Connecting, 5_000),
      ]);
      this.#logger.info('voice connection is reconnecting');
    } catch {
      this.#logger.warn('voice connection did not come back; leaving');
      if (this.connection.state.status !== VoiceConnectionStatus.Destroyed) this.connection.destroy();
      this.#end('disconnected');
    }
  }

  /**
   * Recovers a speaker whose stream keeps dying: first the DAVE session's own recovery from an invalid transition
   * (what @discordjs/voice does itself after too many decrypt failures), then a rejoin of the voice channel.
   */
  #recover(userId: string): void {
    const attempt = (this.#recoveries.get(userId) ?? 0) + 1;
    this.#recoveries.set(userId, attempt);
    const networking = Reflect.get(this.connection.state, 'networking') as { state?: { dave?: DAVESession } } | undefined;
    const dave = networking?.state?.dave;
    if (attempt % 2 === 1 && dave?.lastTransitionId !== undefined) {
      dave.recoverFromInvalidTransition(dave.lastTransitionId);
      this.#logger.warn({ userId }, 'recovering the DAVE session');
      this.emit('recovery', userId, 'DAVE session recovery');
      return;
    }
    this.#logger.warn({ userId }, 'rejoining the voice channel to recover a speaker');
    this.receiver.resetLost();
    this.connection.rejoin();
    this.emit('recovery', userId, 'rejoin');
  }
}
