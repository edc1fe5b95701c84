/**
 * Parley's connection to one voice channel: joins with DAVE and `selfDeaf: false` (a deafened client receives
 * nothing), follows the discord.js guide's reconnect recipe, recovers a speaker whose audio keeps failing, and
 * reports when the connection is gone for good.
 *
 * Reconnect recipe (discord.js guide, "Voice connections: handling disconnects"): on `Disconnected`, race
 * `entersState(Signalling, 5 s)` against `entersState(Connecting, 5 s)`; if neither happens, the bot was kicked
 * or the channel is gone, so destroy the connection.
 */
import { enlargeVoiceReceiveBuffer } from './receive-buffer.ts';
import { useKeyObjectForTransport } from './transport-key.ts';
import { EventEmitter } from 'node:events';
import {
  VoiceConnectionStatus,
  entersState,
  joinVoiceChannel,
  type DiscordGatewayAdapterCreator,
  type VoiceConnection,
  type VoiceConnectionState,
} from '@discordjs/voice';
import type { Logger } from '../log.ts';
import { DaveGuard } from './dave-guard.ts';
import type { DaveGuardOptions } from './dave-guard.ts';
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
  /** DAVE healing thresholds (tests shorten them); see {@link DaveGuardOptions}. */
  dave?: Omit<DaveGuardOptions, 'logger'>;
}

/** Why the link ended. */
export type VoiceLinkEnd = 'left' | 'disconnected' | 'destroyed';

/** Typed events of a {@link VoiceLink}. */
export interface VoiceLinkEvents {
  /** The connection is gone and will not come back. */
  ended: [VoiceLinkEnd];
  /** A speaker's audio could not be recovered. */
  speakerLost: [userId: string];
  /** A recovery step ran (re-subscribe, DAVE passthrough, re-initialisation or rejoin), for logs and metrics. */
  recovery: [userId: string, step: string];
  /** Something members should know, in plain words (posted once per kind per meeting). */
  notice: [text: string];
}

/** What Parley tells the channel when DAVE recovery needed a rejoin, and when even that did not help. */
export const VOICE_NOTICES = {
  rejoined:
    "Parley lost the keys of this call's end-to-end encryption (Discord's DAVE) and reconnected to the voice channel to get them back. Some seconds of speech may be missing from the captions.",
  gaveUp:
    'Parley cannot decrypt the audio in this voice channel, even after reconnecting, so speech is not being captioned. Try switching the voice channel\'s region (Edit Channel → Region Override), or /end and /join again.',
} as const;

/** Thrown when the voice connection does not become ready. */
export class VoiceJoinError extends Error {
  override name = 'VoiceJoinError';
}

/** One guild's voice connection and its receive subscriptions. */
/** On every transition to Ready (the first and each reconnect): a large UDP receive buffer, and the transport key as a `KeyObject`. */
function tuneReadyConnection(connection: VoiceConnection, logger: Logger): void {
  enlargeVoiceReceiveBuffer(connection, logger);
  useKeyObjectForTransport(connection, logger);
}

export class VoiceLink extends EventEmitter<VoiceLinkEvents> {
  readonly connection: VoiceConnection;
  readonly receiver: SpeakerReceiver;
  readonly #logger: Logger;
  readonly #guard: DaveGuard;
  readonly #told = new Set<keyof typeof VOICE_NOTICES>();
  #leaving = false;
  #ended = false;

  private constructor(connection: VoiceConnection, guard: DaveGuard, options: VoiceLinkOptions) {
    super();
    this.connection = connection;
    this.#guard = guard;
    this.#logger = options.logger;
    this.receiver = new SpeakerReceiver(connection.receiver, {
      logger: options.logger,
      isAllowed: options.isAllowed,
      onPacket: options.onPacket,
    });
    this.receiver.on('resubscribed', (userId, reason) => this.emit('recovery', userId, `re-subscribed (${reason})`));
    this.receiver.on('repeatedFailure', (userId) => this.#guard.recover(userId));
    guard.on('recovery', (step, userId) => {
      this.emit('recovery', userId ?? '', `DAVE ${step}`);
      if (step !== 'rejoin') return;
      this.receiver.resetLost();
      this.#tell('rejoined');
    });
    guard.on('gaveUp', () => this.#tell('gaveUp'));
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
    // Guarded from the start: the DAVE session and its first messages arrive before the connection is ready.
    const guard = new DaveGuard(connection, { logger: options.logger, ...options.dave });
    try {
      await entersState(connection, VoiceConnectionStatus.Ready, options.readyTimeoutMs ?? 20_000);
    } catch {
      guard.stop();
      connection.destroy();
      throw new VoiceJoinError('Could not connect to the voice channel in time. Check that Parley can see and connect to it, then try /join again.');
    }
    tuneReadyConnection(connection, options.logger);
    return new VoiceLink(connection, guard, options);
  }

  /** Leaves the voice channel. Idempotent. */
  leave(): void {
    if (this.#leaving) return;
    this.#leaving = true;
    this.receiver.stop();
    if (this.connection.state.status !== VoiceConnectionStatus.Destroyed) this.connection.destroy();
    this.#end('left');
  }

  #tell(kind: keyof typeof VOICE_NOTICES): void {
    if (this.#told.has(kind)) return;
    this.#told.add(kind);
    this.emit('notice', VOICE_NOTICES[kind]);
  }

  #end(reason: VoiceLinkEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#guard.stop();
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
    // A reconnect brings a new UDP socket with the default buffer, and a new Session Description raw key bytes.
    if (newState.status === VoiceConnectionStatus.Ready) tuneReadyConnection(this.connection, this.#logger);
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
}
