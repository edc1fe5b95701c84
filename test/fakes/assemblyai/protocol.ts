/**
 * AssemblyAI Streaming v3 protocol rules as the fake server enforces them: close codes, error texts, audio frame
 * limits, connection query parameters and client text messages.
 *
 * Sources (cited per rule below):
 * - [spec-u3]   AssemblyAI/assemblyai-api-spec `usm-streaming-u3-pro.yml` (AsyncAPI for `speech_model=u3-rt-pro`).
 * - [spec-usm]  AssemblyAI/assemblyai-api-spec `usm-streaming.yml` (AsyncAPI for the Universal-Streaming models).
 * - [errors]    AssemblyAI docs, "Common session errors and closures" (close-code table and the `Error` frame).
 * - [notes]     AssemblyAI docs pages: streaming API reference (parameters), "Keyterms prompting", "Concurrency", model selection.
 */

import { llmGatewayProblem } from './llm-gateway.ts';

/** Close codes used by the service. Source: [errors]. */
export const CLOSE = {
  /** Normal closure, after `Termination`. */
  normal: 1000,
  /** Unauthorized connection: missing/invalid API key, account issue. */
  unauthorized: 1008,
  /** "Session Cancelled: An error occurred" (unknown server error). */
  serverError: 3005,
  /** Invalid JSON, invalid message, unsupported message type. */
  invalidMessage: 3006,
  /** Audio frame outside 50–1000 ms, or audio sent faster than real time. */
  audioViolation: 3007,
  /** Session expired (3 h maximum). */
  sessionExpired: 3008,
  /** Too many concurrent/new sessions. */
  tooManySessions: 3009,
} as const;

/** Sample rate (Hz) the fake accepts: Parley always streams 16 kHz mono pcm_s16le. */
export const SAMPLE_RATE_HZ = 16_000;
/** Bytes of 16 kHz s16le mono audio per ms (16 samples × 2 bytes). */
export const BYTES_PER_MS = (SAMPLE_RATE_HZ / 1000) * 2;
/** Shortest allowed audio frame, ms. Source: [spec-u3] `sendAudio` ("between 50ms and 1000ms"), [errors] 3007. */
export const MIN_FRAME_MS = 50;
/** Longest allowed audio frame, ms. Same source as {@link MIN_FRAME_MS}. */
export const MAX_FRAME_MS = 1000;
/** Most entries in `keyterms_prompt`. Source: [notes] ("at most 100 terms"). */
export const MAX_KEYTERMS = 100;
/** Longest `keyterms_prompt` entry, characters (Unicode code points). Source: [notes] ("each at most 50 characters"). */
export const MAX_KEYTERM_CHARS = 50;
/** WebSocket close reasons are limited to 123 bytes (RFC 6455 §5.5); longer errors close with this text. Source: [errors]. */
export const LONG_REASON = 'See Error message for details';

/** `speech_model` values the fake knows. Source: [spec-u3], [spec-usm], [notes] (u3-rt-pro routes to universal-3-5-pro). */
export const KNOWN_SPEECH_MODELS: readonly string[] = [
  'u3-rt-pro',
  'universal-3-5-pro',
  'universal-3-6-pro',
  'universal-streaming-english',
  'universal-streaming-multilingual',
];

/**
 * Whether a model is a Universal-Streaming ("legacy") model rather than Universal-3 Pro. They differ in the fake:
 * legacy models send no `SpeechStarted`, partials carry a growing `end_of_turn_confidence`, finals are unformatted
 * unless `format_turns=true` (then followed by a formatted copy), and `min_turn_silence` does not apply.
 * Source: [spec-usm] vs [spec-u3], [notes] (`SpeechStarted` is U3 only, `format_turns` does not apply to u3-rt-pro).
 */
export function isLegacyModel(speechModel: string): boolean {
  return speechModel.startsWith('universal-streaming');
}

/** Query parameters documented for `/v3/ws`. Source: [spec-u3] and [spec-usm] channel parameters. */
export const KNOWN_QUERY_PARAMS: readonly string[] = [
  'sample_rate', 'encoding', 'speech_model', 'keyterms_prompt', 'min_turn_silence', 'max_turn_silence',
  'inactivity_timeout', 'language_detection', 'prompt', 'token', 'vad_threshold', 'format_turns',
  'end_of_turn_confidence_threshold', 'min_end_of_turn_silence_when_confident', 'language',
  // Expected spoken languages, a JSON array like keyterms_prompt (assemblyai-python-sdk streaming v3
  // `RealTimeParameters.language_codes`, which supersedes the deprecated single `language_code`).
  'language_codes',
  // A prompt run on each final turn, a JSON object (`assemblyai/llm-gateway.ts`).
  'llm_gateway',
];

