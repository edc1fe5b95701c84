/**
 * Parley's configuration: read once at start-up from the environment (and `.env`), validated, and passed
 * down. No other module reads `process.env`.
 */
import { z } from 'zod';

const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const wholeMs = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(min, { error: `must be at least ${min} ms` })
    .max(max, { error: `must be at most ${max} ms` });

const streamingUrl = z
  .url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' })
  .default('wss://streaming.assemblyai.com/v3/ws');

/** Keyterms rules from AssemblyAI's Streaming v3 docs: at most 100 terms, each at most 50 characters. */
export const KEYTERMS_MAX_COUNT = 100;
/** @see KEYTERMS_MAX_COUNT */
export const KEYTERM_MAX_LENGTH = 50;

const keyterms = csv.pipe(
  z
    .array(z.string().max(KEYTERM_MAX_LENGTH, { error: `each term must be at most ${KEYTERM_MAX_LENGTH} characters` }))
    .max(KEYTERMS_MAX_COUNT, { error: `at most ${KEYTERMS_MAX_COUNT} terms` }),
);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const sttSchema = z.object({
  ASSEMBLYAI_API_KEY: z.string({ error: 'is required (your AssemblyAI API key)' }).trim().min(1, { error: 'is required (your AssemblyAI API key)' }),
  ASSEMBLYAI_STREAMING_URL: streamingUrl,
  // Universal-3.6 Pro: the streaming default and recommendation of AssemblyAI's model selection page (32 languages
  // with code switching, against u3-rt-pro's 6); see the README's language table.
  ASSEMBLYAI_SPEECH_MODEL: z.string().trim().min(1).default('universal-3-6-pro'),
  // 750 ms: the longest idle close that keeps billing within 1.3× speech in a two-person dialogue once each
  // reopen's handshake is billed (bench/README.md, part 5).
  STT_IDLE_CLOSE_MS: wholeMs(250, 3_600_000).default(750),
  STT_IDLE_CLOSE_MAX_MS: wholeMs(1_000, 3_600_000).default(15_000),
  // AssemblyAI docs, streaming "Concurrency": new sessions per minute start at 100 on paid accounts, 5 on free ones.
  ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE: z.coerce
    .number({ error: 'must be a whole number of sessions per minute' })
    .int({ error: 'must be a whole number of sessions per minute' })
    .min(1, { error: 'must be at least 1' })
    .max(100_000, { error: 'must be at most 100000' })
    .default(100),
  STT_MIN_TURN_SILENCE_MS: wholeMs(0, 10_000).optional(),
  STT_MAX_TURN_SILENCE_MS: wholeMs(100, 10_000).default(1_000),
  STT_KEYTERMS: keyterms,
  DATA_DIR: z.string().trim().min(1).default('./data'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

const llmSchema = z.object({
  LLM_GATEWAY_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('https://llm-gateway.assemblyai.com/v1'),
  LLM_API_KEY: z.string().trim().optional(),
  TRANSLATION_MODEL: z.string().trim().min(1).default('gemini-2.5-flash-lite'),
  TRANSLATION_FALLBACK_MODELS: csv,
  TRANSLATION_MODE: z.enum(['batched', 'in-stream'], { error: 'must be batched or in-stream' }).default('batched'),
  RECAP_MODEL: z.string().trim().min(1).default('claude-sonnet-4-6'),
  RECAP_FALLBACK_MODELS: csv,
  LLM_TIMEOUT_MS: wholeMs(1_000, 600_000).default(30_000),
  RECAP_TIMEOUT_MS: wholeMs(1_000, 600_000).default(120_000),
});

const minutes = (max: number) =>
  z.coerce
    .number({ error: 'must be a number of minutes' })
    .positive({ error: 'must be more than 0 minutes' })
    .max(max, { error: `must be at most ${max} minutes` });
const seconds = (max: number) =>
  z.coerce.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be 0 or more seconds' }).max(max, { error: `must be at most ${max} seconds` });
const positiveWhole = (what: string) =>
  z.coerce.number({ error: `must be a whole number of ${what}` }).int({ error: `must be a whole number of ${what}` }).positive({ error: `must be at least 1 ${what}` });

const limitsSchema = z.object({
  COOLDOWN_MEMBER_S: seconds(3_600).default(10),
  COOLDOWN_GUILD_S: seconds(3_600).default(30),
  MAX_MEETING_MINUTES: minutes(1_440).default(240),
  MAX_MEETING_WARNING_MINUTES: minutes(1_440).default(10),
  EMPTY_CHANNEL_LEAVE_MINUTES: minutes(1_440).default(3),
  DAILY_STT_MINUTES_PER_GUILD: minutes(1_440).optional(),
  DAILY_LLM_REQUESTS_PER_GUILD: z.coerce.number({ error: 'must be a whole number of requests' }).int({ error: 'must be a whole number of requests' }).min(0, { error: 'must be 0 (off) or more requests' }).max(1_000_000, { error: 'must be at most 1000000 requests' }).optional(),
  DATA_RETENTION_DAYS: positiveWhole('days').optional(),
});

const webSchema = z.object({
  WEB_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65_535).optional(),
  WEB_HOST: z.string().trim().min(1).default('0.0.0.0'),
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  WEB_LINK_SECRET: z.string().trim().min(32, { error: 'must be at least 32 characters' }).optional(),
});

const discordSchema = z.object({
  DISCORD_TOKEN: z.string({ error: 'is required (the bot token from the Discord Developer Portal)' }).trim().min(1, { error: 'is required (the bot token from the Discord Developer Portal)' }),
  DISCORD_CLIENT_ID: z
    .string({ error: 'is required (the application id from the Discord Developer Portal)' })
    .regex(/^\d{17,20}$/, { error: 'must be the application id: a number of 17 to 20 digits' }),
  DISCORD_GUILD_ID: z.string().regex(/^\d{17,20}$/, { error: 'must be a guild (server) id: a number of 17 to 20 digits' }).optional(),
  DISCORD_REST_API_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  METRICS_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65_535).optional(),
});

/** Settings for the AssemblyAI Streaming v3 sessions, one per speaker. */
export interface SttConfig {
  /** The raw AssemblyAI API key, sent as the `Authorization` header. Never logged. */
  apiKey: string;
  /** WebSocket endpoint, e.g. `wss://streaming.assemblyai.com/v3/ws` (EU: `wss://streaming.eu.assemblyai.com/v3/ws`). */
  streamingUrl: string;
  /** `speech_model` query parameter, e.g. `u3-rt-pro`. */
  speechModel: string;
  /** Close a speaker's session (with `Terminate`) after this much silence, in ms; AssemblyAI bills open time. */
  idleCloseMs: number;
  /** The idle close grows up to this, ms, while AssemblyAI limits new sessions (3009) or the budget runs short. */
  idleCloseMaxMs: number;
  /**
   * Most new sessions the whole process opens per minute, shared by every meeting and speaker (AssemblyAI's limit is
   * per account: 100 to start on paid accounts, 5 on free ones; docs/streaming/concurrency).
   */
  newSessionsPerMinute: number;
  /** `min_turn_silence` in ms, or undefined for the model's default. */
  minTurnSilenceMs: number | undefined;
  /** `max_turn_silence` in ms: the longest silence after which a turn ends. */
  maxTurnSilenceMs: number;
  /** `keyterms_prompt`: at most 100 terms of at most 50 characters. */
  keyterms: string[];
}

/** Settings for the AssemblyAI LLM Gateway (translation and recaps). */
export interface LlmConfig {
  /** OpenAI-compatible base URL, e.g. `https://llm-gateway.assemblyai.com/v1`. */
  baseUrl: string;
  /** Raw key for `Authorization`; `LLM_API_KEY`, else the AssemblyAI key. Never logged. */
  apiKey: string;
  translationModel: string;
  translationFallbackModels: string[];
  /**
   * `batched`: Parley sends each final (coalesced under backlog) to the gateway itself. `in-stream`: each speaker's
   * AssemblyAI session carries an `llm_gateway` prompt and AssemblyAI answers every final turn on the same socket
   * (no fallback models; changing languages renews the sessions). See the README for when each is better.
   */
  translationMode: 'batched' | 'in-stream';
  recapModel: string;
  recapFallbackModels: string[];
  /** Per-attempt timeout of translation requests, ms (`LLM_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Per-attempt timeout of recap requests, ms (`RECAP_TIMEOUT_MS`): a recap writes far more than a translation. */
  recapTimeoutMs: number;
}

/** Settings for the Discord bot. */
export interface DiscordConfig {
  /** Bot token. Never logged. */
  token: string;
  /** Application id. */
  clientId: string;
  /** Register commands to this guild only (instant, for development). */
  guildId: string | undefined;
  /** Alternative REST base (a rate-limit proxy, or a local server in tests), e.g. `http://127.0.0.1:8080/api`. */
  restApiUrl: string | undefined;
  /** Port for `/healthz` and `/metrics`; undefined to serve neither. */
  metricsPort: number | undefined;
}

/** Abuse limits and data retention (README "Limits"). */
export interface LimitsConfig {
  /** A member may run `/join`, `/end` or `/recap` once per this, ms (per command); 0: no cooldown. */
  memberCooldownMs: number;
  /** A guild may run each of them once per this, ms; 0: no cooldown. */
  guildCooldownMs: number;
  /** A meeting ends (transcript posted) after this long, ms. */
  maxMeetingMs: number;
  /** The channel is warned this long before the maximum length, ms (at most half the maximum). */
  maxMeetingWarningMs: number;
  /** Parley leaves (transcript posted) after the voice channel has had no member for this long, ms. */
  emptyChannelLeaveMs: number;
  /** Speech-to-text session time a guild may use per UTC day, ms (what AssemblyAI bills); undefined: no budget. */
  dailySttMsPerGuild: number | undefined;
  /** LLM requests (translations and recaps) a guild may cause per UTC day; undefined (or 0 in the environment): no budget. */
  dailyLlmRequestsPerGuild: number | undefined;
  /** Meetings that ended more than this many days ago are deleted; undefined: kept until deleted by hand. */
  dataRetentionDays: number | undefined;
}

/** Settings for the caption page (served only when `WEB_PORT` is set). */
export interface WebConfig {
  port: number;
  /** Address to listen on. */
  host: string;
  /** Base of the links `/captions` hands out, e.g. `https://captions.example.org`; default `http://localhost:PORT`. */
  publicUrl: string;
  /** HMAC key for links; undefined: generated once and kept in `DATA_DIR/web-link-secret`. Never logged. */
  linkSecret: string | undefined;
}

/** Everything Parley reads from its environment. */
export interface Config {
  /** Undefined unless `WEB_PORT` is set. */
  web: WebConfig | undefined;
  stt: SttConfig;
  llm: LlmConfig;
  limits: LimitsConfig;
  /** Directory for the database and transcripts. */
  dataDir: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Thrown when the environment does not hold a valid configuration; `message` is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** An empty variable (`FOO=` in `.env`) means "not set", so its default applies. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && value.trim() !== '') set[name] = value;
  return set;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'Invalid configuration';
  const variable = String(issue.path[0] ?? 'configuration');
  return `Invalid configuration: ${variable} ${issue.message}`;
}

