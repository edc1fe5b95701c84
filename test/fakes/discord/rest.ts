/**
 * The stand-in's HTTP API: request recording, routing, authentication, Discord-style errors and injected
 * 429s. Routes live in rest-routes.ts.
 *
 * URL shape: @discordjs/rest builds `${api}/v${version}${route}${query}` (REST.resolveRequest in
 * node_modules/@discordjs/rest/dist/index.js), so with `rest: { api: standIn.restApiUrl }` (= `http://127.0.0.1:PORT/api`)
 * the client requests `/api/v10/...`.
 */
import type { RateLimitData } from 'discord.js';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RecordLog } from './record-log.ts';
import type { WaitOptions } from './record-log.ts';

/** A file uploaded in a multipart/form-data request. */
export interface RecordedFile {
  /** The form field, e.g. `files[0]`. */
  field: string;
  name: string;
  size: number;
  contentType: string;
  data: Buffer;
}

/** One HTTP request the stand-in received, and what it answered. */
export interface RecordedRequest {
  method: string;
  /** The full path, e.g. `/api/v10/channels/1/messages`. */
  path: string;
  /** The path after `/api/v10`, percent-decoded per segment, e.g. `/webhooks/1/tok/messages/@original` (clients send `%40original`). */
  route: string;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Parsed JSON body, or the parsed `payload_json` part of a multipart body; `undefined` when empty. */
  body: unknown;
  files: RecordedFile[];
  status: number;
  responseBody: unknown;
}

/** A request as route handlers see it. */
export type RestRequest = Omit<RecordedRequest, 'status' | 'responseBody'>;

/** What a route handler answers. */
export interface RestResult {
  status: number;
  body?: unknown;
}

/** Matches requests: `'POST /channels/:id/messages'` (`:x` = one path segment, `*` = any method), a RegExp tested against `'METHOD /route'`, or a predicate. */
export type RouteMatcher = string | RegExp | ((request: RestRequest) => boolean);

/** Options of {@link RestServer.rateLimitNext}. */
export interface RateLimitOptions {
  /** Seconds to wait; sent as `Retry-After`, `retry_after` and `X-RateLimit-Reset-After`. */
  retryAfterS: number;
  /** A global limit: `X-RateLimit-Global: true`, scope `global`, `global: true` in the body. */
  global?: boolean;
  /** How many matching requests to answer with 429 (default 1). */
  count?: number;
  /** `X-RateLimit-Scope` of a non-global limit (default `user`), as discord.js's REST reads it. */
  scope?: Exclude<RateLimitData['scope'], 'global'>;
}

/** A route of the stand-in. */
export interface Route {
  method: string;
  /** Pattern with `:params`, e.g. `/channels/:channelId/messages`. */
  pattern: string;
  /** Whether `Authorization: Bot <token>` is required (interaction callbacks and webhooks are not). */
  auth: boolean;
  handle(request: RestRequest, params: Record<string, string>): RestResult | Promise<RestResult>;
}

/** A Discord JSON error (discord-api-docs "Opcodes and Status Codes": JSON Error Codes; "Error Messages"). */
export function discordError(status: number, code: number, message: string, errors?: unknown): RestResult {
  return { status, body: { message, code, ...(errors === undefined ? {} : { errors }) } };
}

const API_PREFIX = '/api/v10';

/** The HTTP side of the stand-in. */
export class RestServer {
  /** Every request received, in order. */
  readonly requests = new RecordLog<RecordedRequest>('REST request', (r) => `${r.method} ${r.route} → ${r.status}`);
  readonly #server: Server;
  readonly #routes: Route[];
  readonly #token: string | undefined;
  readonly #limits: Array<{ matches: (request: RestRequest) => boolean; options: RateLimitOptions; left: number }> = [];

  private constructor(server: Server, routes: Route[], token: string | undefined) {
    this.#server = server;
    this.#routes = routes;
    this.#token = token;
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  static async start(routes: Route[], token?: string): Promise<RestServer> {
    const server = createServer();
    const rest = new RestServer(server, routes, token);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      rest.#handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return rest;
  }

  /** `http://127.0.0.1:PORT/api`, for `new Client({ rest: { api } })`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/api`;
  }

  /** Resolves on the first request (recorded or future) matching `predicate`. */
  waitForRequest(predicate: (request: RecordedRequest) => boolean, options?: WaitOptions): Promise<RecordedRequest> {
    return this.requests.waitFor(predicate, options);
  }

  /**
   * Answers the next `count` requests matching `matcher` with 429, a body `{message, retry_after, global, code: 0}`
   * and the headers discord-api-docs "Rate Limits" describes (`Retry-After`, `X-RateLimit-Limit`, `-Remaining: 0`,
   * `-Reset`, `-Reset-After`, `-Bucket`, `-Scope`, and `X-RateLimit-Global` for global limits).
   * Unlike Discord, `Retry-After` keeps its fraction, so tests need not wait whole seconds.
   */
  rateLimitNext(matcher: RouteMatcher, options: RateLimitOptions): void {
    this.#limits.push({ matches: compileMatcher(matcher), options, left: options.count ?? 1 });
  }

  /** Closes connections and stops listening. */
  async close(): Promise<void> {
    this.requests.rejectAll('stand-in closed');
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request: RestRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      route: decodeSegments(url.pathname.startsWith(`${API_PREFIX}/`) ? url.pathname.slice(API_PREFIX.length) : url.pathname),
      query: Object.fromEntries(url.searchParams),
      headers,
      body: undefined,
      files: [],
    };
    let result: RestResult;
    let extraHeaders: Record<string, string> = {};
    try {
      await parseBody(request, raw);
    } catch {
      request.body = raw.toString('utf8');
      return this.#answer(res, request, discordError(400, 50109, 'The request body contains invalid JSON.'), {});
    }
    try {
      const limited = this.#takeRateLimit(request);
      if (limited) {
        ({ result, headers: extraHeaders } = limited);
      } else {
        result = await this.#route(request);
        extraHeaders = bucketHeaders(request.method, request.route, 5, 4, 5);
      }
    } catch (error) {
      result = { status: 500, body: { message: `500: Internal Server Error (${String(error)})`, code: 0 } };
    }
    this.#answer(res, request, result, extraHeaders);
  }

