/**
 * The voice server's UDP socket: answers IP discovery (discord-api-docs Voice "IP Discovery"; request format as
 * @discordjs/voice's VoiceUDPSocket.performIPDiscovery sends it) and sends members' Opus packets to the bot as
 * encrypted RTP (rtp.ts).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordLog } from './record-log.ts';
import { audioLevelExtension, encryptRtpPacket, ipDiscoveryResponse, parseIpDiscoveryRequest } from './rtp.ts';
import type { MemberStream, VoiceSession } from './voice-gateway.ts';

/** A datagram the bot sent to the voice server. */
export interface UdpReceived {
  kind: 'ip-discovery' | 'keep-alive' | 'rtp' | 'other';
  size: number;
  from: { address: string; port: number };
  ssrc?: number;
}

/** One Opus packet of a member's speech, `atMs` after the start of the utterance. */
export interface TimedOpusPacket {
  atMs: number;
  packet: Buffer;
}

/** Options of {@link VoiceUdpServer.sendStream}. */
export interface SpeakOptions {
  /** Send each packet at its `atMs` (default), or as fast as the bot's event loop takes them. */
  paced?: boolean;
  /** Attach an RTP header extension, as Discord clients do (default true). */
  headerExtension?: boolean;
  /** Turns each Opus packet into the frame the member's client sends (DAVE v1: end-to-end encrypted), at send time. */
  encode?: (opus: Buffer) => Buffer;
}

/** The UDP half of the voice stand-in. */
export class VoiceUdpServer {
  /** Every datagram the bot sent. */
  readonly received = new RecordLog<UdpReceived>('UDP datagram from the bot', (d) => `${d.kind} ${d.size} bytes`);
  /** Returns whether `ssrc` belongs to a session awaiting or using media. */
  isKnownSsrc: (ssrc: number) => boolean = () => false;
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (message, rinfo) => this.#onMessage(message, { address: rinfo.address, port: rinfo.port }));
  }

  /** Binds a UDP socket on 127.0.0.1 (free port). */
  static async start(): Promise<VoiceUdpServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new VoiceUdpServer(socket);
  }

  /** The port announced in the voice READY. */
  get port(): number {
    return this.#socket.address().port;
  }

  /** Sends raw bytes to the bot's media address (for corrupt-packet tests). */
  async sendRaw(buffer: Buffer, to: { address: string; port: number }): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.#socket.send(buffer, to.port, to.address, (error) => (error ? reject(error) : resolve())),
    );
  }

  /**
   * Sends `packets` as one talkspurt of `stream` to the bot: sequence +1 per packet, timestamp at 48 kHz from
   * `atMs` (so +960 per 20 ms), marker bit on the first packet. Stops early, returning how many were sent, if the
   * session closes.
   */
  async sendStream(session: VoiceSession, stream: MemberStream, packets: readonly TimedOpusPacket[], options: SpeakOptions = {}): Promise<number> {
    const paced = options.paced ?? true;
    const extension = options.headerExtension === false ? undefined : audioLevelExtension();
    const start = performance.now();
    stream.epochMs ??= Date.now();
    const offsetMs = Date.now() - stream.epochMs;
    let sent = 0;
    for (const [index, { atMs, packet }] of packets.entries()) {
      if (paced) {
        const wait = start + atMs - performance.now();
        if (wait > 0) await sleep(wait);
      } else {
        // Let the bot's event loop (in this process, or the kernel buffer of another) drain between datagrams.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const key = session.secretKey;
      const remote = session.remote;
      if (session.status !== 'ready' || !key || !remote) break;
      stream.sequence = (stream.sequence + 1) & 0xffff;
      const timestamp = (stream.timestampBase + Math.round((offsetMs + atMs) * 48)) >>> 0;
      const payload = options.encode ? options.encode(packet) : packet;
      const datagram = encryptRtpPacket(
        { ssrc: stream.ssrc, sequence: stream.sequence, timestamp, marker: index === 0, payload, ...(extension ? { extension } : {}) },
        key,
        session.nextNonce(),
      );
      await this.sendRaw(datagram, remote);
      sent += 1;
    }
    return sent;
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    this.received.rejectAll('stand-in closed');
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #onMessage(message: Buffer, from: { address: string; port: number }): void {
    const discoverySsrc = parseIpDiscoveryRequest(message);
    if (discoverySsrc !== undefined) {
      this.received.push({ kind: 'ip-discovery', size: message.length, from, ssrc: discoverySsrc });
      if (this.isKnownSsrc(discoverySsrc)) {
        this.#socket.send(ipDiscoveryResponse(discoverySsrc, from.address, from.port), from.port, from.address);
      }
      return;
    }
    if (message.length === 8) {
      // @discordjs/voice sends an 8-byte counter every 5 s (VoiceUDPSocket.keepAlive); it no longer expects replies.
      this.received.push({ kind: 'keep-alive', size: 8, from });
      return;
    }
    if (message.length > 12 && message[0] !== undefined && message[0] >> 6 === 2) {
      this.received.push({ kind: 'rtp', size: message.length, from, ssrc: message.readUInt32BE(8) });
      return;
    }
    this.received.push({ kind: 'other', size: message.length, from });
  }
}
