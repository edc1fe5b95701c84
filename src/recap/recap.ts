/**
 * The meeting recap: a summary, key points, decisions, action items and open questions, written by an LLM
 * through the AssemblyAI LLM Gateway when a meeting ends.
 *
 * One structured-output request when the transcript fits `maxInputChars`; otherwise one request per part (split
 * on turn boundaries, see {@link splitTranscript}) and then one merge request over the partial recaps. Requests
 * are sent one after the other: the gateway allows 30 requests per minute per model (AssemblyAI LLM Gateway
 * rate limits, paid accounts), and the translator shares that budget when both use the same model.
 *
 * Every answer is parsed as JSON and validated with zod. An answer that does not match (a model that answered
 * with a poem because the transcript told it to, or a reply cut off at `maxTokens`) is asked for once more with
 * the same request; a second bad answer fails the recap. Transcript text is user content and never logged.
 */
import { z } from 'zod';
import { LlmError } from '../llm/errors.ts';
import type { LlmClient, LlmMessage } from '../llm/gateway-client.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { Transcript } from '../transcript/transcript.ts';
import { DEFAULT_HEADINGS, DEFAULT_RECAP_TEMPLATE, recapTemplate, type RecapHeadings, type RecapStyle } from './templates.ts';
import { mergeMessages, mergeUserMessage, RECAP_JSON_SCHEMA, RECAP_SCHEMA_NAME, splitTranscript, transcriptMessages, type RecapAnswer } from './prompt.ts';

/** A meeting recap. All text comes from the model: it is user content (neutralise mentions before posting). */
export interface Recap {
  /** A paragraph or two on what the meeting was about. Never empty. */
  summary: string;
  keyPoints: string[];
  decisions: string[];
  /** `owner` is present only when the meeting named who will do the task. */
  actionItems: Array<{ task: string; owner?: string }>;
  openQuestions: string[];
  /** The model that answered the final request (the configured one or a fallback); `''` when no request was made. */
  model: string;
  /** Transcript parts recapped separately before merging: 1 for a meeting that fits one request, 0 for an empty one. */
  parts: number;
  /** Headings of the four list sections, from the template the recap was written with. */
  headings: RecapHeadings;
}

/** Options for {@link createRecap}. */
export interface RecapOptions {
  client: LlmClient;
  /** Gateway model id; it must support structured output (e.g. `claude-sonnet-4-6`, `gpt-5-mini`). */
  model: string;
  /** Tried in order by the client once `model` has failed after its retries. */
  fallbackModels?: string[];
  logger?: Logger;
  /**
   * Most characters in the user message of one request (the fenced transcript part, or the fenced partial
   * recaps, plus Parley's one-line preamble; the fixed system prompt of about 2,000 characters comes on top).
   * Default 60,000 (about 15,000 tokens). At least 1,000.
   */
  maxInputChars?: number;
  /** `max_tokens` of every request. Default 4,000 (the gateway's own default of 1,000 can cut a recap off). */
  maxTokens?: number;
  /** Sent as `temperature` when set; omitted by default because some models accept only their own default. */
  temperature?: number;
  /** The template, and the guild's custom prompt if any (see `templates.ts`). Default: meeting notes. */
  style?: RecapStyle;
}

/**
 * A recap stored as JSON by the meeting store. Recaps stored before templates existed have no headings: they
 * were meeting notes.
 *
 * @throws {SyntaxError} if `json` is not JSON.
 */
export function parseStoredRecap(json: string): Recap {
  return { headings: DEFAULT_HEADINGS, ...(JSON.parse(json) as Partial<Recap>) } as Recap;
}

/** Summary of a recap with no speech, made without any request. */
export const EMPTY_MEETING_SUMMARY = 'Nothing was transcribed in this meeting.';

const PLACEHOLDER_OWNERS = new Set(['', '-', '?', 'none', 'null', 'n/a', 'na', 'unknown', 'unassigned', 'unspecified', 'not specified', 'tbd', 'tba', 'nobody', 'no one']);

