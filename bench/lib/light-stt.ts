/**
 * A light local stand-in for AssemblyAI Streaming v3, for benchmarks that run long or fast.
 *
 * The full fake (`test/fakes/assemblyai-server.ts`) keeps every session's audio for tests to inspect; over a
 * simulated 3-hour meeting that is hundreds of MB. This one keeps nothing but counters:
 * - `count` mode: `Begin`, then it counts binary frames and bytes (the honest "local sink" for throughput);
 *   `Terminate` → `Termination` → close 1000.
 * - `turns` mode: the same, plus the fake's own audio-time turn detector (`test/fakes/assemblyai/vad.ts`) and
 *   message builders: `SpeechStarted`, a partial `Turn` every `partialEveryMs` of audio, a final (formatted)
 *   `Turn` at `max_turn_silence`, `ForceEndpoint` or `Terminate`. Words are synthetic (`w1 w2 …`, one per
 *   300 ms of the turn) with times in session audio, so Parley's timeline bookkeeping works as with the service.
 * Handshake: `Begin` comes `beginDelayMs` after the upgrade and `Termination` (with the last final) comes
 * `terminationDelayMs` after `Terminate` (the full fake's defaults, `DEFAULT_BEGIN_DELAY_MS` and
 * `DEFAULT_TERMINATION_DELAY_MS` in `test/fakes/assemblyai/faults.ts`, model the service); default 0: answers at
 * once. No model delay otherwise.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { TurnDetector, type OpenTurn } from '../../test/fakes/assemblyai/vad.ts';
import { beginMessage, finalTurnMessages, speechStartedMessage, terminationMessage, turnMessage, wireWords } from '../../test/fakes/assemblyai/messages.ts';
import type { RecognizedWord } from '../../test/fakes/assemblyai/types.ts';

/** Options of {@link startLightStt}. */
export interface LightSttOptions {
  mode: 'count' | 'turns';
  /** The accepted `Authorization` value. */
  apiKey: string;
  /** Audio ms between partials; default 400 (as the full fake). */
  partialEveryMs?: number;
  /** Speech window threshold, dBFS; default −45 (as the full fake). */
  speechThresholdDbfs?: number;
  /** Serve `wss://` with this certificate and key (PEM), as the real service does; default plain `ws://`. */
  tls?: { certPem: string; keyPem: string };
  /** Wait between the upgrade and `Begin`, ms; default 0. */
  beginDelayMs?: number;
  /** Wait between `Terminate` and the last final and `Termination`, ms; default 0. */
  terminationDelayMs?: number;
}

/** Counters of a {@link LightStt}. */
export interface LightSttStats {
  sessions: number;
  openSessions: number;
  binaryFrames: number;
  audioBytes: number;
  /** Samples of the received audio that are not 0: the decoded speech, whatever silence was filled in around it. */
  nonZeroSamples: number;
  /** Binary frames outside 50–1000 ms (1,600–32,000 bytes): a protocol breach. */
  badFrames: number;
  partials: number;
  finals: number;
  terminates: number;
  forceEndpoints: number;
  /** Sockets the client closed without Terminate. */
  closedWithoutTerminate: number;
}

/** A running light server. */
export interface LightStt {
  url: string;
  stats(): LightSttStats;
  close(): Promise<void>;
}

const WORD_MS = 300;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Synthetic words covering a turn's voiced span, one per {@link WORD_MS}. */
function wordsFor(turn: OpenTurn, endMs: number): RecognizedWord[] {
  const words: RecognizedWord[] = [];
  const last = Math.min(endMs, turn.lastSpeechEndMs);
  for (let start = turn.startMs, i = 1; start < last; start += WORD_MS, i++) {
    words.push({ text: `w${i}`, start, end: Math.min(last, start + WORD_MS - 20) });
  }
  return words;
}

