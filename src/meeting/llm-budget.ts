/**
 * `DAILY_LLM_REQUESTS_PER_GUILD`: how many LLM Gateway requests each guild may cause per UTC day, over caption
 * translations (one per request the translator sends, however many turns it carries) and recaps (one per request
 * a recap sends). The client's own retries and fallback models count as the one request they repeat. Once a
 * guild has used its budget, its captions are no longer translated (marked as not translated) and no recap is
 * made; captions go on. Kept in memory like `SttBudget`: one entry per guild that used the LLM today, all
 * cleared when the UTC day changes, so memory is bounded by the guilds active today. A restart forgets the day.
 */
import { LlmError } from '../llm/errors.ts';
import type { LlmClient } from '../llm/gateway-client.ts';
import type { RequestGate, TurnTranslator } from '../translation/translator.ts';
import type { RecapSettings } from './meeting-report.ts';

/** Per-guild daily budget of LLM requests. */
export class LlmBudget {
  readonly #dailyRequests: number;
  readonly #now: () => number;
  #day = '';
  readonly #used = new Map<string, number>();

  /**
   * @param dailyRequests requests per guild per UTC day, at least 1.
   * @param now wall clock, epoch ms; default `Date.now`.
   * @throws {RangeError} if `dailyRequests` is not a whole number of at least 1.
   */
  constructor(dailyRequests: number, now: () => number = Date.now) {
    if (!Number.isInteger(dailyRequests) || dailyRequests < 1) throw new RangeError('dailyRequests must be a whole number of at least 1.');
    this.#dailyRequests = dailyRequests;
    this.#now = now;
  }

  /** The budget per guild per day, in requests. */
  get dailyRequests(): number {
    return this.#dailyRequests;
  }

  /** Counts one request of the guild if its budget allows it. @returns false (nothing counted) once the budget is used. */
  take(guildId: string): boolean {
    this.#rollOver();
    const used = this.#used.get(guildId) ?? 0;
    if (used >= this.#dailyRequests) return false;
    this.#used.set(guildId, used + 1);
    return true;
  }

  /** True once the guild has used its budget for today (UTC). */
  spent(guildId: string): boolean {
    this.#rollOver();
    return (this.#used.get(guildId) ?? 0) >= this.#dailyRequests;
  }

  /** The plain-words reason a request was refused, for the channel and for errors. */
  refusal(): string {
    return `This server has used today's budget of ${this.#dailyRequests} LLM request${this.#dailyRequests === 1 ? '' : 's'}, so captions are not translated and no recap is made until midnight UTC.`;
  }

  /** A gate for the guild's translation requests (`Translator.forMeeting`): admits and counts, or refuses with {@link refusal}. */
  gate(guildId: string): RequestGate {
    return () => (this.take(guildId) ? undefined : this.refusal());
  }

  #rollOver(): void {
    const day = new Date(this.#now()).toISOString().slice(0, 10);
    if (day === this.#day) return;
    this.#day = day;
    this.#used.clear();
  }
}

/** What {@link budgetedRecap} returns: the recap settings to use (undefined: no recap), and why not, when refused. */
export interface BudgetedRecap {
  recap: RecapSettings | undefined;
  /** Set when the budget is spent: one sentence for the report's headline. */
  refusal?: string;
}

/**
 * The recap settings for one guild under its LLM budget: none (with the refusal) when the budget is spent now,
 * otherwise the same settings with a client that counts each request and refuses once the budget runs out
 * mid-recap (an {@link LlmError} of kind `budget`, which the report turns into its "could not be made" line).
 */
export function budgetedRecap(recap: RecapSettings | undefined, budget: LlmBudget | undefined, guildId: string): BudgetedRecap {
  if (recap === undefined || budget === undefined) return { recap };
  if (budget.spent(guildId)) return { recap: undefined, refusal: budget.refusal() };
  const client: LlmClient = {
    complete: (request) =>
      budget.take(guildId)
        ? recap.client.complete(request)
        : Promise.reject(new LlmError(budget.refusal(), { kind: 'budget', retryable: true, model: request.model })),
  };
  return { recap: { ...recap, client } };
}

/**
 * A meeting's translator under its guild's LLM budget: a turn refused by the budget (`kind: 'budget'`) resolves
 * with no translations, so the caption is marked as not translated like any failed language, and `onSpent` is
 * called (the meeting tells the channel once) instead of the translation sink's "unavailable" notice. While
 * `spent()` says the budget is used, turns are not even queued: they never take a slot of the shared rate limiter.
 */
export function budgetedTranslator(inner: TurnTranslator, onSpent: () => void, spent: () => boolean = () => false): TurnTranslator {
  return {
    translate: (turn, languages) => {
      if (spent()) {
        onSpent();
        return Promise.resolve({});
      }
      return inner.translate(turn, languages).catch((error: unknown) => {
        if (!(error instanceof LlmError) || error.kind !== 'budget') throw error;
        onSpent();
        return {};
      });
    },
  };
}
