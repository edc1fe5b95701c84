/**
 * Shared set-up for pipeline tests: real recordings turned into Discord-style Opus, a reference decode of those
 * packets, and a replay through the real pipeline against the fake AssemblyAI server.
 */
import OpusScript from 'opusscript';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { encodeDiscordOpus, type TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { runReplay, type ReplayResult, type ReplayTrack } from '../../src/replay/replay.ts';
import { createAssemblyAIProvider, type ProviderTuning } from '../../src/stt/provider.ts';
import { silentLogger } from '../../src/log.ts';
import type { CaptionEvent, CaptionSink, Notice } from '../../src/captions/caption.ts';
import type { SttConfig } from '../../src/config.ts';
import { speechFixture } from './fixtures.ts';

/** The API key the fake server accepts in tests. */
export const TEST_API_KEY = 'test-assemblyai-key-0123456789';

/** STT settings pointing at a local server. */
export function sttConfig(url: string, overrides: Partial<SttConfig> = {}): SttConfig {
  return {
    apiKey: TEST_API_KEY,
    streamingUrl: url,
    speechModel: 'u3-rt-pro',
    idleCloseMs: 15_000,
    idleCloseMaxMs: 15_000,
    // High enough not to limit tests that open many sessions quickly; the budget has its own tests.
    newSessionsPerMinute: 10_000,
    minTurnSilenceMs: undefined,
    maxTurnSilenceMs: 1_000,
    keyterms: [],
    ...overrides,
  };
}

/** Reads a fixture and returns one packet list per channel (split) or one for the whole file. */
export async function fixturePackets(file: string, split = false): Promise<TimedOpusPacket[][]> {
  const audio = await readAudioFile(speechFixture(file));
  if (!split) return [await encodeDiscordOpus(audio)];
  return Promise.all(audio.channels.map((channel) => encodeDiscordOpus({ sampleRate: audio.sampleRate, channels: [channel] })));
}

/**
 * An independent decode of the packets at 16 kHz mono, each placed at its time (`atMs` is the end of its 20 ms),
 * with zeros where nothing was sent: what the meeting sounded like, as samples from meeting time 0.
 */
export function referenceDecode(packets: readonly TimedOpusPacket[], totalMs: number): Int16Array {
  const decoder = new OpusScript(16_000, 1, OpusScript.Application.AUDIO);
  const out = new Int16Array(Math.ceil((totalMs * 16_000) / 1000));
  for (const { atMs, packet } of packets) {
    const pcm = decoder.decode(packet);
    const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
    out.set(samples.subarray(0, Math.max(0, out.length - ((atMs - 20) * 16))), (atMs - 20) * 16);
  }
  decoder.delete();
  return out;
}

/** Samples of a PCM buffer (s16le). */
export function samplesOf(pcm: Buffer): Int16Array {
  const copy = Buffer.from(pcm);
  return new Int16Array(copy.buffer, copy.byteOffset, copy.length / 2);
}

/** A sink that keeps everything. */
export class CollectingSink implements CaptionSink {
  readonly captions: CaptionEvent[] = [];
  readonly notices: Notice[] = [];
  caption(event: CaptionEvent): void {
    this.captions.push(event);
  }
  notice(notice: Notice): void {
    this.notices.push(notice);
  }
  get finals(): CaptionEvent[] {
    return this.captions.filter((c) => c.kind === 'final');
  }
}

/** Replays tracks through the real pipeline against `url`, fast (local servers only). */
export async function replayAgainst(
  url: string,
  tracks: ReplayTrack[],
  sink: CaptionSink,
  overrides: Partial<SttConfig> = {},
  tuning: ProviderTuning = {},
): Promise<ReplayResult> {
  const config = sttConfig(url, overrides);
  const logger = silentLogger();
  return runReplay({
    tracks,
    provider: createAssemblyAIProvider(config, logger, tuning),
    speed: 50,
    logger,
    sinks: [sink],
    keyterms: config.keyterms,
    idleCloseMs: config.idleCloseMs,
    maxTurnSilenceMs: config.maxTurnSilenceMs,
    maxAudioAheadMs: null,
  });
}