  #answer(res: ServerResponse, request: RestRequest, result: RestResult, extraHeaders: Record<string, string>): void {
    const payload = result.body === undefined ? undefined : JSON.stringify(result.body);
    // Record a copy of what was answered: handlers return live world objects (a message is mutated by its later
    // edits), and the record must keep what this response said, e.g. this edit's edited_timestamp.
    this.requests.push({ ...request, status: result.status, responseBody: payload === undefined ? undefined : JSON.parse(payload) });
    res.writeHead(result.status, {
      ...extraHeaders,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    });
    res.end(payload);
  }

  async #route(request: RestRequest): Promise<RestResult> {
    if (!request.path.startsWith(`${API_PREFIX}/`)) return discordError(404, 0, '404: Not Found');
    let pathMatched = false;
    for (const route of this.#routes) {
      const params = matchPattern(route.pattern, request.route);
      if (!params) continue;
      pathMatched = true;
      if (route.method !== request.method) continue;
      if (route.auth && !this.#authorised(request.headers.authorization)) return discordError(401, 0, '401: Unauthorized');
      return route.handle(request, params);
    }
    return pathMatched ? discordError(405, 0, '405: Method Not Allowed') : discordError(404, 0, '404: Not Found');
  }

  #authorised(header: string | undefined): boolean {
    if (!header?.startsWith('Bot ')) return false;
    return this.#token === undefined || header.slice(4) === this.#token;
  }

  #takeRateLimit(request: RestRequest): { result: RestResult; headers: Record<string, string> } | undefined {
    const limit = this.#limits.find((l) => l.left > 0 && l.matches(request));
    if (!limit) return undefined;
    limit.left -= 1;
    const { retryAfterS, global = false, scope = 'user' } = limit.options;
    const headers: Record<string, string> = global
      ? { 'retry-after': String(retryAfterS), 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' }
      : { ...bucketHeaders(request.method, request.route, 5, 0, retryAfterS), 'retry-after': String(retryAfterS), 'x-ratelimit-scope': scope };
    return {
      result: { status: 429, body: { message: 'You are being rate limited.', retry_after: retryAfterS, global, code: 0 } },
      headers,
    };
  }
}

/**
 * Per-route bucket headers. The bucket hash comes from the method and route with ids replaced, except the ids
 * of major parameters (channel, guild, webhook), as discord-api-docs "Rate Limits" describes buckets.
 */
function bucketHeaders(method: string, route: string, limit: number, remaining: number, resetAfterS: number): Record<string, string> {
  const segments = route.split('/');
  const template = segments
    .map((segment, index) => {
      const previous = segments[index - 1] ?? '';
      const major = previous === 'channels' || previous === 'guilds' || previous === 'webhooks';
      return /^\d{15,21}$/.test(segment) && !major ? ':id' : segment;
    })
    .join('/');
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset': ((Date.now() + resetAfterS * 1000) / 1000).toFixed(3),
    'x-ratelimit-reset-after': resetAfterS.toFixed(3),
    'x-ratelimit-bucket': createHash('sha1').update(`${method} ${template}`).digest('hex').slice(0, 32),
  };
}

/** Matches `pattern` (`/a/:x/b`) against `route`; returns the params or undefined. */
export function matchPattern(pattern: string, route: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = route.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of want.entries()) {
    const value = got[index] ?? '';
    if (part.startsWith(':')) {
      if (value === '') return undefined;
      params[part.slice(1)] = value;
    } else if (part !== value) {
      return undefined;
    }
  }
  return params;
}

function decodeSegments(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    })
    .join('/');
}

function compileMatcher(matcher: RouteMatcher): (request: RestRequest) => boolean {
  if (typeof matcher === 'function') return matcher;
  if (matcher instanceof RegExp) return (request) => matcher.test(`${request.method} ${request.route}`);
  const [method = '*', pattern = ''] = matcher.trim().split(/\s+/, 2);
  return (request) => (method === '*' || method.toUpperCase() === request.method) && matchPattern(pattern, request.route) !== undefined;
}

/** Fills `request.body` and `request.files` from JSON or multipart/form-data (files + `payload_json`). */
async function parseBody(request: RestRequest, raw: Buffer): Promise<void> {
  if (raw.length === 0) return;
  const type = request.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': type } }).formData();
    const fields: Record<string, unknown> = {};
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') Object.assign(fields, JSON.parse(value) as object);
        else fields[field] = value;
      } else {
        const data = Buffer.from(await value.arrayBuffer());
        request.files.push({ field, name: value.name, size: data.length, contentType: value.type, data });
      }
    }
    request.body = fields;
  } else if (type.startsWith('application/json')) {
    request.body = JSON.parse(raw.toString('utf8'));
  } else {
    request.body = raw.toString('utf8');
  }
}
