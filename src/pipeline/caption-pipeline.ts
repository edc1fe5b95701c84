/**
 * The caption pipeline of one meeting, shared by the bot and by replay: per speaker, Opus packets → 16 kHz PCM
 * frames ({@link SpeakerAudio}) → one AssemblyAI session ({@link SpeakerStream}) → caption events for the sinks
 * and final turns for the transcript.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { CaptionEvent, CaptionSink, Notice, Speaker } from '../captions/caption.ts';
import { SpeakerAudio } from '../audio/speaker-audio.ts';
import type { OpusBackendFactory } from '../audio/opus-decoder.ts';
import type { CloseClassification } from '../stt/assemblyai/close-codes.ts';
import { SpeakerStream, type SpeakerStreamState, type SpeakerStreamStats } from '../stt/speaker-stream.ts';
import type { SttProvider } from '../stt/provider.ts';
import type { LlmGatewayConfig } from '../stt/assemblyai/messages.ts';
import type { LlmTurnResult } from '../stt/speaker-stream-types.ts';
import { Transcript } from '../transcript/transcript.ts';

/** Options for {@link CaptionPipeline}. */
export interface CaptionPipelineOptions {
  provider: SttProvider;
  clock: Clock;
  logger: Logger;
  sinks: CaptionSink[];
  /** Keyterms for new sessions (`keyterms_prompt`). */
  keyterms: readonly string[];
  /** Languages expected to be spoken, for new sessions (`language_codes`); read each time a session opens. */
  languageCodes?: () => readonly string[];
  /**
   * The `llm_gateway` prompt for a speaker's next session, read each time one opens (in-stream translation);
   * undefined or returning undefined: none. Each final caption is then followed by an `llmResult` event.
   */
  llmGateway?: (speaker: Speaker) => LlmGatewayConfig | undefined;
  /** Close a speaker's session after this long without speech, ms. */
  idleCloseMs: number | (() => number);
  /** `max_turn_silence` the sessions use, ms: silence is filled in a little longer than this after each spurt. */
  maxTurnSilenceMs: number;
  /** See {@link SpeakerStreamOptions.maxAudioAheadMs}. */
  maxAudioAheadMs?: number | null;
  /** See {@link SpeakerStreamOptions.maxQueuedMs}. */
  maxQueuedMs?: number;
  /**
   * Lateness a packet may have and still count as contiguous with the one before, ms (see {@link SpeakerAudio}).
   * Live Discord audio needs an allowance for network jitter (default 60); replay's arrival times are exact (0).
   */
  jitterMs?: number;
  /** Creates each speaker's libopus decoder; default opus-decoder at 16 kHz mono. */
  createOpusDecoder?: OpusBackendFactory;
}

/** One speaker's state, as `/status` shows it. */
export interface SpeakerStatus {
  speaker: Speaker;
  state: SpeakerStreamState;
  corruptPackets: number;
  /** Opus packets decoded. */
  decodedPackets: number;
  /** Decoding was given up for this speaker (the channel was told): they are not being captioned. */
  decoderFailed: boolean;
  /** PCM frames held for this speaker (queued or kept for a resend). */
  bufferedFrames: number;
  stats: SpeakerStreamStats;
}

/** Typed events of a {@link CaptionPipeline}. */
export interface CaptionPipelineEvents {
  caption: [CaptionEvent];
  notice: [Notice];
  /** AssemblyAI refused the key or account; no speaker can be captioned. Emitted once. */
  fatal: [CloseClassification];
  /** In-stream LLM: the answer for a final caption's turn, or why none will come. */
  llmResult: [LlmTurnResult];
}

/** Counters for metrics: live values and totals since the pipeline started (speakers who left included). */
export interface PipelineCounters {
  speakers: number;
  /** Sessions open or closing now (each bills). */
  sttSessionsOpen: number;
  reconnects: number;
  /** Opus packets skipped because they could not be decoded. */
  corruptPackets: number;
  /** PCM frames dropped unsent from full speech-to-text queues (or while STT refused). */
  droppedFrames: number;
  /** Speakers whose decoding was given up (fresh decoders failed too, or ran out), since start. */
  decoderFailures: number;
  /** Wall time AssemblyAI sessions were open (what it bills), ms, sessions open now included. */
  sttSessionMs: number;
}

interface SpeakerEntry {
  audio: SpeakerAudio;
  stream: SpeakerStream;
}

/** Silence filled after a spurt beyond `max_turn_silence`, ms, so the model ends the turn itself first. */
const FILL_MARGIN_MS = 300;

function statusOf({ audio, stream }: SpeakerEntry): SpeakerStatus {
  return {
    speaker: stream.speaker,
    state: stream.state,
    corruptPackets: audio.stats.corruptPackets,
    decodedPackets: audio.stats.decodedPackets,
    decoderFailed: audio.stats.decoderFailed,
    bufferedFrames: stream.bufferedFrames,
    stats: stream.stats,
  };
}

