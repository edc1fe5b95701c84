/**
 * The fake's `llm_gateway` connection parameter: AssemblyAI runs the given prompt on each final turn and sends
 * the gateway's answer as `LLMGatewayResponse {turn_order, transcript, data}` on the same socket.
 *
 * Sources:
 * - [tutorial] AssemblyAI docs "Apply LLM Gateway to Streaming" (assemblyai-api-spec
 *   `fern/pages/llm-gateway/apply-llm-gateway-to-streaming.mdx`): the parameter is a JSON-stringified object "that
 *   follows the same interface as the LLM Gateway chat completions API" with keys `model`, `messages` (the
 *   `content` holds the prompt, `{{turn}}` standing for the turn), `max_tokens`; the answer is read from
 *   `data.choices[0].message.content`.
 * - [sdk] assemblyai-python-sdk `streaming/v3/models.py` `LLMGatewayConfig {model: str, messages:
 *   List[{role: str, content: str}], max_tokens: int}` (all required) and `LLMGatewayResponseEvent {turn_order: int,
 *   transcript: str, data: Any}`; assemblyai-node-sdk `types/streaming` (same shapes, `data: unknown`) and
 *   `service.ts` (`searchParams.set("llm_gateway", JSON.stringify(...))`).
 *
 * Not documented, and modelled here as follows (say so where it matters):
 * - A config that is not such an object is refused at connection like any other bad query parameter (3006, see
 *   `checkQuery`), as the SDKs' validation refuses it before connecting.
 * - The model is checked by the gateway, not at connection: the fake forwards the request to the (fake) LLM
 *   Gateway, which answers an unknown model with HTTP 400 `model … is not supported`, and `data` carries whatever the
 *   gateway answered (a completion, or its error body), since both SDKs type it as opaque.
 * - On `Terminate`, answers still being computed are sent before `Termination` (the server flushes the session).
 */

/** The parsed `llm_gateway` parameter. */
export interface LlmGatewayParam {
  model: string;
  messages: Array<{ role: string; content: string }>;
  max_tokens: number;
}

/** The placeholder replaced by the turn's transcript. Source: [tutorial]. */
export const TURN_PLACEHOLDER = '{{turn}}';

/** Message roles of the chat completions interface. Source: [tutorial] (same interface as chat completions). */
const ROLES = ['system', 'user', 'assistant'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why an `llm_gateway` value is invalid, or undefined when it is a JSON object with a non-empty string `model`,
 * a non-empty `messages` array of `{role, content}` (role system/user/assistant, content a string) and a positive
 * integer `max_tokens`. Source: [sdk] `LLMGatewayConfig` (every field required), [tutorial] field table.
 */
export function llmGatewayProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (!isRecord(value)) return 'must be a JSON object {model, messages, max_tokens}';
  if (typeof value['model'] !== 'string' || value['model'].trim() === '') return 'needs "model", a model id string';
  const messages = value['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'needs "messages", a non-empty array';
  for (const message of messages as unknown[]) {
    if (!isRecord(message) || typeof message['content'] !== 'string' || typeof message['role'] !== 'string' || !ROLES.includes(message['role'])) {
      return 'each message needs a "role" (system, user or assistant) and a string "content"';
    }
  }
  const maxTokens = value['max_tokens'];
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) return 'needs "max_tokens", a positive integer';
  return undefined;
}

/** Parses a value that {@link llmGatewayProblem} accepted. */
export function parseLlmGateway(text: string): LlmGatewayParam {
  return JSON.parse(text) as LlmGatewayParam;
}

/** True when some message's content has the `{{turn}}` placeholder (without it the LLM never sees the turn). */
export function hasTurnPlaceholder(param: LlmGatewayParam): boolean {
  return param.messages.some((message) => message.content.includes(TURN_PLACEHOLDER));
}

/**
 * Asks the gateway at `baseUrl` (`…/v1`) for the turn: the config's messages with every `{{turn}}` replaced by the
 * transcript, its `model` and `max_tokens`, with the session's `Authorization`.
 * @returns the `data` to send: the gateway's JSON body whatever its status, or `{error}` when it could not be reached
 *   or answered something that is not JSON. Never throws.
 */
export async function askGateway(baseUrl: string | undefined, authorization: string, param: LlmGatewayParam, transcript: string, timeoutMs: number): Promise<unknown> {
  if (baseUrl === undefined) return { error: 'The fake has no LLM Gateway to call (option llmGatewayUrl)' };
  const body = {
    model: param.model,
    messages: param.messages.map((message) => ({ role: message.role, content: message.content.replaceAll(TURN_PLACEHOLDER, transcript) })),
    max_tokens: param.max_tokens,
  };
  try {
    const response = await fetch(`${baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return { error: `LLM Gateway answered HTTP ${response.status} with a body that is not JSON`, status: response.status };
    }
  } catch (error) {
    return { error: `LLM Gateway request failed: ${error instanceof Error ? error.message : String(error)}`, status: 500 };
  }
}

/** `LLMGatewayResponse {type, turn_order, transcript, data}`. Source: [sdk] `LLMGatewayResponseEvent`, [tutorial]. */
export function llmGatewayResponseMessage(turnOrder: number, transcript: string, data: unknown): Record<string, unknown> {
  return { type: 'LLMGatewayResponse', turn_order: turnOrder, transcript, data };
}