const item = z.string().transform((text) => text.replace(/\s+/g, ' ').trim());
const items = z
  .array(item)
  .default([])
  .transform((list) => list.filter((text) => text !== ''));

/** The model's answer as {@link RECAP_JSON_SCHEMA} describes it, normalised: whitespace tidied, empty items and placeholder owners dropped. */
const answerSchema = z.object({
  summary: z
    .string()
    .transform((text) => text.split(/\n\s*\n/).map((paragraph) => paragraph.replace(/\s+/g, ' ').trim()).filter((paragraph) => paragraph !== '').join('\n\n'))
    .pipe(z.string().min(1)),
  key_points: items,
  decisions: items,
  action_items: z
    .array(z.object({ task: item, owner: z.string().nullish() }))
    .default([])
    .transform((list) =>
      list
        .filter((action) => action.task !== '')
        .map((action) => {
          const owner = action.owner?.replace(/\s+/g, ' ').trim() ?? '';
          return { task: action.task, owner: PLACEHOLDER_OWNERS.has(owner.toLowerCase()) ? null : owner };
        }),
    ),
  open_questions: items,
});

/**
 * Recaps a meeting.
 *
 * @param transcript the meeting's final turns (only `.turns` is read).
 * @returns the recap; a transcript without any text resolves {@link EMPTY_MEETING_SUMMARY} with `parts: 0`
 *   and `model: ''`, without a request.
 * @throws {LlmError} the client's error when a request fails after its retries and fallback models; or
 *   `kind: 'malformed'` (retryable) when the model answered twice in a row with something that is not JSON
 *   matching {@link RECAP_JSON_SCHEMA}.
 * @throws {RangeError} when `maxInputChars` is below 1,000 or too small for one turn line.
 */
export async function createRecap(transcript: Pick<Transcript, 'turns'>, options: RecapOptions): Promise<Recap> {
  const maxInputChars = options.maxInputChars ?? 60_000;
  if (!(maxInputChars >= 1_000)) throw new RangeError(`maxInputChars must be at least 1,000 (got ${maxInputChars}).`);
  const logger = options.logger ?? silentLogger();
  const turns = transcript.turns;
  const durationMs = turns.reduce((end, turn) => Math.max(end, turn.endMs), 0);
  const parts = splitTranscript(turns, maxInputChars, durationMs);
  const style = options.style ?? { template: DEFAULT_RECAP_TEMPLATE };
  const headings = recapTemplate(style.template).headings;
  if (parts.length === 0) {
    return { summary: EMPTY_MEETING_SUMMARY, keyPoints: [], decisions: [], actionItems: [], openQuestions: [], model: '', parts: 0, headings };
  }
  const asker = new Asker(options, logger);
  logger.info({ model: options.model, turns: turns.length, parts: parts.length, template: style.template, customPrompt: style.customPrompt !== undefined }, 'Writing the meeting recap');

  let final: { answer: RecapAnswer; model: string };
  if (parts.length === 1) {
    final = await asker.ask(transcriptMessages(parts[0] ?? [], { index: 1, count: 1 }, durationMs, style), 'transcript');
  } else {
    let partials: RecapAnswer[] = [];
    for (const [index, lines] of parts.entries()) {
      const { answer } = await asker.ask(transcriptMessages(lines, { index: index + 1, count: parts.length }, durationMs, style), `part ${index + 1} of ${parts.length}`);
      partials.push(answer);
    }
    // Normally one merge request. Only when the partial recaps together exceed maxInputChars are they merged in
    // groups first (at least two per group, so every round shrinks the list).
    const fits = (group: readonly RecapAnswer[]): boolean => mergeUserMessage(group, durationMs).length <= maxInputChars;
    while (partials.length > 2 && !fits(partials)) {
      const merged: RecapAnswer[] = [];
      for (const group of groupsThatFit(partials, fits)) {
        merged.push(group.length === 1 && group[0] !== undefined ? group[0] : (await asker.ask(mergeMessages(group, durationMs, style), 'merge of a group of parts')).answer);
      }
      partials = merged;
    }
    if (!fits(partials)) logger.warn({ maxInputChars }, 'The partial recaps exceed maxInputChars even two at a time; merging them anyway');
    final = await asker.ask(mergeMessages(partials, durationMs, style), 'merge');
  }

  logger.info({ model: final.model, parts: parts.length, requests: asker.requests }, 'Meeting recap written');
  return toRecap(final.answer, final.model, parts.length, headings);
}

