/**
 * Voice gateway v8 over `wss://` (discord-api-docs Topics "Voice Connections"; opcodes in discord-api-types
 * voice/v8). @discordjs/voice 0.19.2 dials `wss://${endpoint}?v=8` (Networking.createWebSocket) and reaches
 * `Ready` on op 4 Session Description (Networking.onWsPacket), after IDENTIFY → READY, IP discovery and
 * SELECT_PROTOCOL.
 *
 * Every message except HELLO, HEARTBEAT_ACK and RESUMED carries `seq` ("Buffered Resume"), and RESUME replays the
 * ones after `seq_ack`. DAVE is offered at protocol version 0 (transport encryption only), or with
 * `daveProtocolVersion: 1` at version 1 to clients that support it: the channel's {@link DaveCall} then runs the
 * MLS group (binary messages server→client `[seq u16][op u8][payload]`, client→server `[op u8][payload]`;
 * discord/dave-protocol `protocol.md` "Voice Gateway Opcodes"). Op 16 (voice backend version) is answered.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { VoiceOpcodes } from 'discord-api-types/voice/v8';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { randomHex } from './model.ts';
import { RecordLog } from './record-log.ts';
import type { WaitOptions } from './record-log.ts';
import { AES_GCM_RTPSIZE } from './rtp.ts';
import { DaveCall } from './dave-call.ts';
import type { DaveCallOptions } from './dave-call.ts';

/** What the main gateway granted in VOICE_SERVER_UPDATE / VOICE_STATE_UPDATE. */
export interface VoiceGrant {
  guildId: string;
  channelId: string;
  userId: string;
  sessionId: string;
  token: string;
}

/** A message the bot sent to the voice gateway (binary DAVE messages have `op` from their first byte and `d: null`). */
export interface VoiceReceived {
  op: number;
  d: unknown;
  token: string | undefined;
}

/** Per-member RTP state towards one voice session. */
export interface MemberStream {
  ssrc: number;
  sequence: number;
  timestampBase: number;
  epochMs: number | undefined;
}

/** One bot voice session: signalling state, transport key and where to send media. */
export class VoiceSession {
  readonly grant: VoiceGrant;
  readonly ssrc: number;
  socket: WebSocket | undefined;
  status: 'identified' | 'ready' | 'closed' = 'identified';
  maxDaveProtocolVersion = 0;
  /** The DAVE protocol version given in the Session Description. */
  daveProtocolVersion = 0;
  mode: string | undefined;
  secretKey: Buffer | undefined;
  /** Where the bot asked for media (SELECT_PROTOCOL address/port). */
  remote: { address: string; port: number } | undefined;
  readonly streams = new Map<string, MemberStream>();
  #seq = 0;
  #nonce = 0;
  readonly #buffer: Array<{ seq: number; text: string | Buffer }> = [];
  #pingId = 0;

  constructor(grant: VoiceGrant, ssrc: number) {
    this.grant = grant;
    this.ssrc = ssrc;
  }

