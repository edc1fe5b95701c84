/**
 * Keeps every speaker of one voice connection through DAVE's key changes, and keeps the voice library's DAVE and
 * signalling errors inside this connection.
 *
 * What @discordjs/voice 0.19.2 does on its own (node_modules/@discordjs/voice/dist/index.js; measured against the
 * stand-in's DAVE v1, see README "DAVE"):
 * - an exception in `Networking.onWsBinary` (e.g. `processProposals` for an epoch the session lacks) is thrown
 *   from the WebSocket's message event and nothing catches it: the process dies;
 * - `DAVESession.decrypt` returns a frame unchanged while the session is not ready, so encrypted frames reach the
 *   app as if they were Opus; a failed decrypt returns null silently; failures are not counted at all while a
 *   transition is pending, so a lost execute-transition leaves a speaker silent for good;
 * - transition id 0 counts as "no transition" (`if (this.lastTransitionId)`), so that session is never recovered.
 *
 * So this guard wraps, per connection, the networking's WebSocket handlers (an exception there is logged and
 * healed, not thrown) and the DAVE session's `decrypt` (each frame classified; encrypted frames never pass as
 * Opus; frames without a DAVE trailer pass as the plain Opus they are, as Pycord#3202 does). A member whose
 * frames arrive but do not decrypt for `detectAfterFrames` frames (about 0.2 s of speech) starts a recovery in
 * steps: execute stale pending transitions and allow passthrough for the transition window (10 s); re-initialise
 * the DAVE session, which re-sends the key package and asks the voice gateway (op 31) to re-add us, at most once
 * per `reinitCooldownMs`; after `maxReinits` re-initialisations without a decrypted frame, rejoin the channel.
 *
 * The library internals used here (`Networking.onWsBinary/onWsPacket`, `DAVESession.decrypt`,
 * `pendingTransitions`, `reinitializing`) are those of the pinned 0.19.x line.
 */
import { EventEmitter } from 'node:events';
import { VoiceConnectionStatus, type VoiceConnection, type VoiceConnectionState } from '@discordjs/voice';
import type { Logger } from '../log.ts';
import { isDaveProtocolFrame, isSilenceFrame } from './dave-frames.ts';

/** Process-wide totals for /metrics. They only grow. */
export const voiceTotals = {
  /** Frames that arrived but could not be decrypted, or were still encrypted, and were skipped. */
  undecryptableFrames: 0,
  /** Frames sent without DAVE inside an encrypted call, passed on as the plain Opus they are. */
  unencryptedFrames: 0,
  /** Recovery steps run (passthrough, re-initialisation, rejoin). */
  recoveries: 0,
  /** Exceptions from the voice library's signalling handlers that were contained instead of ending the process. */
  containedErrors: 0,
};

/** A recovery step, in escalation order. */
export type DaveRecoveryStep = 'passthrough' | 'reinit' | 'rejoin';

/** Options of a {@link DaveGuard}. */
export interface DaveGuardOptions {
  logger: Logger;
  /** Undecryptable frames in a row from one member before recovery starts. Default 10 (0.2 s of speech). */
  detectAfterFrames?: number;
  /** Least time between two DAVE re-initialisations, ms (no reset storm). Default 2,000. */
  reinitCooldownMs?: number;
  /** Re-initialisations without a decrypted frame before rejoining. Default 2. */
  maxReinits?: number;
  /**
   * How long a new or re-initialised DAVE session may wait for its welcome before frames it cannot read yet count
   * as a fault, ms; also how long a transition may stay pending. Default 1,000 (a welcome takes one commit round
   * trip through the voice gateway, which executes a transition after about a second at most).
   */
  welcomeGraceMs?: number;
}

/** Typed events of a {@link DaveGuard}. */
export interface DaveGuardEvents {
  /** A recovery step ran, because of `userId`'s frames (or of a contained error, with userId null). */
  recovery: [step: DaveRecoveryStep, userId: string | null];
  /** Frames decrypt again after a recovery; `ms` since the first undecryptable frame. */
  recovered: [ms: number];
  /** Re-initialisations after a rejoin did not help either: nothing more is tried until frames decrypt again. */
  gaveUp: [];
}

/** @discordjs/voice 0.19 `DAVESession` members used here. */
interface LibDaveSession {
  protocolVersion: number;
  lastTransitionId?: number | undefined;
  reinitializing: boolean;
  pendingTransitions: Map<number, number>;
  session?: { epoch: bigint | null; getUserIds(): string[]; setPassthroughMode(on: boolean, expirySeconds?: number): void } | undefined;
  decrypt(packet: Buffer, userId: string): Buffer | null;
  executeTransition(transitionId: number): boolean;
  recoverFromInvalidTransition(transitionId: number): void;
}

/** @discordjs/voice 0.19 `Networking` members used here. */
interface LibNetworking extends EventEmitter {
  state: { code: number; ws?: LibVoiceWebSocket; dave?: LibDaveSession | undefined };
  onWsBinary: (message: { op: number; payload: Buffer }) => void;
  onWsPacket: (packet: { op: number; d: unknown }) => void;
}

