/**
 * Gateway v10 over plain `ws://` (discord-api-docs Topics "Gateway" and "Gateway Events").
 *
 * @discordjs/ws connects to `${url}?v=10&encoding=json` and adds `&compress=zlib-stream` only when zlib-sync is
 * installed (WebSocketShard.internalConnect in node_modules/@discordjs/ws/dist/index.js); both are supported here.
 * ETF encoding is not. Heartbeat and send rate limits are not enforced.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { GatewayIntentBits, GatewayOpcodes } from 'discord-api-types/v10';
import type { GatewayRequestGuildMembersData, GatewayVoiceStateUpdateData } from 'discord-api-types/v10';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { randomHex } from './model.ts';
import type { World } from './model.ts';
import { guildCreatePayload, readyPayload } from './payloads.ts';
import { RecordLog } from './record-log.ts';

/** A payload the bot sent over the gateway. */
export interface GatewayReceived {
  op: number;
  d: unknown;
  /** The session it belongs to, once identified or resumed. */
  sessionId: string | undefined;
}

interface Session {
  id: string;
  intents: number;
  seq: number;
  /** Dispatches sent in this session, for RESUME replays. */
  events: Array<{ s: number; text: string }>;
  connection: Connection | undefined;
}

/** One WebSocket connection and its (optional) zlib-stream context. */
class Connection {
  readonly socket: WebSocket;
  session: Session | undefined;
  readonly #deflate: zlib.Deflate | undefined;
  #chunks: Buffer[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(socket: WebSocket, compress: boolean) {
    this.socket = socket;
    if (compress) {
      this.#deflate = zlib.createDeflate({ chunkSize: 65_535 });
      this.#deflate.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
    }
  }

  /** Sends a JSON text frame, or with zlib-stream one deflate stream segment ending in Z_SYNC_FLUSH (00 00 ff ff). */
  send(text: string): void {
    const deflate = this.#deflate;
    if (!deflate) {
      if (this.socket.readyState === this.socket.OPEN) this.socket.send(text);
      return;
    }
    this.#queue = this.#queue.then(
      () =>
        new Promise<void>((resolve) => {
          deflate.write(text);
          deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            const data = Buffer.concat(this.#chunks);
            this.#chunks = [];
            if (this.socket.readyState === this.socket.OPEN) this.socket.send(data);
            resolve();
          });
        }),
    );
  }

  close(code: number, reason: string): void {
    this.#deflate?.close();
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code, reason);
  }
}

/** The gateway half of the stand-in. */
export class GatewayServer {
  /** Every payload the bot sent. */
  readonly received = new RecordLog<GatewayReceived>('gateway payload from the bot', (p) => `op ${p.op} ${JSON.stringify(p.d)?.slice(0, 120)}`);
  /** Connections accepted while held by {@link holdConnections} (they get HELLO once released). */
  readonly connectionsHeld = new RecordLog<{ at: number }>('held gateway connection', (c) => `at ${c.at}`);
  /** Called for each op 4 Voice State Update once the bot is identified. */
  onVoiceStateUpdate: (data: GatewayVoiceStateUpdateData) => void = () => {};
  readonly #world: World;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, Session>();
  readonly #heartbeatIntervalMs: number;
  readonly #token: string | undefined;
  #current: Session | undefined;
  /** While set, new connections are accepted but get no HELLO until {@link holdConnections}' release is called. */
  #held: Array<() => void> | undefined;

  private constructor(world: World, http: Server, heartbeatIntervalMs: number, token: string | undefined) {
    this.#world = world;
    this.#http = http;
    this.#heartbeatIntervalMs = heartbeatIntervalMs;
    this.#token = token;
    this.#wss = new WebSocketServer({ server: http });
    this.#wss.on('connection', (socket, request) => this.#accept(socket, new URL(request.url ?? '/', 'ws://127.0.0.1')));
  }

