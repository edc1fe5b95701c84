/**
 * Decodes one speaker's Opus packets straight to 16 kHz mono PCM with libopus. libopus resamples and downmixes
 * inside the decoder (RFC 6716 §4: any Opus stream decodes at 8–48 kHz, mono or stereo), so Parley does no DSP of
 * its own; the only step here is the sample format, Float32 in [-1, 1] to s16le.
 *
 * The libopus build is `opus-decoder` (wasm-audio-decoders): each decoder has its own WebAssembly instance, so
 * the number of speakers is bounded by CPU, not by a shared heap. opusscript keeps every decoder of the process in
 * one heap, and in 0.0.8 its `decode` throws `RuntimeError: memory access out of bounds` from the 30th decoder of
 * a process on (test/audio/opus-decoder.test.ts; README "Performance").
 *
 * A decoder failure is not a corrupt packet:
 * - libopus rejecting a packet (OPUS_INVALID_PACKET, OPUS_BAD_ARG, OPUS_BUFFER_TOO_SMALL), an empty packet or one
 *   larger than the decoder's input buffer is a corrupt packet: skipped and counted.
 * - An exception from the decoder (a WebAssembly trap), a libopus error about the decoder itself
 *   (OPUS_INTERNAL_ERROR, OPUS_INVALID_STATE, OPUS_ALLOC_FAIL), a start-up that fails, or one that takes longer
 *   than {@link START_DEADLINE_MS} is a decoder fault: the decoder is replaced by a fresh one and the packet is
 *   decoded again on it.
 * - {@link CORRUPT_RUN_BEFORE_RETRY} corrupt packets in a row may be a broken decoder rather than bad packets, so
 *   the decoder is replaced once per run; if the fresh decoder decodes what follows, it was the decoder.
 * If a replacement faults before it has decoded {@link TRUSTED_AFTER_PACKETS} packets, or the speaker has used
 * {@link MAX_REPLACEMENTS} replacements, decoding this speaker is given up and `onFailed` is called once, so the
 * caller can tell the channel. A speaker never disappears silently.
 */
import { OpusDecoder } from 'opus-decoder';
import { STT_SAMPLE_RATE } from './format.ts';

/** What a decoded packet looks like (opus-decoder's `OpusDecodedAudio`). */
export interface DecodedOpus {
  /** One Float32Array of samples in [-1, 1] per channel. */
  channelData: Float32Array[];
  samplesDecoded: number;
  /** libopus errors for this packet; empty when it decoded. */
  errors: ReadonlyArray<{ message: string }>;
}

/**
 * The libopus decoder Parley uses, as opus-decoder's `OpusDecoder` exposes it: asynchronous start-up, then
 * synchronous decoding. Tests pass their own factory to force failures.
 */
export interface OpusBackend {
  /** Resolves when the decoder can decode; rejects if it cannot start. */
  readonly ready: Promise<void>;
  /** Decodes one Opus packet. Throws only when the decoder itself fails. */
  decodeFrame(packet: Uint8Array): DecodedOpus;
  /** Frees the decoder's WebAssembly memory. */
  free(): void;
}

/** Creates one decoder at 16 kHz mono. */
export type OpusBackendFactory = () => OpusBackend;

/** opus-decoder at {@link STT_SAMPLE_RATE} Hz, mono: libopus resamples and downmixes. */
export const createLibopusDecoder: OpusBackendFactory = () => new OpusDecoder({ sampleRate: STT_SAMPLE_RATE, channels: 1 });

/** Largest packet opus-decoder's input buffer holds (120 ms at 256 kb/s for one channel), bytes. */
export const MAX_OPUS_PACKET_BYTES = 3_840;
/**
 * Packets held while a decoder starts: 1 minute of 20 ms packets. Live, the start deadline comes first; replay
 * delivers packets faster than real time, while start-up (about 70 ms for the first decoder of a process, which
 * compiles the module, then a few ms each) runs in real time. Past this, the oldest held packet is dropped and
 * counted in `lostPackets`.
 */
export const MAX_PENDING_PACKETS = 3_000;
/** Wall-clock time a decoder may take to start before it counts as failed, ms. */
export const START_DEADLINE_MS = 5_000;
/** Corrupt packets in a row (0.5 s) after which the decoder is replaced once, in case it is the decoder. */
export const CORRUPT_RUN_BEFORE_RETRY = 25;
/** Packets a replacement must decode before it is trusted; a fault before that gives the speaker up. */
export const TRUSTED_AFTER_PACKETS = 50;
/** Replacements one speaker may use; the next fault gives the speaker up. */
export const MAX_REPLACEMENTS = 3;

/** libopus errors that mean the packet is bad, not the decoder (opus_defines.h). */
const CORRUPT_PACKET_ERRORS = /OPUS_INVALID_PACKET|OPUS_BAD_ARG|OPUS_BUFFER_TOO_SMALL/;