/** Fields documented for `UpdateConfiguration` (either model family). Source: [spec-u3], [spec-usm] `UpdateConfigurationPayload`. */
export const UPDATE_CONFIGURATION_FIELDS: readonly string[] = [
  'type', 'prompt', 'keyterms_prompt', 'min_turn_silence', 'max_turn_silence',
  'end_of_turn_confidence_threshold', 'min_end_of_turn_silence_when_confident',
];

/** A rule breach: the Error frame to send (`code`, `error`) and the violation text for tests. */
export interface Breach {
  /** Close code, also the Error frame's `error_code`. */
  code: number;
  /** The Error frame's `error` text, in the documented wording. */
  error: string;
  /** What the client did wrong, in words (goes to `violations`). */
  violation: string;
}

/** Close-frame reason for an error text: the text itself, or {@link LONG_REASON} when over 123 bytes. Source: [errors]. */
export function closeReason(error: string): string {
  return Buffer.byteLength(error, 'utf8') > 123 ? LONG_REASON : error;
}

function formatMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(2);
}

/**
 * Checks one binary frame's size: a whole number of s16le samples, 50–1000 ms at 16 kHz (1,600–32,000 bytes).
 * @returns undefined when valid, else a 3007 breach ("Input duration violation: <ms> ms. Expected between 50 and 1000 ms").
 * Source: [spec-u3] `sendAudio`, [errors] 3007. An odd byte length is not documented separately; it is reported with
 * the same 3007 text (its duration is fractional) because the frame is not whole audio.
 */
export function checkFrame(byteLength: number): Breach | undefined {
  const ms = byteLength / BYTES_PER_MS;
  const error = `Input duration violation: ${formatMs(ms)} ms. Expected between ${MIN_FRAME_MS} and ${MAX_FRAME_MS} ms`;
  if (byteLength % 2 !== 0) {
    return { code: CLOSE.audioViolation, error, violation: `binary frame of ${byteLength} bytes is not a whole number of s16le samples` };
  }
  if (ms < MIN_FRAME_MS || ms > MAX_FRAME_MS) {
    return { code: CLOSE.audioViolation, error, violation: `binary frame of ${byteLength} bytes (${formatMs(ms)} ms) is outside 50–1000 ms` };
  }
  return undefined;
}

/**
 * The "too fast" rule: audio received may lead wall-clock time since the session opened by at most `maxAheadMs`.
 * @param audioMs total audio received including this frame, ms. @param elapsedMs wall-clock ms since the session opened.
 * @returns undefined when within the allowance, else a 3007 breach ("Audio Transmission Rate Exceeded: Received <s> sec.
 * audio in <s> sec"). Source: [errors] 3007, [notes] ("Sending faster than real time closes the session with 3007").
 * The service's exact allowance is undocumented; `maxAheadMs` models it.
 */
export function checkRate(audioMs: number, elapsedMs: number, maxAheadMs: number): Breach | undefined {
  if (audioMs - elapsedMs <= maxAheadMs) return undefined;
  const error = `Audio Transmission Rate Exceeded: Received ${(audioMs / 1000).toFixed(2)} sec. audio in ${(elapsedMs / 1000).toFixed(2)} sec`;
  return { code: CLOSE.audioViolation, error, violation: `audio sent faster than real time: ${audioMs} ms of audio after ${Math.round(elapsedMs)} ms (allowance ${maxAheadMs} ms)` };
}

/** Why a `keyterms_prompt` value is invalid (JSON array of ≤100 strings, each ≤50 characters), or undefined if valid. Source: [notes]. */
export function keytermsProblem(value: unknown): string | undefined {
  if (!Array.isArray(value)) return 'must be a JSON array of strings';
  if (value.length > MAX_KEYTERMS) return `has ${value.length} terms, at most ${MAX_KEYTERMS} allowed`;
  for (const term of value) {
    if (typeof term !== 'string') return 'must contain only strings';
    if ([...term].length > MAX_KEYTERM_CHARS) return `term "${term}" is over ${MAX_KEYTERM_CHARS} characters`;
  }
  return undefined;
}

