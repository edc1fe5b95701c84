/**
 * Options, events, states and counters of {@link ./speaker-stream.ts}.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionEvent, Notice, Speaker } from '../captions/caption.ts';
import type { CloseClassification } from './assemblyai/close-codes.ts';
import type { LlmGatewayConfig } from './assemblyai/messages.ts';
import type { ReconnectPolicyOptions } from './reconnect-policy.ts';
import type { SttProvider } from './provider.ts';

/** Lifecycle state of a speaker's STT session. */
export type SpeakerStreamState = 'idle' | 'connecting' | 'open' | 'terminating' | 'paused' | 'failed';

/** Options for {@link SpeakerStream}. */
export interface SpeakerStreamOptions {
  speaker: Speaker;
  provider: SttProvider;
  clock: Clock;
  logger: Logger;
  /** The guild's keyterms at the time a session opens. */
  keyterms: () => readonly string[];
  /** The guild's expected spoken languages at the time a session opens (`language_codes`); omitted: none. */
  languageCodes?: () => readonly string[];
  /**
   * The `llm_gateway` prompt for the next session, read each time one opens; undefined: none. With one, every
   * final caption is followed by an `llmResult` for its turn.
   */
  llmGateway?: () => LlmGatewayConfig | undefined;
  /** Close the session after this long without speech, ms; a function is asked each time (it can change). */
  idleCloseMs: number | (() => number);
  /** Rotate this long before `expires_at`, ms. Default 60,000. */
  rotateBeforeExpiryMs?: number;
  /** Most audio held for a speaker while no session can take it, ms; older audio is dropped and counted. Default 60,000. */
  maxQueuedMs?: number;
  /**
   * Most audio kept after sending for a resend, ms: audio no final transcript has covered yet. Older audio is
   * forgotten and counted (`framesNotKept`); it is lost only if the session then drops. Default 60,000.
   */
  maxResendMs?: number;
  /**
   * A session that sends no message for this long while speech is being sent is declared dead, ms. Universal-3
   * sends an early partial, then partials at pauses and about every 3 s (AssemblyAI docs, Universal-3 Pro
   * streaming), so 30 s is ten times the longest expected gap. Default 30,000.
   */
  watchdogMs?: number;
  /**
   * How long a session may take to answer `Terminate` with `Termination` and close, ms of wall time; then it is
   * dropped. Default 5,000 (AssemblyAI's Python SDK waits 5 s for the final Turn and `Termination`).
   */
  terminateTimeoutMs?: number;
  /** Backoff and circuit breaker settings; see {@link ReconnectPolicy}. */
  reconnect?: ReconnectPolicyOptions;
  /**
   * How far session audio may run ahead of the time since `Begin`, ms: AssemblyAI closes sessions fed faster than
   * real time (3007). Queued audio catches up within this allowance, and in the pauses between talk spurts.
   * `null` disables pacing (accelerated replay against a local server). Default 1,000.
   */
  maxAudioAheadMs?: number | null;
}

/** Typed events of a {@link SpeakerStream}. */
export interface SpeakerStreamEvents {
  caption: [CaptionEvent];
  notice: [Notice];
  state: [SpeakerStreamState];
  /** AssemblyAI refused us for good (bad key, no balance, a refused upgrade). */
  fatal: [CloseClassification];
  /** AssemblyAI refused a session for the account's session limit; the speaker's audio stays queued. */
  limited: [CloseClassification];
  /** The `llm_gateway` answer for a final caption's turn, or why none will come (only with `llmGateway`). */
  llmResult: [LlmTurnResult];
}

/**
 * The answer AssemblyAI's in-stream LLM gave for one final turn (`LLMGatewayResponse`), or why there is none:
 * exactly one of `content` and `failure` is set. A final whose session closed before its answer came gets a failure.
 */
export interface LlmTurnResult {
  /** The final caption's `turnId`. */
  turnId: string;
  /** True when AssemblyAI sent an `LLMGatewayResponse` for it (one LLM request made); false when none came. */
  answered: boolean;
  /** The model's answer text. */
  content?: string;
  /** Why there is no answer, in plain words. */
  failure?: string;
  /** The LLM Gateway's `request_id` for the answer (`data.request_id`), when it sent one: logged with failures. */
  requestId?: string;
  /** The model that answered (`data.model`), when named; it can differ from the session's `llm_gateway` model. */
  model?: string;
  /** Why the model stopped (`data.choices[0].finish_reason`): `length` means the answer was cut off at `max_tokens`. */
  finishReason?: string;
}

/** Counters for one speaker's STT. */
export interface SpeakerStreamStats {
  sessionsOpened: number;
  reconnects: number;
  /** Time sessions were open on the pipeline's clock, from each upgrade to its close (handshakes included), ms: what AssemblyAI bills. */
  sessionOpenMs: number;
  framesSent: number;
  framesResent: number;
  /** Frames dropped because the queue was full, STT was refused, or the circuit breaker was open. */
  framesDropped: number;
  /** Frames sent but forgotten before a final transcript covered them (over `maxResendMs`): not resendable. */
  framesNotKept: number;
  finalTurns: number;
  /** Times the circuit breaker opened. */
  breakerOpened: number;
}