/**
 * Validates `env` (normally `process.env` after `.env` is loaded).
 *
 * @throws {ConfigError} naming the first variable that is missing or wrong; the message never contains a secret.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const set = withoutEmpty(env);
  const parsed = sttSchema.safeParse(set);
  if (!parsed.success) throw new ConfigError(firstIssue(parsed.error));
  const llm = llmSchema.safeParse(set);
  if (!llm.success) throw new ConfigError(firstIssue(llm.error));
  const limits = limitsSchema.safeParse(set);
  if (!limits.success) throw new ConfigError(firstIssue(limits.error));
  const web = webSchema.safeParse(set);
  if (!web.success) throw new ConfigError(firstIssue(web.error));
  const e = parsed.data;
  const l = llm.data;
  const m = limits.data;
  const w = web.data;
  const minute = 60_000;
  return {
    web:
      w.WEB_PORT === undefined
        ? undefined
        : { port: w.WEB_PORT, host: w.WEB_HOST, publicUrl: (w.PUBLIC_URL ?? `http://localhost:${w.WEB_PORT}`).replace(/\/+$/, ''), linkSecret: w.WEB_LINK_SECRET },
    limits: {
      memberCooldownMs: Math.round(m.COOLDOWN_MEMBER_S * 1000),
      guildCooldownMs: Math.round(m.COOLDOWN_GUILD_S * 1000),
      maxMeetingMs: Math.round(m.MAX_MEETING_MINUTES * minute),
      maxMeetingWarningMs: Math.round(Math.min(m.MAX_MEETING_WARNING_MINUTES, m.MAX_MEETING_MINUTES / 2) * minute),
      emptyChannelLeaveMs: Math.round(m.EMPTY_CHANNEL_LEAVE_MINUTES * minute),
      dailySttMsPerGuild: m.DAILY_STT_MINUTES_PER_GUILD === undefined ? undefined : Math.round(m.DAILY_STT_MINUTES_PER_GUILD * minute),
      dailyLlmRequestsPerGuild: m.DAILY_LLM_REQUESTS_PER_GUILD === undefined || m.DAILY_LLM_REQUESTS_PER_GUILD === 0 ? undefined : m.DAILY_LLM_REQUESTS_PER_GUILD,
      dataRetentionDays: m.DATA_RETENTION_DAYS,
    },
    llm: {
      baseUrl: l.LLM_GATEWAY_URL,
      apiKey: l.LLM_API_KEY !== undefined && l.LLM_API_KEY.length > 0 ? l.LLM_API_KEY : e.ASSEMBLYAI_API_KEY,
      translationModel: l.TRANSLATION_MODEL,
      translationFallbackModels: l.TRANSLATION_FALLBACK_MODELS,
      translationMode: l.TRANSLATION_MODE,
      recapModel: l.RECAP_MODEL,
      recapFallbackModels: l.RECAP_FALLBACK_MODELS,
      timeoutMs: l.LLM_TIMEOUT_MS,
      recapTimeoutMs: l.RECAP_TIMEOUT_MS,
    },
    stt: {
      apiKey: e.ASSEMBLYAI_API_KEY,
      streamingUrl: e.ASSEMBLYAI_STREAMING_URL,
      speechModel: e.ASSEMBLYAI_SPEECH_MODEL,
      idleCloseMs: e.STT_IDLE_CLOSE_MS,
      idleCloseMaxMs: e.STT_IDLE_CLOSE_MAX_MS,
      newSessionsPerMinute: e.ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE,
      minTurnSilenceMs: e.STT_MIN_TURN_SILENCE_MS,
      maxTurnSilenceMs: e.STT_MAX_TURN_SILENCE_MS,
      keyterms: e.STT_KEYTERMS,
    },
    dataDir: e.DATA_DIR,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * Validates the Discord settings (`DISCORD_TOKEN`, `DISCORD_CLIENT_ID`, optional `DISCORD_GUILD_ID`,
 * `DISCORD_REST_API_URL`, `METRICS_PORT`).
 *
 * @throws {ConfigError} naming the first variable that is missing or wrong; never containing the token.
 */
export function loadDiscordConfig(env: Record<string, string | undefined>): DiscordConfig {
  const parsed = discordSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) throw new ConfigError(firstIssue(parsed.error));
  const d = parsed.data;
  return {
    token: d.DISCORD_TOKEN,
    clientId: d.DISCORD_CLIENT_ID,
    guildId: d.DISCORD_GUILD_ID,
    restApiUrl: d.DISCORD_REST_API_URL,
    metricsPort: d.METRICS_PORT,
  };
}

/** Every secret in the configuration, for the logger to scrub. */
export function secretsOf(config: Config, discord?: DiscordConfig): string[] {
  return [config.stt.apiKey, config.llm.apiKey, ...(config.web?.linkSecret === undefined ? [] : [config.web.linkSecret]), ...(discord === undefined ? [] : [discord.token])];
}
