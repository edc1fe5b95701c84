/**
 * In-stream translation (`TRANSLATION_MODE=in-stream`): AssemblyAI runs each speaker's `llm_gateway` prompt
 * (see in-stream-prompt.ts) on every final turn and sends the answer as an `LLMGatewayResponse` on the same socket,
 * so Parley makes no gateway request of its own. The STT layer turns each answer (or its absence) into an
 * {@link LlmTurnResult}; this class pairs it with the caption's `translate` call, in whichever order they come, and
 * settles it as the batched {@link Translator} would, so {@link TranslationSink} posts and marks failures the same.
 *
 * Bounds: at most `maxWaiting` captions wait for an answer (past it the oldest fails), at most `maxEarly` answers
 * wait for their caption (past it the oldest is dropped), and an answer that has not come after `answerTimeoutMs`
 * fails the caption. One instance per meeting: its turn ids are unique within the meeting only.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import { LlmError } from '../llm/errors.ts';
import type { Logger } from '../log.ts';
import type { LlmTurnResult } from '../stt/speaker-stream-types.ts';
import { readInStreamAnswer } from './in-stream-prompt.ts';
import type { MeetingTranslator, TranslationTurn } from './translator.ts';

/** Options for {@link InStreamTranslator}. */
export interface InStreamTranslatorOptions {
  /** The model named in the sessions' `llm_gateway` (for errors). */
  model: string;
  logger: Logger;
  /** A caption whose answer has not come after this long fails, ms of `clock` time. Default 60,000. */
  answerTimeoutMs?: number;
  /**
   * Times the answer timeout: the meeting's clock (virtual in tests). Default: the system clock, its timers
   * unref'd so that a caption still waiting never keeps the process alive.
   */
  clock?: Clock;
  /** Most captions waiting for their answer. Default 256. */
  maxWaiting?: number;
  /** Most answers held for a caption not yet seen. Default 64. */
  maxEarly?: number;
  /** Called once per caption that got no usable translation (for the LLM error metric). */
  onFailure?: () => void;
}

/** Counters since construction, for benchmarks and metrics. */
export interface InStreamStats {
  /** `LLMGatewayResponse` messages received: each one is an LLM request AssemblyAI made for Parley. */
  answers: number;
  /** Captions that got no usable translation (failed answer, no answer, timeout, or closed). */
  failures: number;
  /** Captions waiting for their answer now. */
  waiting: number;
}

/** The system clock whose timers do not hold the event loop open. */
const unrefSystemClock: Clock = {
  now: systemClock.now,
  setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms).unref() }),
  clearTimeout: systemClock.clearTimeout,
};

interface Waiting {
  languages: string[];
  timer: TimerHandle;
  resolve: (translations: Record<string, string>) => void;
  reject: (error: LlmError) => void;
}

/** Pairs in-stream LLM answers with the captions they translate, for one meeting. */
export class InStreamTranslator implements MeetingTranslator {
  readonly #o: Required<Omit<InStreamTranslatorOptions, 'logger' | 'onFailure'>> & Pick<InStreamTranslatorOptions, 'logger' | 'onFailure'>;
  readonly #waiting = new Map<string, Waiting>();
  readonly #early = new Map<string, LlmTurnResult>();
  readonly #stats = { answers: 0, failures: 0 };
  #closed = false;

  constructor(options: InStreamTranslatorOptions) {
    this.#o = { answerTimeoutMs: 60_000, maxWaiting: 256, maxEarly: 64, clock: unrefSystemClock, ...options };
  }