interface LibVoiceWebSocket extends EventEmitter {
  sendPacket(packet: { op: number; d: unknown }): void;
  ws?: { close(code?: number, reason?: string): void };
}

/** One stretch of undecryptable frames, from the first to the next decrypted one. */
interface Episode {
  startedAt: number;
  reinits: number;
  lastReinitAt: number;
  passthrough: boolean;
  rejoined: boolean;
  gaveUp: boolean;
}

function newEpisode(now: number): Episode {
  return { startedAt: now, reinits: 0, lastReinitAt: -Infinity, passthrough: false, rejoined: false, gaveUp: false };
}

/** Transition window of the DAVE protocol: passthrough allowed this long, s (protocol.md "Passthrough Mode"). */
const TRANSITION_WINDOW_S = 10;
/** Close code that makes @discordjs/voice drop the session and rejoin (not 4014/4015, not < 4000). */
const REJOIN_CLOSE_CODE = 4000;

/** One voice connection's DAVE watchdog. */
export class DaveGuard extends EventEmitter<DaveGuardEvents> {
  readonly #logger: Logger;
  readonly #detect: number;
  readonly #cooldownMs: number;
  readonly #maxReinits: number;
  readonly #welcomeGraceMs: number;
  /** When the current DAVE session started or was last re-initialised (it has no welcome before). */
  #sessionStartedAt = 0;
  readonly #networkings = new WeakSet<object>();
  readonly #sessions = new WeakSet<object>();
  /** Undecryptable frames in a row, per member. */
  readonly #failing = new Map<string, number>();
  #networking: LibNetworking | undefined;
  #episode: Episode | undefined;
  #stopped = false;

  constructor(connection: VoiceConnection, options: DaveGuardOptions) {
    super();
    this.#logger = options.logger;
    this.#detect = options.detectAfterFrames ?? 10;
    this.#cooldownMs = options.reinitCooldownMs ?? 2_000;
    this.#maxReinits = options.maxReinits ?? 2;
    this.#welcomeGraceMs = options.welcomeGraceMs ?? 1_000;
    connection.on('stateChange', (_old, state) => this.#onConnectionState(state));
    this.#onConnectionState(connection.state);
  }

  /**
   * Runs the next recovery step for `userId` (the speaker receiver saw their stream keep failing): a DAVE
   * re-initialisation, or a rejoin once those are used up.
   */
  recover(userId: string): void {
    this.#escalate(userId, true);
  }

  /** Stops healing (the connection is being left). */
  stop(): void {
    this.#stopped = true;
  }

  #onConnectionState(state: VoiceConnectionState): void {
    if (state.status === VoiceConnectionStatus.Destroyed || state.status === VoiceConnectionStatus.Disconnected) return;
    const networking = Reflect.get(state, 'networking') as LibNetworking | undefined;
    if (!networking || this.#networkings.has(networking)) return;
    this.#networkings.add(networking);
    this.#networking = networking;
    this.#guardHandlers(networking);
    networking.on('stateChange', (_old: unknown, next: LibNetworking['state']) => this.#onNetworkingState(networking, next));
    networking.on('transitioned', (transitionId: number) => {
      const dave = networking.state.dave;
      this.#logger.debug({ transitionId, epoch: dave?.session?.epoch?.toString(), members: dave?.session?.getUserIds() }, 'DAVE transition executed');
    });
    this.#onNetworkingState(networking, networking.state);
  }

  #onNetworkingState(networking: LibNetworking, state: LibNetworking['state']): void {
    const dave = state.dave;
    if (dave && !this.#sessions.has(dave)) {
      this.#sessions.add(dave);
      this.#sessionStartedAt = Date.now();
      this.#guardDecrypt(dave);
      this.#logger.debug({ protocolVersion: dave.protocolVersion }, 'DAVE session started');
      // Op 16: the voice server's version, logged as Craig does, to tell server-side changes from ours.
      state.ws?.sendPacket({ op: 16, d: {} });
    }
    if (networking === this.#networking && state.code === 6) this.#failing.clear();
  }

  /** Replaces the networking's WebSocket handlers with ones that contain exceptions. */
  #guardHandlers(networking: LibNetworking): void {
    const ws = networking.state.ws;
    const binary = networking.onWsBinary;
    const packet = networking.onWsPacket;
    const guardedBinary = (message: { op: number; payload: Buffer }): void => {
      try {
        binary(message);
      } catch (error) {
        this.#contain(error, `binary op ${message.op}`);
      }
    };
    const guardedPacket = (message: { op: number; d: unknown }): void => {
      if (message.op === 16) this.#logger.debug({ version: message.d }, 'voice server version');
      try {
        packet(message);
      } catch (error) {
        this.#contain(error, `op ${message.op}`);
      }
    };
    // Later WebSockets (resume) are created with these same properties, and the library removes them by them.
    networking.onWsBinary = guardedBinary;
    networking.onWsPacket = guardedPacket;
    if (ws) {
      ws.off('binary', binary);
      ws.on('binary', guardedBinary);
      ws.off('packet', packet);
      ws.on('packet', guardedPacket);
    }
  }

  #contain(error: unknown, where: string): void {
    voiceTotals.containedErrors += 1;
    this.#logger.warn({ err: error instanceof Error ? error.message : String(error), where }, 'voice library error contained; re-initialising DAVE');
    this.#escalate(null, true);
  }