/** Consecutive groups of at least two items (bar a last single one), each within `fits` where two allow. */
function groupsThatFit<T>(list: readonly T[], fits: (group: readonly T[]) => boolean): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  for (const entry of list) {
    const candidate = [...current, entry];
    if (current.length < 2 || fits(candidate)) current = candidate;
    else {
      groups.push(current);
      current = [entry];
    }
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Sends requests for one recap and validates their answers, asking once more after a malformed one. */
class Asker {
  readonly #options: RecapOptions;
  readonly #logger: Logger;
  requests = 0;

  constructor(options: RecapOptions, logger: Logger) {
    this.#options = options;
    this.#logger = logger;
  }

  async ask(messages: LlmMessage[], what: string): Promise<{ answer: RecapAnswer; model: string }> {
    const { client, model, fallbackModels, temperature } = this.#options;
    let problem = '';
    let last: { model: string; requestId?: string } = { model };
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      this.requests += 1;
      const response = await client.complete({
        model,
        fallbackModels: fallbackModels ?? [],
        messages,
        maxTokens: this.#options.maxTokens ?? 4_000,
        ...(temperature !== undefined && { temperature }),
        jsonSchema: { name: RECAP_SCHEMA_NAME, schema: RECAP_JSON_SCHEMA },
      });
      last = { model: response.model, ...(response.requestId !== undefined && { requestId: response.requestId }) };
      const parsed = parseAnswer(response.content);
      if (parsed.ok) {
        this.#logger.debug({ model: response.model, requestId: response.requestId, what, attempt }, 'Recap request answered');
        return { answer: parsed.answer, model: response.model };
      }
      problem = response.finishReason === 'length' ? `${parsed.problem}; the answer was cut off at max_tokens` : parsed.problem;
      // The problem names JSON paths and zod issue codes only, never the answer's text.
      this.#logger.warn({ model: response.model, requestId: response.requestId, what, attempt, problem }, 'The model answered the recap request with something other than the recap JSON');
    }
    const request = last.requestId === undefined ? '' : `, request id ${last.requestId}`;
    throw new LlmError(`The model did not answer the recap (${what}) with JSON matching the recap schema, twice in a row (model ${last.model}${request}): ${problem}.`, {
      kind: 'malformed',
      retryable: true,
      ...last,
    });
  }
}

type Parsed = { ok: true; answer: RecapAnswer } | { ok: false; problem: string };

/** JSON (a whole-answer ```json fence is tolerated) validated against {@link answerSchema}. */
function parseAnswer(content: string): Parsed {
  const text = content.trim().replace(/^```(?:json)?\s*\n([\s\S]*)\n```$/i, '$1');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'the answer is not JSON' };
  }
  const result = answerSchema.safeParse(json);
  if (result.success) return { ok: true, answer: result.data };
  const issues = result.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.code}`);
  return { ok: false, problem: `the JSON does not match the schema (${issues.join('; ')})` };
}

function toRecap(answer: RecapAnswer, model: string, parts: number, headings: RecapHeadings): Recap {
  return {
    summary: answer.summary,
    keyPoints: answer.key_points,
    decisions: answer.decisions,
    actionItems: answer.action_items.map((action) => (action.owner === null ? { task: action.task } : { task: action.task, owner: action.owner })),
    openQuestions: answer.open_questions,
    model,
    parts,
    headings,
  };
}
