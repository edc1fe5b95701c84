/**
 * One open AssemblyAI session of a speaker, with everything that lives and dies with it: its audio timeline (what
 * was sent, what a final transcript confirmed), its turns, and its timers (paced sending, rotation before
 * `expires_at`, the no-reply watchdog). {@link ./speaker-stream.ts} holds at most one; `dispose()` clears every
 * timer, so a closed session leaves nothing behind.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import type { CaptionEvent, Speaker } from '../captions/caption.ts';
import { PCM_FRAME_MS, type PcmFrame } from '../audio/format.ts';
import type { StreamingSession } from './assemblyai/streaming-session.ts';
import type { CloseClassification } from './assemblyai/close-codes.ts';
import type { AudioQueue } from './audio-queue.ts';
import { SessionTimeline } from './session-timeline.ts';
import { TurnTracker, turnIdOf } from './turn-tracker.ts';
import type { LlmTurnResult } from './speaker-stream-types.ts';

/** Most finals of one session waiting for their `LLMGatewayResponse`; past it the oldest is given up as failed. */
const MAX_AWAITING_LLM = 256;

/** Options for {@link LiveSession}. Times are ms. */
export interface LiveSessionOptions {
  session: StreamingSession;
  speaker: Speaker;
  /** The speaker's session number, for turn ids. */
  sessionSeq: number;
  clock: Clock;
  /**
   * Clock time the connection was requested (the WebSocket upgrade), ms: AssemblyAI bills from there to the close
   * (docs FAQ "How does Universal Streaming session-based pricing work?": "the entire time the WebSocket connection
   * stays open"), handshake included. Default: now (`Begin`).
   */
  dialedAt?: number;
  /** Most frames kept for a resend. */
  maxResendFrames: number;
  /** Finals come unformatted first (pre-U3 models with `format_turns`). */
  awaitFormatted: boolean;
  /**
   * Audio may run this far ahead of the time since `Begin`, ms; null: no pacing. The time since `Begin` is wall
   * time (`performance.now()`), as AssemblyAI measures it for 3007, not the pipeline's clock: replay's virtual
   * clock lags wall time while the process is starved of CPU, and a `Begin` read during such a lag would let audio
   * run that much further ahead.
   */
  maxAudioAheadMs: number | null;
  /** No server message for this long while speech is sent: the connection is declared dead. */
  watchdogMs: number;
  /** Rotate this long before `expires_at`. */
  rotateBeforeExpiryMs: number;
  /** `Termination` not received this long after `Terminate`: the connection is dropped (see {@link LiveSession.terminate}). */
  terminateTimeoutMs: number;
  onCaption: (event: CaptionEvent) => void;
  /** The session is due for rotation. */
  onRotate: () => void;
  /** Pacing allows more audio now: send again. */
  onDrainDue: () => void;
  onClose: (close: CloseClassification) => void;
  /**
   * Set when the session was opened with `llm_gateway`: gets the `LLMGatewayResponse` of each final caption's
   * turn, and, when the session ends, a failure for each final whose answer never came.
   */
  onLlmResult?: (result: LlmTurnResult) => void;
}

/** How a session ended, for the speaker's lifecycle. */
export interface SessionEnd {
  /** We asked for the end (Terminate) and the server confirmed every turn. */
  clean: boolean;
  /** Frames sent that no final transcript covered, oldest first: to resend. */
  unconfirmed: PcmFrame[];
  /** How long it was open, ms, from the upgrade to the close: what AssemblyAI bills. */
  openMs: number;
  /** Frames forgotten over the resend bound. */
  framesNotKept: number;
}