  /** Listens on 127.0.0.1 (free port). HELLO advertises `heartbeatIntervalMs` (default 41 250, as Discord). */
  static async start(world: World, options: { heartbeatIntervalMs?: number; token?: string } = {}): Promise<GatewayServer> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => resolve());
    });
    return new GatewayServer(world, http, options.heartbeatIntervalMs ?? 41_250, options.token);
  }

  /** `ws://127.0.0.1:PORT`, as GET /gateway/bot returns it (no trailing slash, no query). */
  get url(): string {
    return `ws://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** The intents of the current session (0 before IDENTIFY). */
  get intents(): number {
    return this.#current?.intents ?? 0;
  }

  /** The id of the current session (also the bot's voice state session_id, as on Discord). */
  get sessionId(): string | undefined {
    return this.#current?.id;
  }

  /** Whether the bot has identified (a session exists, connected or resumable). */
  get hasSession(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Sends a dispatch (op 0) to the bot's session, if its intents include `requiredIntent`. Dispatches sent while
   * the bot is disconnected are replayed when it resumes, as Discord does. Returns whether it was queued.
   */
  dispatch(t: string, d: unknown, requiredIntent?: number): boolean {
    const session = this.#current;
    if (!session) throw new Error(`Cannot dispatch ${t}: the bot has not identified`);
    if (requiredIntent !== undefined && (session.intents & requiredIntent) === 0) return false;
    session.seq += 1;
    const text = JSON.stringify({ op: GatewayOpcodes.Dispatch, t, s: session.seq, d });
    session.events.push({ s: session.seq, text });
    session.connection?.send(text);
    return true;
  }

  /** Sends op 7 Reconnect: the client should reconnect and RESUME. */
  requestReconnect(): void {
    this.#current?.connection?.send(JSON.stringify({ op: GatewayOpcodes.Reconnect, d: null }));
  }

  /** Closes the bot's connection with `code` (e.g. 4000 to make it resume), keeping the session. */
  dropConnection(code = 4000): void {
    this.#current?.connection?.close(code, 'stand-in dropped the connection');
  }

  /**
   * Holds new connections: each is accepted (and recorded in `connectionsHeld`) but gets no HELLO, so the client
   * waits, as when Discord's gateway is unreachable or slow. The returned function releases them and stops holding.
   */
  holdConnections(): () => void {
    this.#held ??= [];
    return () => {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const hello of held) hello();
    };
  }

  /** Terminates connections and stops listening. */
  async close(): Promise<void> {
    this.received.rejectAll('stand-in closed');
    this.connectionsHeld.rejectAll('stand-in closed');
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #accept(socket: WebSocket, url: URL): void {
    const compress = url.searchParams.get('compress');
    const connection = new Connection(socket, compress === 'zlib-stream');
    if (url.searchParams.get('v') !== '10') return connection.close(4012, 'Invalid API version');
    if ((url.searchParams.get('encoding') ?? 'json') !== 'json') return connection.close(4002, 'stand-in supports encoding=json only');
    if (compress !== null && compress !== 'zlib-stream') return connection.close(4002, 'Unknown compression');
    socket.on('message', (data, isBinary) => this.#onMessage(connection, data.toString(), isBinary));
    socket.on('close', () => {
      if (connection.session?.connection === connection) connection.session.connection = undefined;
    });
    const hello = () => connection.send(JSON.stringify({ op: GatewayOpcodes.Hello, d: { heartbeat_interval: this.#heartbeatIntervalMs } }));
    if (this.#held === undefined) return hello();
    this.#held.push(hello);
    this.connectionsHeld.push({ at: Date.now() });
  }

  #onMessage(connection: Connection, text: string, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      payload = JSON.parse(text) as { op?: unknown; d?: unknown };
    } catch {
      return connection.close(4002, 'Error while decoding payload.');
    }
    const op = Number(payload.op);
    this.received.push({ op, d: payload.d, sessionId: connection.session?.id });
    if (op === GatewayOpcodes.Heartbeat) return connection.send(JSON.stringify({ op: GatewayOpcodes.HeartbeatAck }));
    if (op === GatewayOpcodes.Identify) return this.#identify(connection, payload.d as { token?: string; intents?: number });
    if (op === GatewayOpcodes.Resume) return this.#resume(connection, payload.d as { token?: string; session_id?: string; seq?: number });
    if (!connection.session) return connection.close(4003, 'Not authenticated.');
    switch (op) {
      case GatewayOpcodes.PresenceUpdate:
        return;
      case GatewayOpcodes.VoiceStateUpdate:
        return this.onVoiceStateUpdate(payload.d as GatewayVoiceStateUpdateData);
      case GatewayOpcodes.RequestGuildMembers:
        return this.#requestGuildMembers(payload.d as GatewayRequestGuildMembersData);
      default:
        return connection.close(4001, 'Unknown opcode.');
    }
  }

  #identify(connection: Connection, d: { token?: string; intents?: number }): void {
    if (connection.session) return connection.close(4005, 'Already authenticated.');
    if (this.#token !== undefined && d.token !== this.#token) return connection.close(4004, 'Authentication failed.');
    if (typeof d.intents !== 'number') return connection.close(4013, 'Invalid intent(s).');
    const session: Session = { id: randomHex(16), intents: d.intents, seq: 0, events: [], connection };
    this.#sessions.set(session.id, session);
    this.#current = session;
    connection.session = session;
    this.dispatch('READY', readyPayload(this.#world, session.id, this.url));
    for (const guild of this.#world.guilds.values()) {
      this.dispatch('GUILD_CREATE', guildCreatePayload(this.#world, guild, session.intents), GatewayIntentBits.Guilds);
    }
  }

  /** RESUME: replays the dispatches after `seq`, then RESUMED; an unknown session gets op 9 (not resumable). */
  #resume(connection: Connection, d: { token?: string; session_id?: string; seq?: number }): void {
    const session = d.session_id ? this.#sessions.get(d.session_id) : undefined;
    if (!session || (this.#token !== undefined && d.token !== this.#token)) {
      return connection.send(JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false }));
    }
    session.connection?.close(4000, 'Session resumed elsewhere');
    session.connection = connection;
    connection.session = session;
    this.#current = session;
    for (const event of session.events) if (event.s > (d.seq ?? 0)) connection.send(event.text);
    this.dispatch('RESUMED', null);
  }

  /** Op 8: answers with one GUILD_MEMBERS_CHUNK (discord-api-docs Gateway Events "Guild Members Chunk"). */
  #requestGuildMembers(d: GatewayRequestGuildMembersData): void {
    const guild = this.#world.guilds.get(d.guild_id);
    if (!guild) return;
    const ids = 'user_ids' in d && d.user_ids !== undefined ? [d.user_ids].flat() : undefined;
    const query = 'query' in d ? (d.query ?? '').toLowerCase() : '';
    const matches = [...guild.members.keys()].filter((id) =>
      ids ? ids.includes(id) : this.#world.user(id).username.toLowerCase().startsWith(query),
    );
    const requested = 'limit' in d ? Number(d.limit) : 0;
    const limit = requested > 0 ? requested : matches.length;
    this.dispatch('GUILD_MEMBERS_CHUNK', {
      guild_id: guild.id,
      members: matches.slice(0, limit).map((id) => this.#world.memberPayload(guild, id)),
      chunk_index: 0,
      chunk_count: 1,
      ...(ids ? { not_found: ids.filter((id) => !guild.members.has(id)) } : {}),
      ...(d.nonce ? { nonce: d.nonce } : {}),
    });
  }
}