  /** Sends a sequenced message (buffered for RESUME). */
  send(op: number, d: unknown): void {
    this.#seq = (this.#seq + 1) & 0xffff || 1;
    const text = JSON.stringify({ op, d, seq: this.#seq });
    this.#buffer.push({ seq: this.#seq, text });
    if (this.#buffer.length > 256) this.#buffer.shift();
    const socket = this.socket;
    if (socket && socket.readyState === socket.OPEN) socket.send(text);
  }

  /** Sends a sequenced binary DAVE message: `[seq u16][op u8][payload]` (buffered for RESUME). */
  sendBinary(op: number, payload: Buffer): void {
    this.#seq = (this.#seq + 1) & 0xffff || 1;
    const head = Buffer.alloc(3);
    head.writeUInt16BE(this.#seq, 0);
    head.writeUInt8(op, 2);
    const frame = Buffer.concat([head, payload]);
    this.#buffer.push({ seq: this.#seq, text: frame });
    if (this.#buffer.length > 256) this.#buffer.shift();
    const socket = this.socket;
    if (socket && socket.readyState === socket.OPEN) socket.send(frame);
  }

  /** Replays buffered messages after `seqAck` on the current socket. */
  replayAfter(seqAck: number): void {
    for (const entry of this.#buffer) if (entry.seq > seqAck) this.socket?.send(entry.text);
  }

  /** The next transport nonce: one 32-bit counter per session, so no nonce repeats under this session's key. */
  nextNonce(): number {
    this.#nonce = (this.#nonce + 1) >>> 0;
    return this.#nonce;
  }

  /**
   * Resolves once the bot's WebSocket has parsed everything sent so far: a WebSocket ping after those messages,
   * answered by the client's automatic pong (RFC 6455 §5.5.2; `ws` answers after handling the earlier frames).
   * Used so that SPEAKING is handled before the first RTP packet arrives on the separate UDP socket.
   */
  async flush(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState !== socket.OPEN) return;
    const id = `flush-${++this.#pingId}`;
    await new Promise<void>((resolve) => {
      const onPong = (data: Buffer): void => {
        if (data.toString() !== id) return;
        socket.off('pong', onPong);
        socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        socket.off('pong', onPong);
        resolve();
      };
      socket.on('pong', onPong);
      socket.once('close', onClose);
      socket.ping(id);
    });
  }
}

/** The voice gateway half of the stand-in. */
export class VoiceGatewayServer {
  /** Every message the bot sent to the voice gateway. */
  readonly received = new RecordLog<VoiceReceived>('voice gateway message from the bot', (m) => `op ${m.op} ${JSON.stringify(m.d)?.slice(0, 120)}`);
  /** Sessions whose Session Description was sent (the bot's connection turns Ready on it). */
  readonly readySessions = new RecordLog<VoiceSession>('ready voice session', (s) => `guild ${s.grant.guildId} channel ${s.grant.channelId}`);
  /** Other members in the channel, for CLIENTS_CONNECT after READY. */
  membersInChannel: (grant: VoiceGrant) => string[] = () => [];
  /** DAVE v1 calls by voice channel id (only with `daveProtocolVersion: 1`). */
  readonly daveCalls = new Map<string, DaveCall>();
  readonly #https: Server;
  readonly #wss: WebSocketServer;
  readonly #grants = new Map<string, VoiceGrant>();
  readonly #sessions = new Map<string, VoiceSession>();
  readonly #udpPort: () => number;
  readonly #allocateSsrc: () => number;
  readonly #heartbeatIntervalMs: number;
  readonly #requireDave: boolean;
  readonly #daveVersion: number;
  readonly #daveOptions: DaveCallOptions;

  private constructor(https: Server, options: VoiceGatewayOptions) {
    this.#https = https;
    this.#udpPort = options.udpPort;
    this.#allocateSsrc = options.allocateSsrc;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 13_750;
    this.#requireDave = options.requireDave ?? false;
    this.#daveVersion = options.daveProtocolVersion ?? 0;
    this.#daveOptions = options.dave ?? {};
    this.#wss = new WebSocketServer({ server: https });
    this.#wss.on('connection', (socket, request) => this.#accept(socket, new URL(request.url ?? '/', 'wss://127.0.0.1')));
  }

  /** Listens with TLS on 127.0.0.1 (free port). */
  static async start(options: VoiceGatewayOptions): Promise<VoiceGatewayServer> {
    const https = createServer({ key: options.keyPem, cert: options.certPem }, (_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve, reject) => {
      https.once('error', reject);
      https.listen(0, '127.0.0.1', () => resolve());
    });
    return new VoiceGatewayServer(https, options);
  }

  /** `127.0.0.1:PORT`, the `endpoint` of VOICE_SERVER_UPDATE (no scheme, as Discord sends it). */
  get endpoint(): string {
    return `127.0.0.1:${(this.#https.address() as AddressInfo).port}`;
  }

  /** Registers a grant; its token is what IDENTIFY must present. */
  grant(grant: VoiceGrant): void {
    this.#grants.set(grant.token, grant);
  }

  /** The live session of the bot in `guildId`, if any. */
  sessionFor(guildId: string): VoiceSession | undefined {
    return [...this.#sessions.values()].find((s) => s.grant.guildId === guildId && s.status !== 'closed');
  }

  /** Resolves with the bot's ready session in `guildId` (already ready, or the next one). */
  waitForReady(guildId: string, options?: WaitOptions): Promise<VoiceSession> {
    return this.readySessions.waitFor((s) => s.grant.guildId === guildId && s.status === 'ready', options);
  }

  /** Ends the bot's voice session in `guildId`: revokes its token and closes its socket with `code` (4014 Disconnected: kicked or left). */
  endSession(guildId: string, code = 4014): void {
    for (const [token, grant] of this.#grants) if (grant.guildId === guildId) this.#grants.delete(token);
    for (const session of this.#sessions.values()) {
      if (session.grant.guildId !== guildId || session.status === 'closed') continue;
      session.status = 'closed';
      this.daveCalls.get(session.grant.channelId)?.leaves(session.grant.userId);
      session.socket?.close(code, 'Disconnected');
    }
  }

  /** The DAVE v1 call of a voice channel, created on first use (null when the stand-in offers DAVE version 0). */
  daveCall(channelId: string): DaveCall | null {
    if (this.#daveVersion < 1) return null;
    let call = this.daveCalls.get(channelId);
    if (!call) {
      call = new DaveCall(channelId, this.#daveOptions);
      this.daveCalls.set(channelId, call);
    }
    return call;
  }

  /** Terminates connections and stops listening. */
  async close(): Promise<void> {
    for (const call of this.daveCalls.values()) call.close();
    this.received.rejectAll('stand-in closed');
    this.readySessions.rejectAll('stand-in closed');
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#https.closeAllConnections();
    await new Promise<void>((resolve) => this.#https.close(() => resolve()));
  }

  #accept(socket: WebSocket, url: URL): void {
    let session: VoiceSession | undefined;
    if (url.searchParams.get('v') !== '8') return socket.close(4020, 'stand-in speaks voice gateway v8 only');
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
        this.received.push({ op: buffer.readUInt8(0), d: null, token: session?.grant.token });
        if (session && session.daveProtocolVersion > 0) {
          this.daveCalls.get(session.grant.channelId)?.fromBot(session.grant.userId, buffer.readUInt8(0), buffer.subarray(1));
        }
        return;
      }
      let payload: { op?: unknown; d?: unknown };
      try {
        payload = JSON.parse(data.toString()) as { op?: unknown; d?: unknown };
      } catch {
        return socket.close(4002, 'Failed to decode payload');
      }
      const op = Number(payload.op);
      const d = (payload.d ?? {}) as Record<string, unknown>;
      this.received.push({ op, d: payload.d, token: session?.grant.token });
      if (op === VoiceOpcodes.Heartbeat) return socket.send(JSON.stringify({ op: VoiceOpcodes.HeartbeatAck, d: { t: d.t } }));
      if (op === VoiceOpcodes.Identify) {
        if (session) return socket.close(4005, 'Already authenticated');
        session = this.#identify(socket, d);
        return;
      }
      if (op === VoiceOpcodes.Resume) {
        session = this.#resume(socket, d);
        return;
      }
      if (!session) return socket.close(4003, 'Not authenticated');
      switch (op) {
        case VoiceOpcodes.SelectProtocol:
          return this.#selectProtocol(session, d);
        case VoiceOpcodes.Speaking:
          return;
        case VoiceOpcodes.DaveTransitionReady:
        case VoiceOpcodes.DaveMlsInvalidCommitWelcome:
          if (session.daveProtocolVersion > 0) this.daveCalls.get(session.grant.channelId)?.fromBot(session.grant.userId, op, d);
          return;
        case 16:
          // Voice backend version (discord-api-docs Voice opcodes): what Craig logs at each connection.
          return session.send(16, { voice: '0.9.1', rtc_worker: '0.4.11' });
        default:
          return socket.close(4001, 'Unknown opcode');
      }
    });
    socket.on('close', () => {
      if (session?.socket === socket) session.socket = undefined;
    });
    socket.send(JSON.stringify({ op: VoiceOpcodes.Hello, d: { v: 8, heartbeat_interval: this.#heartbeatIntervalMs } }));
  }

  #identify(socket: WebSocket, d: Record<string, unknown>): VoiceSession | undefined {
    const grant = this.#grants.get(String(d.token));
    if (!grant || d.server_id !== grant.guildId || d.user_id !== grant.userId || d.session_id !== grant.sessionId) {
      socket.close(4004, 'Authentication failed');
      return undefined;
    }
    const maxDave = Number(d.max_dave_protocol_version ?? 0);
    if (this.#requireDave && maxDave < 1) {
      socket.close(4017, 'E2EE/DAVE protocol required');
      return undefined;
    }
    // A new IDENTIFY replaces the bot's earlier sessions in this guild (one voice connection per guild).
    for (const previous of this.#sessions.values()) {
      if (previous.grant.guildId !== grant.guildId || previous.status === 'closed') continue;
      previous.status = 'closed';
      this.daveCalls.get(previous.grant.channelId)?.leaves(previous.grant.userId);
    }
    const session = new VoiceSession(grant, this.#allocateSsrc());
    session.socket = socket;
    session.maxDaveProtocolVersion = maxDave;
    this.#sessions.set(grant.token, session);
    // READY: `modes` lists what the stand-in can encrypt; Discord also offers aead_xchacha20_poly1305_rtpsize.
    session.send(VoiceOpcodes.Ready, { ssrc: session.ssrc, ip: '127.0.0.1', port: this.#udpPort(), modes: [AES_GCM_RTPSIZE], experiments: [] });
    const others = this.membersInChannel(grant);
    if (others.length > 0) session.send(VoiceOpcodes.ClientsConnect, { user_ids: others });
    return session;
  }

  #selectProtocol(session: VoiceSession, d: Record<string, unknown>): void {
    const data = (d.data ?? {}) as { address?: unknown; port?: unknown; mode?: unknown };
    if (d.protocol !== 'udp') return session.socket?.close(4012, 'Unknown protocol');
    if (data.mode !== AES_GCM_RTPSIZE) return session.socket?.close(4016, 'Unknown encryption mode');
    session.remote = { address: String(data.address), port: Number(data.port) };
    session.mode = data.mode;
    session.secretKey = randomBytes(32);
    const call = session.maxDaveProtocolVersion >= 1 ? this.daveCall(session.grant.channelId) : null;
    session.daveProtocolVersion = call ? 1 : 0;
    if (call) for (const userId of this.membersInChannel(session.grant)) call.memberJoins(userId, { settled: true });
    session.send(VoiceOpcodes.SessionDescription, {
      audio_codec: 'opus',
      video_codec: 'H264',
      media_session_id: randomHex(16),
      mode: session.mode,
      secret_key: [...session.secretKey],
      dave_protocol_version: session.daveProtocolVersion,
    });
    if (call) {
      call.botJoins({
        userId: session.grant.userId,
        sendJson: (op, d) => session.send(op, d),
        sendBinary: (op, payload) => session.sendBinary(op, payload),
      });
    }
    session.status = 'ready';
    this.readySessions.push(session);
  }

  #resume(socket: WebSocket, d: Record<string, unknown>): VoiceSession | undefined {
    const session = this.#sessions.get(String(d.token));
    if (!session || session.status === 'closed' || d.server_id !== session.grant.guildId || d.session_id !== session.grant.sessionId) {
      socket.close(4006, 'Session no longer valid');
      return undefined;
    }
    session.socket?.close(4006, 'Session resumed elsewhere');
    session.socket = socket;
    socket.send(JSON.stringify({ op: VoiceOpcodes.Resumed, d: null }));
    session.replayAfter(Number(d.seq_ack ?? -1));
    return session;
  }
}

/** Options of {@link VoiceGatewayServer.start}. */
export interface VoiceGatewayOptions {
  keyPem: string;
  certPem: string;
  udpPort: () => number;
  allocateSsrc: () => number;
  heartbeatIntervalMs?: number;
  requireDave?: boolean;
  /** The highest DAVE protocol version offered (0 or 1); default 0. */
  daveProtocolVersion?: number;
  /** Options of each channel's DAVE call. */
  dave?: DaveCallOptions;
}