/** An open session and its per-session state. */
export class LiveSession {
  readonly session: StreamingSession;
  readonly timeline: SessionTimeline;
  readonly turns: TurnTracker;
  /** Clock time of `Begin`, ms. */
  readonly openedAt: number;
  /** Clock time of the upgrade, ms: billing starts here. */
  readonly dialedAt: number;
  readonly #o: LiveSessionOptions;
  #terminateSent = false;
  #terminationReceived = false;
  /** `performance.now()` at `Begin`, for pacing (see {@link LiveSessionOptions.maxAudioAheadMs}). */
  #beginWallAt = 0;
  #drainTimer: TimerHandle | null = null;
  #rotateTimer: TimerHandle | null;
  /** Armed at the first speech frame sent after the server's last message; cleared by the next message. */
  #watchdogTimer: TimerHandle | null = null;
  /** With `onLlmResult`: turn ids of finals emitted and still waiting for their LLM answer, oldest first. */
  readonly #awaitingLlm = new Set<string>();
  /** Turn ids answered before their final caption was emitted (a pre-U3 final waits for its formatted copy). */
  readonly #answeredEarly = new Set<string>();

  /** How many emitted finals still wait for their in-stream LLM answer (at most 256). */
  get awaitingLlmAnswers(): number {
    return this.#awaitingLlm.size;
  }

  constructor(options: LiveSessionOptions) {
    this.#o = options;
    const { session, clock } = options;
    this.session = session;
    this.timeline = new SessionTimeline(options.maxResendFrames);
    this.turns = new TurnTracker({
      speaker: options.speaker,
      sessionSeq: options.sessionSeq,
      timeline: this.timeline,
      awaitFormatted: options.awaitFormatted,
      emit: (event) => {
        if (event.kind === 'final' && options.onLlmResult !== undefined) this.#awaitLlm(event.turnId);
        options.onCaption(event);
      },
    });
    this.openedAt = clock.now();
    this.dialedAt = Math.min(options.dialedAt ?? this.openedAt, this.openedAt);
    this.#beginWallAt = performance.now();
    session.on('turn', (turn) => this.turns.onTurn(turn));
    session.on('termination', () => {
      this.#terminationReceived = true;
    });
    session.on('heard', () => this.#clearWatchdog());
    session.on('speechStarted', () => this.turns.onSpeechStarted());
    session.on('close', (close) => options.onClose(close));
    session.on('llmGatewayResponse', (response) => {
      const onLlmResult = options.onLlmResult;
      if (onLlmResult === undefined) return;
      const turnId = turnIdOf(options.speaker.id, options.sessionSeq, response.turnOrder);
      if (!this.#awaitingLlm.delete(turnId) && this.#answeredEarly.size < MAX_AWAITING_LLM) this.#answeredEarly.add(turnId);
      const { content, failure, requestId, model, finishReason } = response;
      onLlmResult({
        turnId,
        answered: true,
        ...(content !== undefined && { content }),
        ...(content === undefined && { failure: failure ?? 'the answer had no text content' }),
        ...(requestId !== undefined && { requestId }),
        ...(model !== undefined && { model }),
        ...(finishReason !== undefined && { finishReason }),
      });
    });
    // expires_at is wall-clock time; the timer runs on the pipeline's clock like every other session timer.
    const rotateInMs = session.expiresAtMs - Date.now() - options.rotateBeforeExpiryMs;
    this.#rotateTimer = clock.setTimeout(() => {
      this.#rotateTimer = null;
      options.onRotate();
    }, Math.max(0, rotateInMs));
  }