/** Runs the caption path for every speaker of one meeting. */
export class CaptionPipeline extends EventEmitter<CaptionPipelineEvents> {
  readonly transcript = new Transcript();
  readonly #o: CaptionPipelineOptions;
  readonly #speakers = new Map<string, SpeakerEntry>();
  /** Speakers whose path is ending: audio still going out, session terminating. */
  readonly #closing = new Set<SpeakerEntry>();
  readonly #startedAt: number;
  #keyterms: readonly string[];
  #fatal = false;
  #ended = false;
  /** The channel has been told that the account's session limit delays captions (once per meeting). */
  #limitNoticeSent = false;
  /** Totals of speakers whose path has ended. */
  readonly #retired = { reconnects: 0, corruptPackets: 0, droppedFrames: 0, sttSessionMs: 0 };
  #decoderFailures = 0;

  constructor(options: CaptionPipelineOptions) {
    super();
    this.#o = options;
    this.#keyterms = options.keyterms;
    this.#startedAt = options.clock.now();
  }

  /** Meeting time now, ms since the pipeline started. */
  meetingNow(): number {
    return this.#o.clock.now() - this.#startedAt;
  }

  /**
   * Feeds one Opus packet of a speaker. The speaker's path is created on their first packet.
   *
   * @param arrivalMs - meeting time of arrival, ms; defaults to now.
   */
  pushOpusPacket(speaker: Speaker, packet: Buffer, arrivalMs?: number): void {
    if (this.#ended || this.#fatal) return; // after a fatal refusal, audio goes nowhere
    this.#entry(speaker).audio.pushOpusPacket(packet, arrivalMs);
  }

  /** Sets the keyterms for new sessions and sends them to every open session. */
  setKeyterms(keyterms: readonly string[]): void {
    this.#keyterms = [...keyterms];
    for (const { stream } of this.#speakers.values()) stream.updateKeyterms(this.#keyterms);
  }

  /**
   * Ends every open session cleanly so that each speaker's next session opens with the current `llm_gateway`
   * prompt, which a running session cannot change. Audio that arrives meanwhile queues; nothing is lost.
   */
  renewSessions(): void {
    for (const { stream } of this.#speakers.values()) stream.renewSession();
  }

  /** The speakers the pipeline has heard, with their session state. */
  status(): SpeakerStatus[] {
    return [...this.#speakers.values()].map(statusOf);
  }

  /** Speakers being removed or ended whose session has not closed yet. */
  closing(): SpeakerStatus[] {
    return [...this.#closing].map(statusOf);
  }

  /** Drops every session at once, without `Terminate` (a deadline passed): their last turns are lost. */
  destroy(): void {
    this.#ended = true;
    for (const entry of this.#speakers.values()) entry.audio.destroy();
    for (const entry of [...this.#speakers.values(), ...this.#closing]) entry.stream.destroy();
  }

  /**
   * Ends one speaker's path (they left): flushes their audio and terminates their session. With `discard` (the
   * member opted out) nothing more of theirs leaves or is captioned: undecoded and queued audio is dropped unsent,
   * and the session is terminated with its open turn's transcript ignored.
   */
  async removeSpeaker(speakerId: string, options: { discard?: boolean } = {}): Promise<void> {
    const entry = this.#speakers.get(speakerId);
    if (entry === undefined) return;
    this.#speakers.delete(speakerId);
    if (options.discard !== true) {
      await this.#endEntry(entry);
      return;
    }
    entry.audio.destroy();
    entry.stream.removeAllListeners();
    entry.stream.discardQueued();
    await entry.stream.end();
    this.#retire(entry);
  }

  /**
   * Ends the meeting: flushes every speaker's audio, terminates every session (each sends its last final
   * transcript first) and resolves with the transcript.
   */
  async end(): Promise<Transcript> {
    this.#ended = true;
    const entries = [...this.#speakers.values()];
    this.#speakers.clear();
    await Promise.all(entries.map((entry) => this.#endEntry(entry)));
    return this.transcript;
  }

  /** Live values and running totals, for metrics. */
  counters(): PipelineCounters {
    const counters: PipelineCounters = { speakers: this.#speakers.size, sttSessionsOpen: 0, ...this.#retired, decoderFailures: this.#decoderFailures };
    for (const { audio, stream } of this.#speakers.values()) {
      if (stream.state === 'open' || stream.state === 'terminating') counters.sttSessionsOpen++;
      counters.reconnects += stream.stats.reconnects;
      counters.corruptPackets += audio.stats.corruptPackets;
      counters.droppedFrames += stream.stats.framesDropped;
      counters.sttSessionMs += stream.stats.sessionOpenMs;
    }
    return counters;
  }

  /**
   * Resolves when no speaker has Opus packets held for a decoder that is still starting (each waits at most its
   * start deadline per replacement; see `OpusPacketDecoder`). For benchmarks and tests that run faster than real
   * time.
   */
  async decodersSettled(): Promise<void> {
    await Promise.all([...this.#speakers.values()].map(({ audio }) => audio.settled()));
  }

  /** Number of speakers with a live path (for memory checks). */
  get speakerCount(): number {
    return this.#speakers.size;
  }

  async #endEntry(entry: SpeakerEntry): Promise<void> {
    await entry.audio.settled(); // packets held while a decoder starts are part of the speech
    entry.audio.flush();
    entry.audio.destroy();
    this.#closing.add(entry);
    await entry.stream.end();
    this.#closing.delete(entry);
    entry.stream.removeAllListeners();
    this.#retire(entry);
  }

  /** Keeps an ended speaker's counts in the pipeline's totals. */
  #retire(entry: SpeakerEntry): void {
    this.#retired.reconnects += entry.stream.stats.reconnects;
    this.#retired.corruptPackets += entry.audio.stats.corruptPackets;
    this.#retired.droppedFrames += entry.stream.stats.framesDropped;
    this.#retired.sttSessionMs += entry.stream.stats.sessionOpenMs;
  }

  #entry(speaker: Speaker): SpeakerEntry {
    const existing = this.#speakers.get(speaker.id);
    if (existing !== undefined) return existing;
    const logger = this.#o.logger;
    const stream = new SpeakerStream({
      speaker,
      provider: this.#o.provider,
      clock: this.#o.clock,
      logger,
      keyterms: () => this.#keyterms,
      ...(this.#o.languageCodes === undefined ? {} : { languageCodes: this.#o.languageCodes }),
      ...(this.#o.llmGateway === undefined ? {} : { llmGateway: () => this.#o.llmGateway?.(speaker) }),
      idleCloseMs: this.#o.idleCloseMs,
      ...(this.#o.maxAudioAheadMs === undefined ? {} : { maxAudioAheadMs: this.#o.maxAudioAheadMs }),
      ...(this.#o.maxQueuedMs === undefined ? {} : { maxQueuedMs: this.#o.maxQueuedMs }),
    });
    const audio = new SpeakerAudio({
      clock: this.#o.clock,
      meetingNow: () => this.meetingNow(),
      silenceFillMs: this.#o.maxTurnSilenceMs + FILL_MARGIN_MS,
      ...(this.#o.jitterMs === undefined ? {} : { jitterMs: this.#o.jitterMs }),
      onFrame: (frame) => stream.pushFrame(frame),
      onSpeechEnd: () => stream.endOfSpeech(),
      onDecoderReplaced: (err) => logger.warn({ speakerId: speaker.id, err }, 'Opus decoder failed; a fresh one took over'),
      onDecoderFailed: (err) => this.#onDecoderFailed(speaker, err),
      ...(this.#o.createOpusDecoder === undefined ? {} : { createDecoder: this.#o.createOpusDecoder }),
    });
    stream.on('caption', (event) => this.#onCaption(event));
    stream.on('notice', (notice) => this.#notice(notice));
    stream.on('fatal', (close) => this.#onFatal(close));
    stream.on('limited', (close) => this.#onLimited(close));
    stream.on('llmResult', (result) => this.emit('llmResult', result));
    const entry = { audio, stream };
    this.#speakers.set(speaker.id, entry);
    this.transcript.addSpeaker(speaker);
    logger.info({ speakerId: speaker.id }, 'speaker joined the caption pipeline');
    return entry;
  }

  #onDecoderFailed(speaker: Speaker, err: Error): void {
    this.#decoderFailures++;
    this.#o.logger.error({ speakerId: speaker.id, err }, 'Opus decoding was given up for a speaker after replacing their decoder; they cannot be captioned');
    this.#notice({
      level: 'error',
      text: `${speaker.name} cannot be captioned: Parley could not decode their audio, even with a fresh decoder. If they leave and rejoin the voice channel, Parley will try again.`,
    });
  }

  #onCaption(event: CaptionEvent): void {
    if (event.kind === 'final') this.transcript.add(event);
    this.#o.logger.debug({ speakerId: event.speaker.id, kind: event.kind, text: event.text }, 'caption');
    for (const sink of this.#o.sinks) sink.caption(event);
    this.emit('caption', event);
  }

  #notice(notice: Notice): void {
    for (const sink of this.#o.sinks) sink.notice(notice);
    this.emit('notice', notice);
  }

  #onLimited(close: CloseClassification): void {
    if (this.#limitNoticeSent) return;
    this.#limitNoticeSent = true;
    const said = close.serverReason.length > 0 ? ` (AssemblyAI said: "${close.serverReason}")` : '';
    this.#notice({
      level: 'warning',
      text: `Captions are delayed: the AssemblyAI account has reached its limit on new sessions per minute${said}. Speech is held and will be captioned as sessions become available.`,
    });
  }

  #onFatal(close: CloseClassification): void {
    if (this.#fatal) return;
    this.#fatal = true;
    this.#notice({ level: 'error', text: `Captions have stopped: ${close.reason}` });
    // The refusal is about the key or account, so every speaker would get it: stop them all instead of letting
    // each one try (and close any session still open, since those bill).
    for (const [speakerId, entry] of this.#speakers) {
      this.#speakers.delete(speakerId);
      void this.#endEntry(entry);
    }
    this.emit('fatal', close);
  }
}
