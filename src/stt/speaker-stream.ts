/**
 * One speaker's speech-to-text, managed for cost and latency: a Streaming v3 session opens when the speaker
 * starts talking, audio is queued while it connects (nothing is lost), the session is closed with `Terminate`
 * after `idleCloseMs` without speech (AssemblyAI bills every second a session is open), it is rotated before
 * `expires_at`, and after a drop it reconnects with backoff and resends the audio no final transcript covered.
 *
 * States: `idle` (no session) → `connecting` → `open` → `terminating` → `idle`; `failed` after a fatal refusal.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionEvent, Notice, Speaker } from '../captions/caption.ts';
import { PCM_FRAME_MS, type PcmFrame } from '../audio/format.ts';
import type { CloseClassification } from './assemblyai/close-codes.ts';
import { SttConnectError, isU3Model, type StreamingSession } from './assemblyai/streaming-session.ts';
import { SessionTimeline } from './session-timeline.ts';
import { openWithRetry } from './connect.ts';
import { TurnTracker } from './turn-tracker.ts';
import { AudioQueue } from './audio-queue.ts';
import type { SttProvider } from './provider.ts';

/** Lifecycle state of a speaker's STT session. */
export type SpeakerStreamState = 'idle' | 'connecting' | 'open' | 'terminating' | 'failed';

/** Options for {@link SpeakerStream}. */
export interface SpeakerStreamOptions {
  speaker: Speaker;
  provider: SttProvider;
  clock: Clock;
  logger: Logger;
  /** The guild's keyterms at the time a session opens. */
  keyterms: () => readonly string[];
  /** Close the session after this long without speech, ms. */
  /** Close the session after this long without speech, ms; a function is asked each time (it can change). */
  idleCloseMs: number | (() => number);
  /** Rotate this long before `expires_at`, ms. Default 60,000. */
  rotateBeforeExpiryMs?: number;
  /** Most audio held for a speaker while no session can take it, ms; older audio is dropped and counted. Default 60,000. */
  maxQueuedMs?: number;
  /**
   * How far session audio may run ahead of the time since `Begin`, ms: AssemblyAI closes sessions fed faster than
   * real time (3007). Queued audio catches up within this allowance, and in the pauses between talk spurts.
   * The time since `Begin` is wall time (`performance.now()`), as AssemblyAI measures it, not the pipeline's clock:
   * replay's virtual clock lags wall time while the process is starved of CPU, and a `Begin` read during such a lag
   * would let audio run that much further ahead. `null` disables pacing (accelerated replay against a local
   * server). Default 1,000.
   */
  maxAudioAheadMs?: number | null;
  /** Extra wait after a 3009 (too many new sessions), ms. Default 5,000. */
  tooManySessionsBackoffMs?: number;
  /** Connection attempts after a failure before giving up until the speaker talks again. Default 6. */
  connectRetries?: number;
}

/** Typed events of a {@link SpeakerStream}. */
export interface SpeakerStreamEvents {
  caption: [CaptionEvent];
  notice: [Notice];
  state: [SpeakerStreamState];
  /** AssemblyAI refused us for good (bad key, no balance). */
  fatal: [CloseClassification];
}

/** Counters for one speaker's STT. */
export interface SpeakerStreamStats {
  sessionsOpened: number;
  reconnects: number;
  /** Wall time sessions were open, ms: what AssemblyAI bills. */
  sessionOpenMs: number;
  framesSent: number;
  framesResent: number;
  /** Frames dropped because the queue was full or STT was refused. */
  framesDropped: number;
  finalTurns: number;
}

