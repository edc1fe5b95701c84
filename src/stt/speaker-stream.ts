/**
 * One speaker's speech-to-text, managed for cost and latency: a Streaming v3 session opens when the speaker
 * starts talking, audio is queued while it connects (nothing is lost), the session is closed with `Terminate`
 * after `idleCloseMs` without speech (AssemblyAI bills every second a session is open), it is rotated before
 * `expires_at`, and after a drop it reconnects and resends the audio no final transcript covered.
 *
 * Every new session, first or after a failure, goes through one {@link ReconnectPolicy} (backoff with jitter and
 * a cap, and a circuit breaker) and takes a slot of the process-wide {@link SessionBudget}. A connection is
 * declared dead when a WebSocket ping goes unanswered (see `StreamingSession`) or when no server message arrives
 * for `watchdogMs` while speech is being sent; it is then handled as a drop.
 *
 * States: `idle` (no session) → `connecting` (waiting for the backoff or the budget, then opening) → `open` →
 * `terminating` → `idle`; `paused` while the circuit breaker is open; `failed` after a fatal refusal.
 */
import { EventEmitter } from 'node:events';
import type { TimerHandle } from '../clock.ts';
import type { Speaker } from '../captions/caption.ts';
import { PCM_FRAME_MS, type PcmFrame } from '../audio/format.ts';
import { classifyClose, type CloseClassification } from './assemblyai/close-codes.ts';
import { SttConnectError, isU3Model, type StreamingSession } from './assemblyai/streaming-session.ts';
import { LiveSession } from './live-session.ts';
import { ReconnectPolicy } from './reconnect-policy.ts';
import { AudioQueue } from './audio-queue.ts';
import type { LlmTurnResult, SpeakerStreamEvents, SpeakerStreamOptions, SpeakerStreamState, SpeakerStreamStats } from './speaker-stream-types.ts';

export type { LlmTurnResult, SpeakerStreamEvents, SpeakerStreamOptions, SpeakerStreamState, SpeakerStreamStats } from './speaker-stream-types.ts';

/**
 * Where a speaker's STT stands, with the data that state owns (the discord.js voice shape): only `open` and
 * `terminating` hold a session, and {@link SpeakerStream.#setState} disposes a session its next state drops.
 */
type StreamState =
  | { status: 'idle' }
  | { status: 'connecting' }
  | { status: 'open'; live: LiveSession }
  | { status: 'terminating'; live: LiveSession }
  | { status: 'paused' }
  | { status: 'failed' };

/** Sessions `end()` may open after the one it terminates dropped with speech unconfirmed. */
const MAX_END_RETRIES = 1;

type Resolved = Required<Omit<SpeakerStreamOptions, 'maxAudioAheadMs' | 'reconnect'>> & { maxAudioAheadMs: number | null };

/** Manages one speaker's STT sessions. */
/**
 * How long past the idle close a session stays open for in-stream LLM answers still awaited, ms. A model answers a
 * short translation prompt in about a second; the bound keeps a lost answer from billing the session open for long.
 */
export const LLM_ANSWER_WAIT_MS = 10_000;

