/**
 * A bare `ws` client for testing the fake AssemblyAI server itself (not Parley's client): it records every server
 * message and lets tests wait for messages and the close by event, never by time. Also synthetic 16 kHz s16le audio.
 */
import WebSocket from 'ws';

/** Options of {@link connectProbe}. */
export interface ProbeOptions {
  /** `Authorization` header value; null sends none. */
  authorization: string | null;
  /** Query parameters; defaults `sample_rate=16000`, `encoding=pcm_s16le`, `speech_model=u3-rt-pro` unless overridden (undefined removes one). */
  query?: Record<string, string | undefined>;
}

/** A connected (or connecting) probe. */
export interface Probe {
  ws: WebSocket;
  /** Parsed server text frames, in order. */
  messages: Array<Record<string, unknown>>;
  /** Raw server text frames, in order. */
  raw: string[];
  /** Resolves on the close event: code and reason (1006 on a dropped connection). */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once the WebSocket is open; rejects if the handshake fails. */
  opened: Promise<void>;
  /** Resolves with the first message (received or to come) matching `predicate`; rejects if the socket closes first. */
  waitFor(predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves once `count` messages have been received; rejects if the socket closes first. */
  waitForCount(count: number): Promise<Array<Record<string, unknown>>>;
  sendJson(message: unknown): void;
}

/** Opens a WebSocket to `url` with the given header and query. */
export function connectProbe(url: string, options: ProbeOptions): Probe {
  const query = new URLSearchParams();
  const merged: Record<string, string | undefined> = { sample_rate: '16000', encoding: 'pcm_s16le', speech_model: 'u3-rt-pro', ...options.query };
  for (const [name, value] of Object.entries(merged)) if (value !== undefined) query.set(name, value);
  const headers: Record<string, string> = options.authorization === null ? {} : { Authorization: options.authorization };
  const ws = new WebSocket(`${url}?${query.toString()}`, { headers });
  const messages: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  let isClosed = false;
  let waiters: Array<() => boolean> = [];
  const wake = (): void => {
    waiters = waiters.filter((waiter) => !waiter());
  };
  const waitUntil = <T>(probe: () => T | undefined, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const value = probe();
        if (value !== undefined) resolve(value);
        else if (isClosed) reject(new Error(`socket closed before ${what}; received: ${raw.join(' | ').slice(0, 2000)}`));
        else return false;
        return true;
      };
      if (!check()) waiters.push(check);
    });

  ws.on('message', (data, isBinary) => {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    raw.push(isBinary ? '<binary frame>' : text);
    // The service only sends JSON text; anything else is recorded so that equality assertions fail visibly.
    try {
      messages.push(isBinary ? { type: '<binary frame>' } : (JSON.parse(text) as Record<string, unknown>));
    } catch {
      messages.push({ type: '<invalid JSON>', text });
    }
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      isClosed = true;
      wake();
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  opened.catch(() => {}); // tests that expect a failed handshake await it themselves
  ws.on('error', () => {}); // surfaced through `opened` / `closed`

  return {
    ws,
    messages,
    raw,
    closed,
    opened,
    waitFor: (predicate) => waitUntil(() => messages.find(predicate), 'the awaited message'),
    waitForCount: (count) => waitUntil(() => (messages.length >= count ? messages.slice(0, count) : undefined), `${count} messages`),
    sendJson: (message) => ws.send(JSON.stringify(message)),
  };
}

/** Samples per ms at 16 kHz. */
const PER_MS = 16;

/** `ms` of a 440 Hz sine at `amplitude` (0–1 of full scale; 0.3 ≈ −13.5 dBFS RMS), 16 kHz s16le mono. */
export function tone(ms: number, amplitude = 0.3): Buffer {
  const bytes = Buffer.alloc(ms * PER_MS * 2);
  for (let i = 0; i < ms * PER_MS; i++) bytes.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / 16000) * amplitude * 32767), i * 2);
  return bytes;
}

/** `ms` of digital silence, 16 kHz s16le mono. */
export function silence(ms: number): Buffer {
  return Buffer.alloc(ms * PER_MS * 2);
}

/** Splits 16 kHz s16le audio into frames of `frameMs`; a short tail is merged into the previous frame so every frame stays ≥ 50 ms. */
export function frames(audio: Buffer, frameMs: number): Buffer[] {
  const size = frameMs * PER_MS * 2;
  const out: Buffer[] = [];
  for (let offset = 0; offset < audio.length; offset += size) out.push(audio.subarray(offset, Math.min(offset + size, audio.length)));
  const last = out.at(-1);
  if (out.length > 1 && last !== undefined && last.length < 50 * PER_MS * 2) {
    out.pop();
    const previous = out.pop() ?? Buffer.alloc(0);
    out.push(Buffer.concat([previous, last]));
  }
  return out;
}