  /** Wraps `decrypt` so each frame is classified and counted, and nothing encrypted passes as Opus. */
  #guardDecrypt(dave: LibDaveSession): void {
    const original = dave.decrypt.bind(dave);
    dave.decrypt = (packet: Buffer, userId: string): Buffer | null => {
      let out: Buffer | null;
      try {
        out = original(packet, userId);
      } catch {
        out = null;
      }
      if (out === null) {
        if (!isDaveProtocolFrame(packet) && !isSilenceFrame(packet)) {
          // Sent without DAVE inside an encrypted call (Pycord#3201): it is plain Opus.
          voiceTotals.unencryptedFrames += 1;
          return packet;
        }
        this.#failed(userId, false);
        return null;
      }
      if (out === packet && isDaveProtocolFrame(packet)) {
        // The library hands the frame on unchanged when its session is not ready: still encrypted.
        this.#failed(userId, true);
        return null;
      }
      this.#succeeded(userId);
      return out;
    };
  }

  /** A frame of `userId` could not be read; `awaitingWelcome` when our session has no group key yet. */
  #failed(userId: string, awaitingWelcome: boolean): void {
    voiceTotals.undecryptableFrames += 1;
    const count = (this.#failing.get(userId) ?? 0) + 1;
    this.#failing.set(userId, count);
    const now = Date.now();
    const episode = (this.#episode ??= newEpisode(now));
    if (count < this.#detect) return;
    // While our session waits for its welcome, re-initialises, or holds a transition not yet executed, frames it
    // cannot read are expected: waiting is the recovery, for a bounded time.
    const dave = this.#networking?.state.dave;
    const waiting = awaitingWelcome || dave?.reinitializing === true || (dave?.pendingTransitions.size ?? 0) > 0;
    if (waiting && now - Math.max(this.#sessionStartedAt, episode.startedAt) < this.#welcomeGraceMs) return;
    this.#escalate(userId, false);
  }

  #succeeded(userId: string): void {
    if (this.#failing.size === 0) return;
    this.#failing.delete(userId);
    const episode = this.#episode;
    if (!episode || this.#failing.size > 0) return;
    this.#episode = undefined;
    const ms = Date.now() - episode.startedAt;
    if (episode.reinits > 0 || episode.rejoined) this.#logger.info({ ms, reinits: episode.reinits }, 'DAVE decryption recovered');
    this.emit('recovered', ms);
  }

  /** Runs the next recovery step for this episode. */
  #escalate(userId: string | null, fromError: boolean): void {
    const dave = this.#networking?.state.dave;
    if (this.#stopped || !dave) return;
    const now = Date.now();
    const episode = (this.#episode ??= newEpisode(now));
    if (!episode.passthrough && !fromError) {
      episode.passthrough = true;
      this.#passthrough(dave, userId);
    }
    if (now - episode.lastReinitAt < this.#cooldownMs) return;
    if (episode.reinits >= this.#maxReinits) {
      if (!episode.rejoined) this.#rejoin(userId);
      else if (!episode.gaveUp) {
        episode.gaveUp = true;
        this.#logger.warn({ userId }, 'DAVE recovery exhausted: re-initialising and rejoining did not help');
        this.emit('gaveUp');
      }
      return;
    }
    episode.reinits += 1;
    episode.lastReinitAt = now;
    this.#sessionStartedAt = now;
    this.#step('reinit', userId, { lastTransitionId: dave.lastTransitionId, epoch: dave.session?.epoch?.toString() });
    // A previous re-initialisation that never got its welcome would otherwise block this one.
    dave.reinitializing = false;
    dave.recoverFromInvalidTransition(dave.lastTransitionId ?? 0);
  }

  /** Executes transitions whose execute message never came, and allows passthrough for the transition window. */
  #passthrough(dave: LibDaveSession, userId: string | null): void {
    const stale = [...dave.pendingTransitions.keys()];
    for (const transitionId of stale) dave.executeTransition(transitionId);
    dave.session?.setPassthroughMode(true, TRANSITION_WINDOW_S);
    this.#step('passthrough', userId, { staleTransitions: stale });
  }

  #rejoin(userId: string | null): void {
    const episode = this.#episode;
    if (episode) {
      episode.rejoined = true;
      episode.reinits = 0;
      episode.lastReinitAt = Date.now();
    }
    this.#failing.clear();
    this.#step('rejoin', userId, {});
    this.#networking?.state.ws?.ws?.close(REJOIN_CLOSE_CODE, 'Parley: DAVE recovery');
  }

  #step(step: DaveRecoveryStep, userId: string | null, detail: Record<string, unknown>): void {
    voiceTotals.recoveries += 1;
    this.#logger.debug({ step, userId, ...detail }, 'DAVE recovery step');
    this.emit('recovery', step, userId);
  }
}