  /**
   * Sends what `queue` holds, in order, as pacing allows (a drain is scheduled for the rest).
   *
   * @returns frames sent; `done` is true when the queue was emptied.
   */
  send(queue: AudioQueue): { framesSent: number; done: boolean } {
    const { maxAudioAheadMs } = this.#o;
    let framesSent = 0;
    for (let item = queue.peek(); item !== undefined; item = queue.peek()) {
      if (item.kind === 'forceEndpoint') {
        if (this.turns.turnOpen) this.session.sendMessage({ type: 'ForceEndpoint' });
        queue.shift();
        continue;
      }
      if (maxAudioAheadMs !== null) {
        const waitMs = this.timeline.audioMs + PCM_FRAME_MS - (performance.now() - this.#beginWallAt + maxAudioAheadMs);
        if (waitMs > 0) {
          this.#scheduleDrain(waitMs);
          return { framesSent, done: false };
        }
      }
      queue.shift();
      this.timeline.recordSent(item.frame);
      this.session.sendAudio(item.frame.pcm);
      framesSent++;
      if (item.frame.speech) this.#armWatchdog();
    }
    return { framesSent, done: true };
  }

  /**
   * Sends `Terminate`; resolves once the socket has closed. Deadline: if the server has not closed it
   * `terminateTimeoutMs` later (wall time: the handshake is the network's, and replay's virtual clock may run far
   * ahead of it), the connection is dropped and `onClose` sees a 1006 close, not a clean one.
   */
  terminate(): Promise<void> {
    this.#terminateSent = true;
    this.#clearWatchdog();
    return this.session.terminate(this.#o.terminateTimeoutMs);
  }

  /** Flushes a held final, clears every timer, and says how the session ended. */
  end(close: CloseClassification): SessionEnd {
    this.turns.flush();
    this.dispose();
    // The socket is closed: no answer can come for a final still waiting (messages all arrive before the close).
    for (const turnId of this.#awaitingLlm) this.#o.onLlmResult?.({ turnId, answered: false, failure: 'the speech-to-text session closed before the LLM answer for this caption came' });
    this.#awaitingLlm.clear();
    const unconfirmed = this.timeline.unconfirmedFrames();
    // Clean only if we asked for the end and the server confirmed it flushed every turn (Termination), or closed
    // normally with nothing unconfirmed; a drop while terminating still loses the last turn unless resent.
    const clean = this.#terminateSent && (this.#terminationReceived || (close.action === 'normal' && !unconfirmed.some((f) => f.speech)));
    return { clean, unconfirmed, openMs: this.#o.clock.now() - this.dialedAt, framesNotKept: this.timeline.discardedFrames };
  }

  /** Clears every timer of the session. */
  dispose(): void {
    const { clock } = this.#o;
    if (this.#rotateTimer !== null) clock.clearTimeout(this.#rotateTimer);
    this.#rotateTimer = null;
    if (this.#drainTimer !== null) clock.clearTimeout(this.#drainTimer);
    this.#drainTimer = null;
    this.#clearWatchdog();
  }

  #awaitLlm(turnId: string): void {
    if (this.#answeredEarly.delete(turnId)) return;
    if (this.#awaitingLlm.size >= MAX_AWAITING_LLM) {
      const oldest = this.#awaitingLlm.values().next().value;
      if (oldest !== undefined) {
        this.#awaitingLlm.delete(oldest);
        this.#o.onLlmResult?.({ turnId: oldest, answered: false, failure: `more than ${MAX_AWAITING_LLM} captions were waiting for their LLM answer` });
      }
    }
    this.#awaitingLlm.add(turnId);
  }

  #scheduleDrain(ms: number): void {
    if (this.#drainTimer !== null) return;
    this.#drainTimer = this.#o.clock.setTimeout(() => {
      this.#drainTimer = null;
      this.#o.onDrainDue();
    }, Math.max(ms, 5));
  }

  #armWatchdog(): void {
    if (this.#watchdogTimer !== null) return;
    const { watchdogMs } = this.#o;
    this.#watchdogTimer = this.#o.clock.setTimeout(() => {
      this.#watchdogTimer = null;
      this.session.markDead(`no message from AssemblyAI for ${Math.round(watchdogMs / 1000)} s while speech was being sent`);
    }, watchdogMs);
  }

  #clearWatchdog(): void {
    if (this.#watchdogTimer !== null) this.#o.clock.clearTimeout(this.#watchdogTimer);
    this.#watchdogTimer = null;
  }
}