function nonNegativeIntegerText(text: string): boolean {
  return /^\d+$/.test(text);
}

function invalidQuery(name: string, value: string | null, why: string): Breach {
  const shown = value === null ? 'missing' : `"${value}"`;
  return { code: CLOSE.invalidMessage, error: `Invalid Message: query parameter ${name} is ${shown}: ${why}`, violation: `query parameter ${name} ${shown}: ${why}` };
}

/**
 * Validates the connection query. Required: `sample_rate=16000`, `encoding=pcm_s16le`, `speech_model` (one of
 * {@link KNOWN_SPEECH_MODELS}). Optional, checked when present: `keyterms_prompt` (JSON array, ≤100 strings of ≤50
 * characters), `min_turn_silence`/`max_turn_silence` (non-negative integer ms), `inactivity_timeout` (integer 5–3600 s),
 * `format_turns`/`language_detection` (`true`/`false`), `llm_gateway` (see `llmGatewayProblem`).
 *
 * Error code: the service's code for a bad query parameter is not documented; the fake answers **3006** ("Invalid
 * Message: …", the documented code for invalid client input, [errors]). `sample_rate` must be exactly 16000 because the
 * fake's frame-size and timing rules are computed for 16 kHz (the real service accepts other rates). Sources: [spec-u3],
 * [spec-usm] channel parameters, [notes].
 * @returns the first breach found, or undefined when the query is acceptable.
 */
export function checkQuery(query: URLSearchParams): Breach | undefined {
  const sampleRate = query.get('sample_rate');
  if (sampleRate !== String(SAMPLE_RATE_HZ)) return invalidQuery('sample_rate', sampleRate, `required, must be ${SAMPLE_RATE_HZ}`);
  const encoding = query.get('encoding');
  if (encoding !== 'pcm_s16le') return invalidQuery('encoding', encoding, 'required, must be pcm_s16le');
  const model = query.get('speech_model');
  if (model === null || !KNOWN_SPEECH_MODELS.includes(model)) {
    return invalidQuery('speech_model', model, `required, one of ${KNOWN_SPEECH_MODELS.join(', ')}`);
  }
  const keyterms = query.get('keyterms_prompt');
  if (keyterms !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(keyterms);
    } catch {
      return invalidQuery('keyterms_prompt', keyterms, 'is not JSON');
    }
    const problem = keytermsProblem(parsed);
    if (problem !== undefined) return invalidQuery('keyterms_prompt', keyterms, problem);
  }
  for (const name of ['min_turn_silence', 'max_turn_silence']) {
    const value = query.get(name);
    if (value !== null && !nonNegativeIntegerText(value)) return invalidQuery(name, value, 'must be a non-negative integer (ms)');
  }
  const inactivity = query.get('inactivity_timeout');
  if (inactivity !== null && (!nonNegativeIntegerText(inactivity) || Number(inactivity) < 5 || Number(inactivity) > 3600)) {
    return invalidQuery('inactivity_timeout', inactivity, 'must be an integer from 5 to 3600 (s)');
  }
  const languageCodes = query.get('language_codes');
  if (languageCodes !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(languageCodes);
    } catch {
      return invalidQuery('language_codes', languageCodes, 'is not JSON');
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((code) => typeof code === 'string' && /^[a-z]{2,3}$/.test(code))) {
      return invalidQuery('language_codes', languageCodes, 'must be a JSON array of language codes such as ["en","es"]');
    }
  }
  for (const name of ['format_turns', 'language_detection']) {
    const value = query.get(name);
    if (value !== null && value !== 'true' && value !== 'false') return invalidQuery(name, value, 'must be true or false');
  }
  const llmGateway = query.get('llm_gateway');
  if (llmGateway !== null) {
    const problem = llmGatewayProblem(llmGateway);
    if (problem !== undefined) return invalidQuery('llm_gateway', llmGateway.length > 200 ? `${llmGateway.slice(0, 200)}…` : llmGateway, problem);
  }
  return undefined;
}

/** Names in `query` that are not documented query parameters ({@link KNOWN_QUERY_PARAMS}): likely typos, which a service would silently ignore. */
export function unknownQueryParams(query: URLSearchParams): string[] {
  return [...new Set(query.keys())].filter((name) => !KNOWN_QUERY_PARAMS.includes(name));
}