/** Manages one speaker's STT sessions. */
export class SpeakerStream extends EventEmitter<SpeakerStreamEvents> {
  readonly speaker: Speaker;
  readonly #o: Required<Omit<SpeakerStreamOptions, 'maxAudioAheadMs'>> & { maxAudioAheadMs: number | null };
  #state: SpeakerStreamState = 'idle';
  #session: StreamingSession | null = null;
  #timeline = new SessionTimeline();
  #turns: TurnTracker | null = null;
  readonly #queue: AudioQueue;
  #sessionSeq = 0;
  #beginAt = 0;
  /** `performance.now()` at `Begin`, for pacing (see {@link SpeakerStreamOptions.maxAudioAheadMs}). */
  #beginWallAt = 0;
  #openedAt = 0;
  #terminationReceived = false;
  #idleTimer: TimerHandle | null = null;
  /** Clock time of the latest speech frame, ms; the idle timer checks it when it fires. */
  #lastSpeechAt = 0;
  #drainTimer: TimerHandle | null = null;
  #rotateTimer: TimerHandle | null = null;
  #terminateWhenDrained = false;
  #ending = false;
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
    finalTurns: 0,
  };

  constructor(options: SpeakerStreamOptions) {
    super();
    this.speaker = options.speaker;
    this.#o = {
      rotateBeforeExpiryMs: 60_000,
      maxQueuedMs: 60_000,
      tooManySessionsBackoffMs: 5_000,
      connectRetries: 6,
      ...options,
      maxAudioAheadMs: options.maxAudioAheadMs === undefined ? 1_000 : options.maxAudioAheadMs,
    };
    this.#queue = new AudioQueue(Math.ceil(this.#o.maxQueuedMs / PCM_FRAME_MS));
  }

  get state(): SpeakerStreamState {
    return this.#state;
  }

  get stats(): SpeakerStreamStats {
    const openNow = this.#session !== null && this.#openedAt > 0 ? this.#o.clock.now() - this.#openedAt : 0;
    return { ...this.#stats, sessionOpenMs: this.#stats.sessionOpenMs + openNow };
  }

  /** Frames held in memory: waiting to be sent, or sent and kept for a resend until a final covers them. */
  get bufferedFrames(): number {
    return this.#queue.frames + this.#timeline.unconfirmedCount;
  }

  /**
   * Takes one PCM frame of the speaker's audio. Opens a session on speech if none is open.
   */
  pushFrame(frame: PcmFrame): void {
    if (this.#ending || this.#state === 'failed') {
      this.#stats.framesDropped++;
      return;
    }
    if (frame.speech) this.#noteSpeech();
    if (this.#state === 'idle') {
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
    if (this.#state === 'idle' || this.#state === 'failed') return;
    this.#queue.push({ kind: 'forceEndpoint' });
    this.#drain();
  }

  /** Sends new keyterms to the open session (`UpdateConfiguration`); later sessions read them when they open. */
  updateKeyterms(keyterms: readonly string[]): void {
    this.#session?.sendMessage({ type: 'UpdateConfiguration', keyterms_prompt: [...keyterms] });
  }

  /**
   * Sends what is queued (as pacing allows), then `Terminate`s the session and resolves once it has closed and
   * its last final transcript has been emitted. Resolves at once when no session is open or connecting.
   */
  end(): Promise<void> {
    this.#ending = true;
    this.#clearIdleTimer();
    if (this.#state === 'idle' || this.#state === 'failed') {
      this.#dispose();
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => this.#endWaiters.push(resolve));
    this.#terminateWhenDrained = true;
    this.#drain();
    return done;
  }

  /** Drops everything at once (no Terminate): for tests of crashes and for process exit after a timeout. */
  destroy(): void {
    this.#ending = true;
    this.#session?.destroy();
    this.#dispose();
  }

  #setState(state: SpeakerStreamState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
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

  async #connect(): Promise<void> {
    this.#setState('connecting');
    this.#clearDrainTimer();
    let session: StreamingSession;
    try {
      session = await openWithRetry({
        open: () => this.#o.provider.open(this.#o.keyterms()),
        retries: this.#o.connectRetries,
        tooManySessionsBackoffMs: this.#o.tooManySessionsBackoffMs,
        signal: this.#abort.signal,
        logger: this.#o.logger,
        logContext: { speakerId: this.speaker.id },
      });
    } catch (error) {
      this.#onConnectFailed(error);
      return;
    }
    if (this.#abort.signal.aborted) {
      session.destroy();
      return;
    }
    this.#attach(session);
  }

  #onConnectFailed(error: unknown): void {
    if (this.#abort.signal.aborted) return;
    if (error instanceof SttConnectError && !error.retryable) {
      this.#fail(error.close);
      return;
    }
    const reason = error instanceof Error ? error.message : String(error);
    this.#setState('idle');
    this.emit('notice', {
      level: 'error',
      text: `Speech-to-text is unavailable for ${this.speaker.name} right now (${reason}). Their audio is held and Parley will try again when they next speak.`,
    });
    this.#resolveEnd();
  }

  #fail(close: CloseClassification): void {
    this.#setState('failed');
    this.#stats.framesDropped += this.#queue.clear();
    this.emit('fatal', close);
    this.#resolveEnd();
  }

  #attach(session: StreamingSession): void {
    this.#session = session;
    this.#sessionSeq++;
    this.#stats.sessionsOpened++;
    if (this.#sessionSeq > 1) this.#stats.reconnects++;
    this.#timeline = new SessionTimeline();
    const turns = new TurnTracker({
      speaker: this.speaker,
      sessionSeq: this.#sessionSeq,
      timeline: this.#timeline,
      awaitFormatted: !isU3Model(this.#o.provider.speechModel),
      emit: (event) => {
        if (event.kind === 'final') this.#stats.finalTurns++;
        this.emit('caption', event);
      },
    });
    this.#turns = turns;
    this.#terminationReceived = false;
    this.#beginAt = this.#o.clock.now();
    this.#beginWallAt = performance.now();
    this.#openedAt = this.#beginAt;
    session.on('turn', (turn) => turns.onTurn(turn));
    session.on('termination', () => {
      this.#terminationReceived = true;
    });
    session.on('speechStarted', () => turns.onSpeechStarted());
    session.on('close', (close) => this.#onClose(session, close));
    const rotateInMs = session.expiresAtMs - Date.now() - this.#o.rotateBeforeExpiryMs;
    // expires_at is wall-clock time; the timer runs on the pipeline's clock like every other session timer.
    this.#rotateTimer = this.#o.clock.setTimeout(() => this.#rotate(), Math.max(0, rotateInMs));
    this.#setState('open');
    this.#o.logger.debug({ speakerId: this.speaker.id, sessionId: session.id }, 'AssemblyAI session open');
    if (!this.#ending) {
      // A fresh session gets a full idle window from now.
      this.#clearIdleTimer();
      this.#noteSpeech();
    }
    this.#drain();
  }

  #drain(): void {
    if (this.#state !== 'open' || this.#session === null) return;
    const session = this.#session;
    for (let item = this.#queue.peek(); item !== undefined; item = this.#queue.peek()) {
      if (item.kind === 'forceEndpoint') {
        if (this.#turns?.turnOpen === true) session.sendMessage({ type: 'ForceEndpoint' });
        this.#queue.shift();
        continue;
      }
      if (this.#o.maxAudioAheadMs !== null) {
        const allowedMs = performance.now() - this.#beginWallAt + this.#o.maxAudioAheadMs;
        const waitMs = this.#timeline.audioMs + PCM_FRAME_MS - allowedMs;
        if (waitMs > 0) {
          this.#scheduleDrain(waitMs);
          return;
        }
      }
      this.#queue.shift();
      this.#timeline.recordSent(item.frame);
      session.sendAudio(item.frame.pcm);
      this.#stats.framesSent++;
    }
    this.#dropNoticeSent = false;
    if (this.#terminateWhenDrained) void this.#terminate();
  }

  #scheduleDrain(ms: number): void {
    if (this.#drainTimer !== null) return;
    this.#drainTimer = this.#o.clock.setTimeout(() => {
      this.#drainTimer = null;
      this.#drain();
    }, Math.max(ms, 5));
  }

  #clearDrainTimer(): void {
    if (this.#drainTimer !== null) this.#o.clock.clearTimeout(this.#drainTimer);
    this.#drainTimer = null;
  }

  async #terminate(): Promise<void> {
    if (this.#state !== 'open' || this.#session === null) return;
    this.#terminateWhenDrained = false;
    this.#setState('terminating');
    this.#clearIdleTimer();
    await this.#session.terminate();
  }

  #rotate(): void {
    this.#rotateTimer = null;
    if (this.#state !== 'open') return;
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
      if (this.#state === 'open') {
        this.#terminateWhenDrained = true;
        this.#drain();
      }
    }, ms);
  }

  #idleCloseMs(): number {
    return typeof this.#o.idleCloseMs === 'function' ? this.#o.idleCloseMs() : this.#o.idleCloseMs;
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer !== null) this.#o.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #onClose(session: StreamingSession, close: CloseClassification): void {
    if (session !== this.#session) return;
    this.#turns?.flush();
    this.#session = null;
    this.#stats.sessionOpenMs += this.#o.clock.now() - this.#openedAt;
    this.#openedAt = 0;
    if (this.#rotateTimer !== null) this.#o.clock.clearTimeout(this.#rotateTimer);
    this.#rotateTimer = null;
    this.#clearDrainTimer();
    // Clean only if the server confirmed it flushed every turn (Termination), or closed normally with nothing
    // unconfirmed; a drop while terminating still loses the last turn unless its audio is resent.
    const unconfirmed = this.#timeline.unconfirmedFrames();
    const clean = this.#terminationReceived || (close.action === 'normal' && !unconfirmed.some((f) => f.speech));
    if (clean) {
      this.#setState('idle');
      // Speech that arrived while the session was closing (idle close, rotation, end) still needs a session.
      if (this.#queue.hasSpeech()) {
        if (this.#ending) this.#terminateWhenDrained = true;
        void this.#connect();
        return;
      }
      this.#clearQueue();
      this.#resolveEnd();
      return;
    }
    if (close.action === 'fatal') {
      this.#o.logger.error({ speakerId: this.speaker.id, code: close.code }, close.reason);
      this.#fail(close);
      return;
    }
    // Dropped mid-session: resend what no final transcript covered, in front of what is queued.
    if (this.#ending) this.#terminateWhenDrained = true;
    this.#o.logger.warn(
      { speakerId: this.speaker.id, code: close.code, reason: close.reason, resendFrames: unconfirmed.length },
      'AssemblyAI session dropped; reconnecting',
    );
    for (let i = unconfirmed.length - 1; i >= 0; i--) {
      const frame = unconfirmed[i];
      if (frame !== undefined) this.#enqueue(frame, true);
    }
    this.#stats.framesResent += unconfirmed.length;
    // Straight back into the one retry loop: a rotation (3008) or a blip reconnects at once; if the server is
    // really down or limiting new sessions, the loop's backoff applies.
    void this.#connect();
  }

  #clearQueue(): void {
    this.#queue.clear();
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
    this.#clearDrainTimer();
    if (this.#rotateTimer !== null) this.#o.clock.clearTimeout(this.#rotateTimer);
    this.#rotateTimer = null;
    this.#clearQueue();
  }
}