/** Options for {@link OpusPacketDecoder}. */
export interface OpusPacketDecoderOptions {
  /** Receives each decoded packet in arrival order: 16 kHz s16le mono (640 bytes for 20 ms). */
  onPcm: (pcm: Buffer, packet: Buffer, arrivalMs: number) => void;
  /** A decoder failed and a fresh one took over. */
  onReplaced?: (error: Error) => void;
  /** Decoding was given up for this speaker: a replacement failed before it was trusted, or the replacements ran out. Called at most once. */
  onFailed: (error: Error) => void;
  /** Default {@link createLibopusDecoder}. */
  createDecoder?: OpusBackendFactory;
  /** Default {@link START_DEADLINE_MS}. */
  startDeadlineMs?: number;
}

interface PendingPacket {
  packet: Buffer;
  arrivalMs: number;
}

/** Lifecycle of a speaker's decoding. */
export type OpusDecoderStatus = 'starting' | 'ready' | 'failed' | 'destroyed';

interface StartingState {
  status: 'starting';
  backend: OpusBackend;
}
interface ReadyState {
  status: 'ready';
  backend: OpusBackend;
}
interface FailedState {
  status: 'failed';
  error: Error;
}
interface DestroyedState {
  status: 'destroyed';
}
type DecoderState = StartingState | ReadyState | FailedState | DestroyedState;

