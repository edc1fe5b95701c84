/**
 * The start-up check of configured models against the gateway's list (`GET {baseUrl}/models`, OpenAI-style
 * `{data: [{id}]}`; AssemblyAI LLM Gateway "available models"). A model the gateway no longer serves answers
 * every request with 400 "model … is not supported", so an operator should hear about it before the first
 * meeting, not from a failed translation. The check only warns: Parley still starts, and the request path
 * falls back to the next model on its own.
 */
import type { Logger } from '../log.ts';
import { redactSecret } from './errors.ts';

/** Options for {@link checkModels}. */
export interface ModelCheckOptions {
  /** Base URL up to and including `/v1`, as for the chat client. */
  baseUrl: string;
  /** The raw key, sent as `Authorization`. Never logged. */
  apiKey: string;
  /** Every configured model id (primary and fallbacks, translation and recap); duplicates are checked once. */
  models: readonly string[];
  logger: Logger;
  /** The whole check, in ms. Default 10,000. */
  timeoutMs?: number;
}

/** What {@link checkModels} found. */
export type ModelCheckResult = { checked: true; missing: string[] } | { checked: false; reason: string };

/**
 * Lists the gateway's models once and logs one `warn` line per configured model it does not list, naming the
 * model. When the list cannot be read (network, HTTP error, unexpected body), logs one `warn` line saying so.
 *
 * @returns the missing models, or why the list could not be read. Never throws; one request, bounded by `timeoutMs`.
 */
export async function checkModels(options: ModelCheckOptions): Promise<ModelCheckResult> {
  const { logger } = options;
  const url = `${options.baseUrl.replace(/\/+$/, '')}/models`;
  let listed: Set<string>;
  try {
    const response = await fetch(url, {
      headers: { Authorization: options.apiKey.trim(), Accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const ids = modelIds(body);
    if (ids === undefined) throw new Error('the answer has no data[].id list');
    listed = new Set(ids);
  } catch (error) {
    const reason = redactSecret(error instanceof Error ? error.message : String(error), options.apiKey.trim());
    logger.warn({ reason }, 'Could not read the LLM Gateway\'s list of models to check the configured models; going on without the check');
    return { checked: false, reason };
  }
  const missing = [...new Set(options.models)].filter((model) => model.length > 0 && !listed.has(model));
  for (const model of missing) {
    logger.warn({ model }, `The LLM Gateway does not list model ${model}: requests to it will fail and fall back to the next configured model. Check TRANSLATION_MODEL, RECAP_MODEL and their fallbacks.`);
  }
  return { checked: true, missing };
}

function modelIds(body: unknown): string[] | undefined {
  if (typeof body !== 'object' || body === null || !('data' in body) || !Array.isArray(body.data)) return undefined;
  return body.data.flatMap((entry: unknown) => (typeof entry === 'object' && entry !== null && 'id' in entry && typeof entry.id === 'string' ? [entry.id] : []));
}