/** Starts the server on 127.0.0.1 (OS-assigned port). */
export async function startLightStt(options: LightSttOptions): Promise<LightStt> {
  const stats: LightSttStats = { sessions: 0, openSessions: 0, binaryFrames: 0, audioBytes: 0, nonZeroSamples: 0, badFrames: 0, partials: 0, finals: 0, terminates: 0, forceEndpoints: 0, closedWithoutTerminate: 0 };
  const sockets = new Set<WebSocket>();
  const notFound = (_request: unknown, response: { writeHead(status: number): { end(): void } }) => response.writeHead(404).end();
  const server = options.tls === undefined ? createServer(notFound) : createTlsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, notFound);
  const wss = new WebSocketServer({ server, path: '/v3/ws' });

  wss.on('connection', (ws, request) => {
    if (request.headers.authorization !== options.apiKey) {
      ws.send(JSON.stringify({ type: 'Error', error_code: 1008, error: 'Unauthorized Connection: Invalid API key' }));
      ws.close(1008, 'Unauthorized');
      return;
    }
    const query = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams;
    const maxTurnSilenceMs = Number(query.get('max_turn_silence') ?? 1000);
    const minTurnSilenceMs = Number(query.get('min_turn_silence') ?? 100);
    stats.sessions++;
    stats.openSessions++;
    sockets.add(ws);
    let bytes = 0;
    let turnOrder = 0;
    let terminated = false;
    const openedAt = performance.now();
    const send = (message: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const detector =
      options.mode === 'turns'
        ? new TurnDetector(
            { thresholdDbfs: options.speechThresholdDbfs ?? -45, partialEveryMs: options.partialEveryMs ?? 400, minTurnSilenceMs, maxTurnSilenceMs },
            {
              speechStarted: (atMs) => send(speechStartedMessage(atMs, 0.9)),
              partial: (turn, atMs) => {
                stats.partials++;
                send(turnMessage({ turnOrder, formatted: false, endOfTurn: false, words: wireWords(wordsFor(turn, atMs), { final: false, positionMs: atMs, settleMs: 60 }), endOfTurnConfidence: 0, utterance: '' }));
              },
              // No terminal punctuation in synthetic words: the turn ends at max_turn_silence (or ForceEndpoint).
              silenceCheck: () => false,
              ended: (turn, endMs) => {
                stats.finals++;
                for (const message of finalTurnMessages({ legacy: false, formatTurns: false, turnOrder, words: wordsFor(turn, endMs), eotConfidence: 1 })) send(message);
                turnOrder++;
              },
            },
          )
        : undefined;

    ws.on('message', (data, isBinary) => {
      if (terminated) return;
      const buffer = toBuffer(data);
      if (isBinary) {
        stats.binaryFrames++;
        stats.audioBytes += buffer.length;
        for (let i = 0; i + 1 < buffer.length; i += 2) if (buffer[i] !== 0 || buffer[i + 1] !== 0) stats.nonZeroSamples++;
        bytes += buffer.length;
        if (buffer.length < 1600 || buffer.length > 32_000 || buffer.length % 2 !== 0) stats.badFrames++;
        if (detector !== undefined) {
          const copy = new Uint8Array(buffer); // aligned copy for the Int16Array view
          detector.push(new Int16Array(copy.buffer, 0, copy.length >> 1));
        }
        return;
      }
      let type: unknown;
      try {
        type = (JSON.parse(buffer.toString('utf8')) as { type?: unknown }).type;
      } catch {
        type = undefined;
      }
      if (type === 'ForceEndpoint') {
        stats.forceEndpoints++;
        detector?.end('force_endpoint');
      } else if (type === 'Terminate') {
        stats.terminates++;
        terminated = true;
        const finish = () => {
          detector?.end('terminate');
          send(terminationMessage(bytes / 32, performance.now() - openedAt));
          if (ws.readyState === ws.OPEN) ws.close(1000, '');
        };
        const delayMs = options.terminationDelayMs ?? 0;
        if (delayMs > 0) setTimeout(finish, delayMs);
        else finish();
      }
    });
    ws.on('close', () => {
      stats.openSessions--;
      sockets.delete(ws);
      if (!terminated) stats.closedWithoutTerminate++;
    });
    ws.on('error', () => {});
    const begin = () => send(beginMessage(randomUUID(), Math.floor(Date.now() / 1000) + 10_800));
    const beginDelayMs = options.beginDelayMs ?? 0;
    if (beginDelayMs > 0) setTimeout(begin, beginDelayMs);
    else begin();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}/v3/ws`,
    stats: () => ({ ...stats }),
    async close() {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