/** Float32 samples in [-1, 1] to s16le, clamped, scaled by 32,768 as libopus's own `opus_decode` does. */
export function floatToS16le(samples: Float32Array): Buffer {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round((samples[i] ?? 0) * 32_768);
    out[i] = v > 32_767 ? 32_767 : v < -32_768 ? -32_768 : v;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Decodes the Opus packets of one speaker, keeping the decoder state between packets as Opus requires. Packets
 * that arrive while a decoder starts are held (at most {@link MAX_PENDING_PACKETS}) and decoded in order with
 * their arrival times once it is ready.
 */
export class OpusPacketDecoder {
  readonly #o: OpusPacketDecoderOptions;
  readonly #create: OpusBackendFactory;
  #state: DecoderState;
  readonly #pending: PendingPacket[] = [];
  #settled: Promise<void> = Promise.resolve();
  /** Packets the current decoder has decoded. */
  #goodOnCurrent = 0;
  #corruptRun = 0;
  /** The current run of corrupt packets already had its replacement. */
  #corruptRunRetried = false;
  /** Packets that failed to decode (corrupt, truncated, or still encrypted) and were skipped. */
  corruptPackets = 0;
  /** Packets decoded. */
  decodedPackets = 0;
  /** Decoders replaced after a failure. */
  replacements = 0;
  /** Packets lost to a decoder failure (after giving up, or held past the start queue's bound). */
  lostPackets = 0;

  constructor(options: OpusPacketDecoderOptions) {
    this.#o = options;
    this.#create = options.createDecoder ?? createLibopusDecoder;
    this.#state = { status: 'destroyed' };
    this.#state = this.#start();
  }

  /** `starting`, `ready`, `failed` (given up) or `destroyed`. */
  get status(): OpusDecoderStatus {
    return this.#state.status;
  }

  /** Packets held until a decoder is ready. */
  get pendingPackets(): number {
    return this.#pending.length;
  }

  /**
   * Resolves once no packet is held: the decoder has started and decoded what was waiting, or decoding was
   * given up. Never rejects.
   */
  async settled(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.#settled;
      await current;
    } while (current !== this.#settled); // a replacement started meanwhile: wait for it too
  }

  /**
   * Decodes one packet now, or holds it while a decoder starts. Never throws: a corrupt packet is counted in
   * {@link corruptPackets}; a decoder fault replaces the decoder or gives the speaker up.
   *
   * @param arrivalMs - when the packet arrived, ms; passed back with its PCM.
   */
  push(packet: Buffer, arrivalMs: number): void {
    const state = this.#state;
    if (state.status === 'failed') {
      this.lostPackets++;
      return;
    }
    if (state.status === 'destroyed') return;
    if (state.status === 'starting' || this.#pending.length > 0) {
      this.#pending.push({ packet, arrivalMs });
      if (this.#pending.length > MAX_PENDING_PACKETS) {
        this.#pending.shift();
        this.lostPackets++;
      }
      return;
    }
    this.#decode(state.backend, packet, arrivalMs);
  }

  /** Frees the decoder; held packets are dropped. Idempotent. */
  destroy(): void {
    const state = this.#state;
    this.#pending.length = 0;
    this.#state = { status: 'destroyed' };
    if (state.status === 'ready') state.backend.free();
    // A decoder still starting is freed when its start-up finishes (see #start).
  }

  #start(): StartingState {
    let backend: OpusBackend;
    try {
      backend = this.#create();
    } catch (error) {
      // Creating is synchronous for opus-decoder; a throw here is a start-up failure like a rejected `ready`.
      backend = { ready: Promise.reject(toError(error)), decodeFrame: () => ({ channelData: [], samplesDecoded: 0, errors: [] }), free: () => {} };
    }
    const state: StartingState = { status: 'starting', backend };
    this.#goodOnCurrent = 0;
    const deadlineMs = this.#o.startDeadlineMs ?? START_DEADLINE_MS;
    let stuck: (error: Error) => void = () => {};
    const deadline = new Promise<never>((_resolve, reject) => {
      stuck = reject;
    });
    // A real-time timer: start-up runs in real time whatever clock the meeting uses. Unref'd: never keeps a
    // process alive.
    const timer = setTimeout(() => stuck(new Error(`Opus decoder did not start within ${deadlineMs} ms`)), deadlineMs);
    timer.unref();
    this.#settled = Promise.race([backend.ready, deadline]).then(
      () => {
        clearTimeout(timer);
        if (this.#state !== state) {
          backend.free(); // destroyed or replaced while starting
          return;
        }
        this.#state = { status: 'ready', backend };
        this.#drain(backend);
      },
      (error: unknown) => {
        clearTimeout(timer);
        // A decoder that starts after its deadline is freed when it does.
        backend.ready.then(() => backend.free(), () => {});
        if (this.#state === state) this.#fault(toError(error));
      },
    );
    return state;
  }

  #drain(backend: OpusBackend): void {
    while (this.#pending.length > 0) {
      const state = this.#state;
      if (state.status !== 'ready' || state.backend !== backend) return; // a fault replaced it: the new one drains
      const next = this.#pending.shift();
      if (next === undefined) return;
      this.#decode(backend, next.packet, next.arrivalMs);
    }
  }

  #decode(backend: OpusBackend, packet: Buffer, arrivalMs: number): void {
    if (packet.length === 0 || packet.length > MAX_OPUS_PACKET_BYTES) {
      this.#corrupt();
      return;
    }
    let decoded: DecodedOpus;
    try {
      decoded = decodeQuietly(backend, packet);
    } catch (error) {
      this.#pending.unshift({ packet, arrivalMs }); // decoded again on the replacement
      this.#fault(toError(error));
      return;
    }
    const [first] = decoded.errors;
    if (first !== undefined) {
      if (CORRUPT_PACKET_ERRORS.test(first.message)) {
        this.#corrupt();
        return;
      }
      this.#pending.unshift({ packet, arrivalMs });
      this.#fault(new Error(first.message));
      return;
    }
    const samples = decoded.channelData[0];
    if (samples === undefined || decoded.samplesDecoded === 0) {
      this.#corrupt();
      return;
    }
    this.decodedPackets++;
    this.#goodOnCurrent++;
    this.#corruptRun = 0;
    this.#corruptRunRetried = false;
    this.#o.onPcm(floatToS16le(samples.subarray(0, decoded.samplesDecoded)), packet, arrivalMs);
  }

  #corrupt(): void {
    this.corruptPackets++;
    this.#corruptRun++;
    if (this.#corruptRun >= CORRUPT_RUN_BEFORE_RETRY && !this.#corruptRunRetried && this.replacements < MAX_REPLACEMENTS) {
      // Maybe the decoder, not the packets: try a fresh one once per run. Not a fault: bad packets are common.
      this.#corruptRunRetried = true;
      this.#replace(new Error(`${this.#corruptRun} corrupt Opus packets in a row`));
    }
  }

  #fault(error: Error): void {
    const untrusted = this.replacements > 0 && this.#goodOnCurrent < TRUSTED_AFTER_PACKETS;
    if (untrusted || this.replacements >= MAX_REPLACEMENTS) {
      this.#giveUp(error);
      return;
    }
    this.#replace(error);
  }

  #replace(error: Error): void {
    const state = this.#state;
    if (state.status === 'ready') state.backend.free();
    this.replacements++;
    this.#state = this.#start(); // a decoder still starting is freed when its start-up ends
    this.#o.onReplaced?.(error);
  }

  #giveUp(error: Error): void {
    const state = this.#state;
    if (state.status === 'ready') state.backend.free();
    this.lostPackets += this.#pending.length;
    this.#pending.length = 0;
    this.#state = { status: 'failed', error };
    this.#o.onFailed(error);
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * opus-decoder prints every libopus error with `console.error` as well as returning it. Parley counts corrupt
 * packets and logs decoder faults itself, so the print is silenced for the length of this synchronous call.
 */
function decodeQuietly(backend: OpusBackend, packet: Buffer): DecodedOpus {
  const print = console.error;
  console.error = () => {};
  try {
    return backend.decodeFrame(packet);
  } finally {
    console.error = print;
  }
}