  /**
   * Resolves with the translations of `turn` from its in-stream answer: every language in `languages` the answer
   * has (a language the session's prompt did not ask for, because it was added after the session opened, is
   * missing and so marked failed by the sink).
   *
   * @throws {LlmError} (as a rejection) `malformed` when the answer is not a JSON object, `model_unavailable` or
   *   `server_error` when the gateway refused or failed (`failure` names what it said), `timeout` when no answer
   *   came (the session closed first, or `answerTimeoutMs` passed), `cancelled` after {@link close}.
   */
  translate(turn: TranslationTurn, languages: string[]): Promise<Record<string, string>> {
    const targets = [...new Set(languages)];
    if (this.#closed) return this.#fail(this.#cancelled());
    if (targets.length === 0) return Promise.resolve({});
    if (turn.text.trim() === '') return Promise.resolve(Object.fromEntries(targets.map((language) => [language, ''])));
    const early = this.#early.get(turn.turnId);
    if (early !== undefined) {
      this.#early.delete(turn.turnId);
      return this.#settle(early, targets);
    }
    if (this.#waiting.size >= this.#o.maxWaiting) {
      const [oldestId] = this.#waiting.keys();
      if (oldestId !== undefined) this.#rejectWaiting(oldestId, this.#timedOut(`more than ${this.#o.maxWaiting} captions were waiting for theirs`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, string>>();
    const timer = this.#o.clock.setTimeout(
      () => this.#rejectWaiting(turn.turnId, this.#timedOut(`none came within ${Math.round(this.#o.answerTimeoutMs / 1000)} s`)),
      this.#o.answerTimeoutMs,
    );
    this.#waiting.set(turn.turnId, { languages: targets, timer, resolve, reject });
    return promise;
  }

  /** Takes one answer (or failure) from the STT layer. Never throws. */
  onResult(result: LlmTurnResult): void {
    if (result.answered) this.#stats.answers += 1;
    if (this.#closed) return;
    const waiting = this.#waiting.get(result.turnId);
    if (waiting === undefined) {
      // The caption can follow its answer: a pre-U3 model's final waits for its formatted copy.
      if (this.#early.size >= this.#o.maxEarly) {
        const [oldest] = this.#early.keys();
        if (oldest !== undefined) this.#early.delete(oldest);
      }
      this.#early.set(result.turnId, result);
      return;
    }
    this.#waiting.delete(result.turnId);
    this.#o.clock.clearTimeout(waiting.timer);
    this.#settle(result, waiting.languages).then(waiting.resolve, waiting.reject);
  }

  /** A copy of the counters. */
  stats(): InStreamStats {
    return { ...this.#stats, waiting: this.#waiting.size };
  }

  /** Rejects every waiting caption with `kind: 'cancelled'`, and every later one likewise. */
  close(): void {
    this.#closed = true;
    for (const turnId of [...this.#waiting.keys()]) this.#rejectWaiting(turnId, this.#cancelled());
    this.#early.clear();
  }

  #settle(result: LlmTurnResult, languages: string[]): Promise<Record<string, string>> {
    const model = result.model ?? this.#o.model;
    const ids = result.requestId === undefined ? {} : { requestId: result.requestId };
    if (result.content === undefined) {
      const failure = result.failure ?? 'no answer';
      const unsupported = /not supported|unknown model|retired/i.test(failure);
      const kind = !result.answered ? 'timeout' : unsupported ? 'model_unavailable' : 'server_error';
      this.#o.logger.warn({ model, requestId: result.requestId, kind }, 'In-stream translation failed');
      return this.#fail(new LlmError(`The in-stream translation failed: ${failure}.`, { kind, retryable: !unsupported, model, ...ids }));
    }
    const translations = readInStreamAnswer(result.content, languages);
    if (translations === undefined) {
      const what = result.finishReason === 'length' ? 'was cut off at the token limit' : 'was not a JSON object';
      this.#o.logger.warn({ model, requestId: result.requestId }, 'In-stream translation answer was not usable');
      return this.#fail(new LlmError(`The in-stream translation answer from model ${model} ${what}.`, { kind: 'malformed', retryable: true, model, ...ids }));
    }
    if (Object.keys(translations).length === 0) {
      return this.#fail(new LlmError(`The in-stream translation answer from model ${model} lacked every language asked for.`, { kind: 'malformed', retryable: true, model, ...ids }));
    }
    return Promise.resolve(translations);
  }

  #rejectWaiting(turnId: string, error: LlmError): void {
    const waiting = this.#waiting.get(turnId);
    if (waiting === undefined) return;
    this.#waiting.delete(turnId);
    this.#o.clock.clearTimeout(waiting.timer);
    this.#stats.failures += 1;
    this.#o.onFailure?.();
    waiting.reject(error);
  }

  #fail(error: LlmError): Promise<never> {
    this.#stats.failures += 1;
    this.#o.onFailure?.();
    return Promise.reject(error);
  }

  #timedOut(why: string): LlmError {
    return new LlmError(`No in-stream translation came for this caption (${why}).`, { kind: 'timeout', retryable: true, model: this.#o.model });
  }

  #cancelled(): LlmError {
    return new LlmError('Translation was cancelled because the meeting ended.', { kind: 'cancelled', retryable: false, model: this.#o.model });
  }
}