export class SpeakerStream extends EventEmitter<SpeakerStreamEvents> {
  readonly speaker: Speaker;
  readonly #o: Resolved;
  readonly #policy: ReconnectPolicy;
  #state: StreamState = { status: 'idle' };
  readonly #queue: AudioQueue;
  #sessionSeq = 0;
  /** Wait before the next connection attempt, ms, set by the reconnect policy after a failure. */
  #retryDelayMs = 0;
  #idleTimer: TimerHandle | null = null;
  /** Clock time of the latest speech frame, ms; the idle timer checks it when it fires. */
  #lastSpeechAt = 0;
  #terminateWhenDrained = false;
  #ending = false;
  /** Sessions opened after a drop while ending (at most {@link MAX_END_RETRIES}). */
  #endRetries = 0;
  #endWaiters: Array<() => void> = [];
  #dropNoticeSent = false;
  readonly #abort = new AbortController();
  readonly #stats: SpeakerStreamStats = {
    sessionsOpened: 0,
    reconnects: 0,
    sessionOpenMs: 0,
    framesSent: 0,
    framesResent: 0,
    framesDropped: 0,
    framesNotKept: 0,
    finalTurns: 0,
    breakerOpened: 0,
  };

  constructor(options: SpeakerStreamOptions) {
    super();
    this.speaker = options.speaker;
    const { reconnect, ...rest } = options;
    this.#o = {
      rotateBeforeExpiryMs: 60_000,
      maxQueuedMs: 60_000,
      maxResendMs: 60_000,
      watchdogMs: 30_000,
      terminateTimeoutMs: 5_000,
      languageCodes: () => [],
      llmGateway: () => undefined,
      ...rest,
      maxAudioAheadMs: options.maxAudioAheadMs === undefined ? 1_000 : options.maxAudioAheadMs,
    };
    this.#policy = new ReconnectPolicy(reconnect);
    this.#queue = new AudioQueue(Math.ceil(this.#o.maxQueuedMs / PCM_FRAME_MS));
  }

  get state(): SpeakerStreamState {
    return this.#state.status;
  }

  /** The open or terminating session, or null. */
  get #live(): LiveSession | null {
    return 'live' in this.#state ? this.#state.live : null;
  }

  get stats(): SpeakerStreamStats {
    const live = this.#live;
    return {
      ...this.#stats,
      sessionOpenMs: this.#stats.sessionOpenMs + (live === null ? 0 : this.#o.clock.now() - live.dialedAt),
      framesNotKept: this.#stats.framesNotKept + (live === null ? 0 : live.timeline.discardedFrames),
    };
  }

  /** Frames held in memory: waiting to be sent, or sent and kept for a resend until a final covers them. */
  get bufferedFrames(): number {
    return this.#queue.frames + (this.#live?.timeline.unconfirmedCount ?? 0);
  }

  /**
   * Takes one PCM frame of the speaker's audio. Opens a session on speech if none is open.
   */
  pushFrame(frame: PcmFrame): void {
    if (this.#ending || this.#state.status === 'failed') {
      this.#stats.framesDropped++;
      return;
    }
    if (this.#state.status === 'paused') {
      // The breaker's trial waits for new speech after the cooldown; until then nothing is kept.
      if (!frame.speech || this.#policy.isOpen(this.#o.clock.now())) {
        this.#stats.framesDropped++;
        return;
      }
      this.#setState({ status: 'idle' });
    }
    if (frame.speech) this.#noteSpeech();
    if (this.#state.status === 'idle') {
      if (!frame.speech) return; // silence with no session open: nothing to transcribe
      this.#enqueue(frame);
      void this.#connect();
      return;
    }
    this.#enqueue(frame);
    this.#drain();
  }

  /** The speaker has stopped (the silence fill after their last packet is over): end any open turn now. */
  endOfSpeech(): void {
    if (this.#state.status === 'idle' || this.#state.status === 'failed' || this.#state.status === 'paused') return;
    this.#queue.push({ kind: 'forceEndpoint' });
    this.#drain();
  }

  /**
   * Ends the open session cleanly (`Terminate` once queued audio is sent, as before expiry) so the next one opens
   * with settings that `UpdateConfiguration` cannot change, such as `llm_gateway`. Nothing is lost: audio that
   * arrives meanwhile queues for the next session. No effect without an open session.
   */
  renewSession(): void {
    if (this.#state.status !== 'open') return;
    this.#o.logger.info({ speakerId: this.speaker.id }, 'renewing the AssemblyAI session for new settings');
    this.#terminateWhenDrained = true;
    this.#drain();
  }

  /** Sends new keyterms to the open session (`UpdateConfiguration`); later sessions read them when they open. */
  updateKeyterms(keyterms: readonly string[]): void {
    this.#live?.session.sendMessage({ type: 'UpdateConfiguration', keyterms_prompt: [...keyterms] });
  }

  /**
   * Sends what is queued (as pacing allows), then `Terminate`s the session and resolves once it has closed and
   * its last final transcript has been emitted. Resolves at once when no session is open or connecting.
   *
   * Bounded: a session that does not answer `Terminate` within `terminateTimeoutMs` is dropped; after a drop,
   * at most one more session ({@link MAX_END_RETRIES}) is opened, and only to resend speech no final covered;
   * if that one fails too, its audio is counted in `framesDropped` and `end()` resolves. So `end()` takes at most
   * two Terminate deadlines plus one connection attempt (its backoff, the new-session budget's wait, and the
   * connect timeout) after the queued audio is sent.
   */
  end(): Promise<void> {
    this.#ending = true;
    this.#clearIdleTimer();
    if (this.#state.status === 'idle' || this.#state.status === 'failed' || this.#state.status === 'paused') {
      this.#dispose();
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => this.#endWaiters.push(resolve));
    this.#terminateWhenDrained = true;
    this.#drain();
    return done;
  }

  /** Drops every queued PCM frame without sending it (the member opted out); `end()` then terminates at once. */
  discardQueued(): void {
    this.#queue.clear();
  }

  /** Drops everything at once (no Terminate): for tests of crashes and for process exit after a timeout. */
  destroy(): void {
    this.#ending = true;
    this.#live?.session.destroy();
    this.#dispose();
  }

  /** Moves to `next`: a session the new state does not hold is disposed (its timers cleared); emits `state`. */
  #setState(next: StreamState): void {
    const previous = this.#state;
    this.#state = next;
    const previousLive = 'live' in previous ? previous.live : null;
    if (previousLive !== null && previousLive !== ('live' in next ? next.live : null)) previousLive.dispose();
    if (previous.status !== next.status) this.emit('state', next.status);
  }

  #enqueue(frame: PcmFrame, front = false): void {
    const dropped = this.#queue.push({ kind: 'audio', frame }, front);
    if (dropped > 0) {
      this.#stats.framesDropped += dropped;
      if (!this.#dropNoticeSent) {
        this.#dropNoticeSent = true;
        this.#o.logger.warn({ speakerId: this.speaker.id, dropped }, 'STT queue full; oldest audio dropped');
        this.emit('notice', {
          level: 'warning',
          text: `Speech-to-text is backed up for ${this.speaker.name}: more than ${Math.round(this.#o.maxQueuedMs / 1000)} s of their audio is waiting, so the oldest is being dropped and will not be captioned.`,
        });
      }
    }
  }

  /**
   * Opens a session: waits the reconnect policy's delay, takes a budget slot, connects. Refusals loop back here
   * through {@link #afterFailure}; the loop ends with a session, a fatal refusal, an open breaker, or abort.
   */
  async #connect(): Promise<void> {
    this.#setState({ status: 'connecting' });
    const signal = this.#abort.signal;
    for (;;) {
      if (this.#retryDelayMs > 0) {
        await this.#sleep(this.#retryDelayMs);
        this.#retryDelayMs = 0;
      }
      if (signal.aborted) return;
      try {
        await this.#o.provider.budget.acquire(signal);
      } catch {
        return; // aborted while waiting for a slot
      }
      let session: StreamingSession;
      const dialedAt = this.#o.clock.now();
      const llmGateway = this.#o.llmGateway();
      try {
        session = await this.#o.provider.open(this.#o.keyterms(), this.#o.languageCodes(), { speakerId: this.speaker.id }, llmGateway);
      } catch (error) {
        if (signal.aborted) return;
        const close = error instanceof SttConnectError ? error.close : classifyClose(1006, error instanceof Error ? error.message : String(error));
        if (!this.#afterFailure(close, 'could not open an AssemblyAI session')) return;
        continue;
      }
      if (signal.aborted) {
        session.destroy();
        return;
      }
      this.#attach(session, dialedAt, llmGateway !== undefined);
      return;
    }
  }

  /**
   * Applies the reconnect policy to a refusal or a drop. Returns true when another attempt follows (after
   * `#retryDelayMs`), false when the speaker stopped: a fatal refusal, or the circuit breaker opened.
   */
  #afterFailure(close: CloseClassification, what: string): boolean {
    const log = { speakerId: this.speaker.id, code: close.code, reason: close.serverReason || close.reason };
    if (close.action === 'fatal') {
      this.#o.logger.error(log, close.reason);
      this.#fail(close);
      return false;
    }
    if (close.action === 'limit') {
      this.#retryDelayMs = this.#policy.onLimited();
      this.#o.logger.warn({ ...log, retryInMs: this.#retryDelayMs }, `${what}: the account's session limit was reached`);
      this.emit('limited', close);
      return true;
    }
    const outcome = this.#policy.onFailure(this.#o.clock.now());
    if (outcome.kind === 'retry') {
      this.#retryDelayMs = outcome.delayMs;
      this.#o.logger.warn({ ...log, failures: this.#policy.failures, retryInMs: outcome.delayMs }, what);
      return true;
    }
    this.#pause(close, outcome.failures, outcome.cooldownMs);
    return false;
  }

  #pause(close: CloseClassification, failures: number, cooldownMs: number): void {
    this.#setState({ status: 'paused' });
    this.#stats.breakerOpened++;
    this.#stats.framesDropped += this.#queue.clear();
    this.#o.logger.warn({ speakerId: this.speaker.id, code: close.code, reason: close.serverReason || close.reason, failures, cooldownMs }, 'AssemblyAI keeps failing; pausing this speaker');
    const name = this.speaker.name;
    this.emit('notice', {
      level: 'error',
      text: `Captions for ${name} are paused: ${close.reason} (${failures} times in a row). Parley will try again when ${name} next speaks, in ${Math.round(cooldownMs / 1000)} s at the earliest.`,
    });
    this.#resolveEnd();
  }

  #fail(close: CloseClassification): void {
    this.#setState({ status: 'failed' });
    this.#stats.framesDropped += this.#queue.clear();
    this.emit('fatal', close);
    this.#resolveEnd();
  }

  /** Waits `ms` on the pipeline's clock; returns early when the stream is disposed. */
  #sleep(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#o.clock.clearTimeout(handle);
        resolve();
      };
      const handle = this.#o.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #attach(session: StreamingSession, dialedAt: number, llmInStream: boolean): void {
    this.#sessionSeq++;
    this.#stats.sessionsOpened++;
    if (this.#sessionSeq > 1) this.#stats.reconnects++;
    const live: LiveSession = new LiveSession({
      session,
      speaker: this.speaker,
      sessionSeq: this.#sessionSeq,
      clock: this.#o.clock,
      dialedAt,
      maxResendFrames: Math.ceil(this.#o.maxResendMs / PCM_FRAME_MS),
      awaitFormatted: !isU3Model(this.#o.provider.speechModel),
      maxAudioAheadMs: this.#o.maxAudioAheadMs,
      watchdogMs: this.#o.watchdogMs,
      rotateBeforeExpiryMs: this.#o.rotateBeforeExpiryMs,
      terminateTimeoutMs: this.#o.terminateTimeoutMs,
      onCaption: (event) => {
        if (event.kind === 'final') this.#stats.finalTurns++;
        this.emit('caption', event);
      },
      onRotate: () => this.#rotate(),
      onDrainDue: () => this.#drain(),
      onClose: (close) => this.#onClose(live, close),
      ...(llmInStream && {
        onLlmResult: (result: LlmTurnResult) => {
          this.emit('llmResult', result);
          this.#closeIfIdleAndAnswered(live);
        },
      }),
    });
    this.#setState({ status: 'open', live });
    this.#o.logger.debug({ speakerId: this.speaker.id, sessionId: session.id }, 'AssemblyAI session open');
    if (!this.#ending) {
      // A fresh session gets a full idle window from now.
      this.#clearIdleTimer();
      this.#noteSpeech();
    }
    this.#drain();
  }

  #drain(): void {
    const live = this.#live;
    if (this.#state.status !== 'open' || live === null) return;
    const { framesSent, done } = live.send(this.#queue);
    this.#stats.framesSent += framesSent;
    if (!done) return;
    this.#dropNoticeSent = false;
    if (this.#terminateWhenDrained) void this.#terminate();
  }

  async #terminate(): Promise<void> {
    const live = this.#live;
    if (this.#state.status !== 'open' || live === null) return;
    this.#terminateWhenDrained = false;
    this.#setState({ status: 'terminating', live });
    this.#clearIdleTimer();
    await live.terminate();
  }

  #rotate(): void {
    if (this.#state.status !== 'open') return;
    this.#o.logger.info({ speakerId: this.speaker.id }, 'rotating AssemblyAI session before it expires');
    // Terminate flushes the open turn; frames that arrive meanwhile queue and open the next session.
    this.#terminateWhenDrained = true;
    this.#drain();
  }

  /**
   * Records speech. The idle timer is armed once and, when it fires, re-armed for whatever is left of the window:
   * speech frames come every 50 ms, and resetting a timer for each of them would be needless work.
   */
  #noteSpeech(): void {
    this.#lastSpeechAt = this.#o.clock.now();
    if (this.#idleTimer === null) this.#armIdleTimer(this.#idleCloseMs());
  }

  #armIdleTimer(ms: number): void {
    this.#idleTimer = this.#o.clock.setTimeout(() => {
      this.#idleTimer = null;
      const remainingMs = this.#lastSpeechAt + this.#idleCloseMs() - this.#o.clock.now();
      if (remainingMs > 0) {
        this.#armIdleTimer(remainingMs);
        return;
      }
      if (this.#state.status !== 'open') return;
      // In-stream translation: a final's LLM answer comes on this socket, after the final; closing now would lose
      // it. Hold the session open until the last answer or LLM_ANSWER_WAIT_MS past the idle close, whichever first.
      const holdMs = this.#lastSpeechAt + this.#idleCloseMs() + LLM_ANSWER_WAIT_MS - this.#o.clock.now();
      if (this.#state.live.awaitingLlmAnswers > 0 && holdMs > 0) {
        this.#armIdleTimer(holdMs);
        return;
      }
      this.#terminateWhenDrained = true;
      this.#drain();
    }, ms);
  }

  /** After an LLM answer: closes a session held open only for its answers once none is awaited and speech has not resumed. */
  #closeIfIdleAndAnswered(live: LiveSession): void {
    const state = this.#state;
    if (state.status !== 'open' || state.live !== live || live.awaitingLlmAnswers > 0 || this.#ending) return;
    if (this.#o.clock.now() - this.#lastSpeechAt < this.#idleCloseMs()) return;
    this.#clearIdleTimer();
    this.#terminateWhenDrained = true;
    this.#drain();
  }

  #idleCloseMs(): number {
    return typeof this.#o.idleCloseMs === 'function' ? this.#o.idleCloseMs() : this.#o.idleCloseMs;
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer !== null) this.#o.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #onClose(live: LiveSession, close: CloseClassification): void {
    if (live !== this.#live) return;
    const { clean, unconfirmed, openMs, framesNotKept } = live.end(close);
    this.#setState({ status: 'idle' }); // the session is gone; what comes next is decided below
    this.#stats.sessionOpenMs += openMs;
    this.#stats.framesNotKept += framesNotKept;
    if (framesNotKept > 0) {
      // Sent audio no final covered for more than maxResendMs (music, noise): fine unless the session dropped.
      const log = { speakerId: this.speaker.id, framesNotKept, resendBoundMs: this.#o.maxResendMs };
      if (clean) this.#o.logger.info(log, 'audio without words was not kept for a resend');
      else this.#o.logger.warn(log, 'session dropped; audio older than the resend bound cannot be resent');
    }
    // Only time proves a session healthy: a server that answers and then closes must not reset the backoff.
    if (clean || openMs >= this.#policy.healthyAfterMs) this.#policy.onHealthy();
    if (clean) {
      this.#setState({ status: 'idle' });
      // Speech that arrived while the session was closing (idle close, rotation, end) still needs a session.
      if (this.#queue.hasSpeech()) {
        if (this.#ending) this.#terminateWhenDrained = true;
        void this.#connect();
        return;
      }
      this.#queue.clear();
      this.#resolveEnd();
      return;
    }
    if (this.#ending) {
      // `/end`: one more session at most, and only to resend speech no final covered; a server that drops or never
      // answers Terminate must not keep the meeting's end (and its billing) going session after session.
      const speechLeft = unconfirmed.some((f) => f.speech) || this.#queue.hasSpeech();
      if (!speechLeft || this.#endRetries >= MAX_END_RETRIES) {
        const lost = unconfirmed.length + this.#queue.clear();
        this.#stats.framesDropped += lost;
        if (speechLeft) this.#o.logger.warn({ speakerId: this.speaker.id, code: close.code, framesLost: lost }, 'session dropped while ending; its last audio is not transcribed');
        this.#resolveEnd();
        return;
      }
      this.#endRetries++;
      this.#terminateWhenDrained = true;
    }
    // Dropped mid-session: resend what no final transcript covered, in front of what is queued.
    for (let i = unconfirmed.length - 1; i >= 0; i--) {
      const frame = unconfirmed[i];
      if (frame !== undefined) this.#enqueue(frame, true);
    }
    this.#stats.framesResent += unconfirmed.length;
    if (close.action === 'rotate' && openMs >= this.#policy.healthyAfterMs) {
      this.#o.logger.info({ speakerId: this.speaker.id, code: close.code }, 'AssemblyAI session expired; opening the next one');
    } else if (!this.#afterFailure(close, 'AssemblyAI session dropped; reconnecting')) {
      return;
    }
    if (!this.#queue.hasSpeech() && !this.#ending) {
      // Nothing to send: the next session opens on the speaker's next speech, after the policy's delay.
      this.#queue.clear();
      this.#setState({ status: 'idle' });
      return;
    }
    void this.#connect();
  }

  #resolveEnd(): void {
    if (!this.#ending) return;
    const waiters = this.#endWaiters;
    this.#endWaiters = [];
    this.#dispose();
    for (const resolve of waiters) resolve();
  }

  #dispose(): void {
    this.#abort.abort();
    this.#clearIdleTimer();
    this.#live?.dispose();
    this.#queue.clear();
  }
}