/** A client text message that passed validation. */
export type ClientMessage =
  | { type: 'Terminate' }
  | { type: 'ForceEndpoint' }
  | { type: 'KeepAlive' }
  | {
      type: 'UpdateConfiguration';
      prompt?: string | null;
      keyterms_prompt?: string[] | null;
      min_turn_silence?: number | null;
      max_turn_silence?: number | null;
      end_of_turn_confidence_threshold?: number | null;
      min_end_of_turn_silence_when_confident?: number | null;
    };

/** Result of {@link parseClientMessage}: the parsed JSON (if any), the valid message, or the breach; plus soft warnings. */
export interface ParsedClientMessage {
  /** The parsed JSON object, when the text was a JSON object (recorded even if invalid). */
  json?: Record<string, unknown>;
  message?: ClientMessage;
  breach?: Breach;
  /** Violations that the service would not answer (unknown UpdateConfiguration fields): reported, session stays open. */
  warnings: string[];
}

function isNullableInteger(value: unknown): boolean {
  return value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 0);
}

function shorten(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Parses and validates a client text frame. Known types: `Terminate`, `ForceEndpoint`, `KeepAlive`,
 * `UpdateConfiguration` (fields `prompt` string, `keyterms_prompt` per {@link keytermsProblem},
 * `min_turn_silence`/`max_turn_silence`/`min_end_of_turn_silence_when_confident` non-negative integer ms,
 * `end_of_turn_confidence_threshold` 0–1; each may be null). Breaches answer 3006 with the documented texts
 * "Invalid JSON: <json>", "Invalid Message: <message>" (not an object, or a bad field value) and
 * "Invalid Message Type: <type>". Sources: [spec-u3], [spec-usm] message payloads, [errors] 3006.
 */
export function parseClientMessage(text: string): ParsedClientMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { breach: { code: CLOSE.invalidMessage, error: `Invalid JSON: ${shorten(text)}`, violation: `text frame is not JSON: ${shorten(text)}` }, warnings: [] };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { breach: { code: CLOSE.invalidMessage, error: `Invalid Message: ${shorten(text)}`, violation: `text frame is not a JSON object: ${shorten(text)}` }, warnings: [] };
  }
  const object = json as Record<string, unknown>;
  const type = object['type'];
  const badType = (): ParsedClientMessage => ({
    json: object,
    breach: { code: CLOSE.invalidMessage, error: `Invalid Message Type: ${String(type)}`, violation: `unknown client message type ${JSON.stringify(type)}` },
    warnings: [],
  });
  if (type === 'Terminate' || type === 'ForceEndpoint' || type === 'KeepAlive') return { json: object, message: { type }, warnings: [] };
  if (type !== 'UpdateConfiguration') return badType();

  const invalid = (why: string): ParsedClientMessage => ({
    json: object,
    breach: { code: CLOSE.invalidMessage, error: `Invalid Message: ${shorten(text)}`, violation: `UpdateConfiguration ${why}` },
    warnings: [],
  });
  if ('prompt' in object && object['prompt'] !== null && typeof object['prompt'] !== 'string') return invalid('prompt must be a string or null');
  if ('keyterms_prompt' in object && object['keyterms_prompt'] !== null) {
    const problem = keytermsProblem(object['keyterms_prompt']);
    if (problem !== undefined) return invalid(`keyterms_prompt ${problem}`);
  }
  for (const name of ['min_turn_silence', 'max_turn_silence', 'min_end_of_turn_silence_when_confident']) {
    if (name in object && !isNullableInteger(object[name])) return invalid(`${name} must be a non-negative integer (ms) or null`);
  }
  const threshold = object['end_of_turn_confidence_threshold'];
  if (threshold !== undefined && threshold !== null && !(typeof threshold === 'number' && threshold >= 0 && threshold <= 1)) {
    return invalid('end_of_turn_confidence_threshold must be a number from 0 to 1 or null');
  }
  const unknown = Object.keys(object).filter((key) => !UPDATE_CONFIGURATION_FIELDS.includes(key));
  const warnings = unknown.map((key) => `UpdateConfiguration has undocumented field ${JSON.stringify(key)} (not applied)`);
  return { json: object, message: object as ClientMessage, warnings };
}
