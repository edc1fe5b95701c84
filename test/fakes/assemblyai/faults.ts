/**
 * Faults the fake AssemblyAI server injects at a point in a session's audio, shaped as clients of the real service
 * see them, plus the timing of its handshake.
 *
 * - `drop`: the TCP connection is destroyed with no close frame (a network drop, a load balancer or server crash);
 *   the client sees 1006 (RFC 6455 §7.4.1).
 * - `close`: `Error {error_code, error}` then a close with the same code, as the docs page "Common session errors
 *   and closures" documents (e.g. 3005 "Session Cancelled: An error occurred").
 * - `stall`: the server stops reading and answering for `forMs` (a stuck worker; TCP keeps the connection up and
 *   buffers what the client sends), then either `recover`s (reads and answers everything sent meanwhile, late) or
 *   `drop`s the connection.
 *
 * Handshake timing: the service answers the upgrade and then sets the session up before `Begin`, and flushes the
 * last turn before `Termination`. AssemblyAI's Python SDK (v0.64.16, assemblyai-python-sdk PR #206) allows 1.0 s for
 * the handshake and up to 5.0 s for the final Turn and Termination by default; the fake's defaults sit well inside.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { FakeSession } from './types.ts';

/** Default wait between the WebSocket upgrade and `Begin`, ms. */
export const DEFAULT_BEGIN_DELAY_MS = 300;
/** Default wait between `Terminate` and the last final turn and `Termination`, ms. */
export const DEFAULT_TERMINATION_DELAY_MS = 200;

/** Where a fault fires: once connection number `session` (0-based, arrival order) has received `afterAudioMs` of audio. */
interface FaultPoint {
  session: number;
  afterAudioMs: number;
}

/** A fault injected into one session (see the module comment). Each fires once. */
export type AudioFault =
  | (FaultPoint & { kind: 'drop' })
  | (FaultPoint & { kind: 'close'; code: number; error: string })
  | (FaultPoint & { kind: 'stall'; forMs: number; then: 'recover' | 'drop' });

/** What the injector needs of a session: the fake's session, its WebSocket and the TCP socket under it. */
interface Wire {
  session: FakeSession;
  ws: WebSocket;
  socket: Duplex;
}

/** Fires {@link AudioFault}s and owns the fake's handshake timers; `dispose()` clears what is pending. */
export class FaultInjector {
  readonly #pending: AudioFault[];
  readonly #wires = new Map<number, Wire>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(faults: readonly AudioFault[]) {
    this.#pending = [...faults];
  }

  /** Registers a new connection. */
  attach(wire: Wire): void {
    this.#wires.set(wire.session.index, wire);
  }

  /** Runs `fn` after `ms` (at once when 0), unless disposed first. */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  /** Called after each accepted audio frame: fires the faults now due for this session. */
  onAudio(session: FakeSession, audioMs: number): void {
    const due = this.#pending.filter((f) => f.session === session.index && audioMs >= f.afterAudioMs);
    if (due.length === 0) return;
    for (const fault of due) this.#pending.splice(this.#pending.indexOf(fault), 1);
    const wire = this.#wires.get(session.index);
    if (wire === undefined) return;
    for (const fault of due) this.#fire(wire, fault);
  }

  #fire(wire: Wire, fault: AudioFault): void {
    switch (fault.kind) {
      case 'drop':
        wire.session.kill();
        return;
      case 'close':
        wire.session.fail(fault.code, fault.error);
        return;
      case 'stall':
        // Nothing more is read (frames already in the chunk being parsed still are), and nothing goes out: what
        // the session says meanwhile is held in the socket until it recovers, or lost if it drops.
        wire.ws.pause();
        wire.socket.cork();
        this.later(fault.forMs, () => {
          if (fault.then === 'drop') {
            wire.session.kill();
            return;
          }
          wire.socket.uncork();
          wire.ws.resume();
        });
        return;
    }
  }

  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
