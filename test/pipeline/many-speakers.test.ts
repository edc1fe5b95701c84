/**
 * Many speakers in one process, and decoders that fail. opusscript kept every decoder of the process in one
 * WebAssembly heap and failed from the 30th on, so the 30th speaker was never captioned and no one was told
 * (issue 16). Here 60 people talk at once in three meetings against one fake AssemblyAI server, and each one's whole
 * speech must reach their own session; a decoder forced to fail must be replaced, and one whose replacement fails
 * too must be reported (error log, counter, a notice to the channel).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeSession, type Recognizer } from '../fakes/assemblyai-server.ts';
import { alignAndMeasure } from '../support/snr.ts';
import { CollectingSink, TEST_API_KEY, referenceDecode, replayAgainst, samplesOf, sttConfig } from '../support/pipeline-harness.ts';
import { speechFixture } from '../support/fixtures.ts';
import { tonePackets } from '../support/tone.ts';
import { oggOpusFixture } from '../support/ogg-opus.ts';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { encodeDiscordOpus } from '../../src/replay/discord-opus.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import type { ReplayTrack } from '../../src/replay/replay.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { VirtualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import { createLibopusDecoder, type OpusBackend, type OpusBackendFactory } from '../../src/audio/opus-decoder.ts';

/** Silence filled after a speaker's last packet with the default max_turn_silence (1,000 ms) plus the margin. */
const FILL_MS = 1_300;

/** Captions name the session that produced them, so each caption shows whose audio reached which session. */
const sessionNaming: Recognizer = ({ session, startMs, endMs }) => [{ text: `session${session.index}`, start: startMs, end: endMs }];

/** The session a speaker's captions came from; fails unless all of them name one session. */
function sessionOf(captions: readonly CaptionEvent[], speakerId: string, sessions: readonly FakeSession[]): FakeSession {
  const named = new Set(captions.filter((c) => c.speaker.id === speakerId).map((c) => /session(\d+)/i.exec(c.text)?.[1]));
  expect([...named], `sessions in ${speakerId}'s captions`).toHaveLength(1);
  const session = sessions[Number([...named][0])];
  if (session === undefined) throw new Error(`no session for ${speakerId}`);
  return session;
}

/** From the speaker's first packet's start to their last packet's end plus the fill, decoded independently. */
function expectedAudio(packets: readonly TimedOpusPacket[]): Int16Array {
  const first = packets[0];
  const last = packets.at(-1);
  if (first === undefined || last === undefined) throw new Error('no packets');
  return referenceDecode(packets, last.atMs + FILL_MS).subarray((first.atMs - 20) * 16);
}

/** Longest run of exact zeros (a packet that was never decoded leaves 320 of them), samples. */
function longestZeroRun(samples: Int16Array): number {
  let longest = 0;
  let run = 0;
  for (const sample of samples) {
    run = sample === 0 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

/** The first {@link OPENING_S} s of a recording (a track per channel when `split`), as a Discord client sends it. */
async function opening(path: string, split = false): Promise<TimedOpusPacket[][]> {
  const audio = await readAudioFile(path);
  const channels = audio.channels.map((channel) => channel.subarray(0, OPENING_S * audio.sampleRate));
  if (!split) return [await encodeDiscordOpus({ sampleRate: audio.sampleRate, channels })];
  return Promise.all(channels.map((channel) => encodeDiscordOpus({ sampleRate: audio.sampleRate, channels: [channel] })));
}

/** Seconds of each recording the 60 speakers draw from: enough for 4 s from any of their offsets. */
const OPENING_S = 7;

/** The error a WebAssembly trap throws (the TypeScript lib in use does not declare `WebAssembly`). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError;

describe('many speakers in one process', () => {
  let server: FakeAssemblyAI | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('60 people talking at once in three meetings: each one’s whole speech reaches their own session and is captioned', async () => {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, recognizer: sessionNaming });
    const [[jfk = []], [katiesteve = []], [opus = []], [left = [], right = []]] = await Promise.all([
      opening(speechFixture('jfk.flac')),
      opening(speechFixture('katiesteve.wav')),
      oggOpusFixture().then((path) => opening(path)),
      opening(speechFixture('stereo_diarization.wav'), true),
    ]);
    const sources = [jfk, katiesteve, opus, left, right];
    // Each speaker says something of their own: a recording from a different point, at most 4 s of it.
    const speakers: Array<ReplayTrack & { packets: TimedOpusPacket[] }> = Array.from({ length: 60 }, (_, i) => {
      const source = sources[i % sources.length] ?? [];
      const skip = Math.floor(i / sources.length) * 4;
      const start = source[skip]?.atMs ?? 0;
      return { speaker: { id: `m${Math.floor(i / 20)}s${i}`, name: `Speaker ${i}` }, packets: source.slice(skip).filter((p) => p.atMs <= start + 4_000) };
    });
    const meetings = [0, 1, 2].map((m) => ({ tracks: speakers.slice(m * 20, m * 20 + 20), sink: new CollectingSink() }));

    await Promise.all(meetings.map(({ tracks, sink }) => replayAgainst(server?.url ?? '', tracks, sink)));

    expect(server.violations).toEqual([]);
    expect(server.sessions).toHaveLength(60);
    const used = new Set<FakeSession>();
    for (const { tracks, sink } of meetings) {
      expect(sink.notices).toEqual([]);
      for (const { speaker, packets } of tracks) {
        expect(sink.finals.some((c) => c.speaker.id === speaker.id), `${speaker.id} captioned`).toBe(true);
        const session = sessionOf(sink.captions, speaker.id, server.sessions);
        expect(used.has(session), `${speaker.id} has a session of their own`).toBe(false);
        used.add(session);
        const expected = expectedAudio(packets);
        const received = samplesOf(session.pcm());
        const result = alignAndMeasure(expected, received, { maxLagSamples: 16 });
        expect(result.lagSamples, speaker.id).toBe(0);
        expect(result.snrDb, speaker.id).toBeGreaterThanOrEqual(15);
        // All of it, and no more than the padding of the last 50 ms frame (800 samples).
        expect(received.length - expected.length, speaker.id).toBeGreaterThanOrEqual(0);
        expect(received.length - expected.length, speaker.id).toBeLessThan(800);
      }
    }
  }, 180_000); // 60 speakers' speech encoded, replayed and compared: minutes on a heavily loaded 2-core machine

  it('a failing decoder is replaced with nothing lost; when the replacement fails too, the channel is told, and it is logged and counted', async () => {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null, recognizer: sessionNaming });
    // The first decoders go to Ana, Ben and Cy in the order they first speak. A decoder that traps names what
    // replaces it (the pipeline creates the replacement right after the trap).
    let replacement: (() => OpusBackend) | undefined;
    const trapsAt = (decode: number, next: () => OpusBackend) => (): OpusBackend => {
      const real = createLibopusDecoder();
      let decodes = 0;
      return {
        ready: real.ready,
        free: () => real.free(),
        decodeFrame: (packet) => {
          if (++decodes >= decode) {
            replacement = next;
            throw new WasmRuntimeError('memory access out of bounds');
          }
          return real.decodeFrame(packet);
        },
      };
    };
    const firsts = [createLibopusDecoder, trapsAt(40, trapsAt(3, createLibopusDecoder)), trapsAt(30, createLibopusDecoder)];
    let created = 0;
    const createOpusDecoder: OpusBackendFactory = () => {
      const make = replacement ?? firsts[created] ?? createLibopusDecoder;
      replacement = undefined;
      created++;
      return make();
    };

    const logs: Array<{ level: number; msg: string; speakerId?: string }> = [];
    const logger = createLogger({ level: 'info', secrets: [], destination: { write: (line: string) => void logs.push(JSON.parse(line)) } });
    const clock = new VirtualClock();
    const sink = new CollectingSink();
    const config = sttConfig(server.url);
    const pipeline = new CaptionPipeline({
      provider: createAssemblyAIProvider(config, logger),
      clock,
      logger,
      sinks: [sink],
      keyterms: [],
      idleCloseMs: 15_000,
      maxTurnSilenceMs: config.maxTurnSilenceMs,
      maxAudioAheadMs: null,
      jitterMs: 0,
      createOpusDecoder,
    });
    const people = [
      { id: 'ana', name: 'Ana' },
      { id: 'ben', name: 'Ben' },
      { id: 'cy', name: 'Cy' },
    ];
    const packets = tonePackets(100, 300, 12_000); // 2 s each, all three at once
    for (const [i, packet] of packets.entries()) {
      const t = (i + 1) * 20;
      clock.advanceTo(t);
      for (const person of people) pipeline.pushOpusPacket(person, packet, t);
      await yieldToIo();
    }
    for (let t = 2_000; t <= 2_000 + FILL_MS + 200; t += 50) {
      clock.advanceTo(t);
      await yieldToIo();
    }
    const counters = pipeline.counters();
    expect(pipeline.status().map((s) => [s.speaker.id, s.decoderFailed])).toEqual([['ana', false], ['ben', true], ['cy', false]]);
    await pipeline.end();

    // Ben is reported once, in plain words, at error level, and counted.
    expect(sink.notices).toEqual([{ level: 'error', text: expect.stringMatching(/^Ben cannot be captioned: Parley could not decode their audio/) }]);
    expect(counters.decoderFailures).toBe(1);
    expect(logs.filter((l) => l.level === 50)).toEqual([expect.objectContaining({ speakerId: 'ben', msg: expect.stringContaining('cannot be captioned') })]);
    expect(logs.filter((l) => l.level === 40 && /fresh one took over/.test(l.msg)).map((l) => l.speakerId).sort()).toEqual(['ben', 'cy']);

    // Cy's replacement decoded the packet his first decoder failed on and everything after: his session heard
    // the same 2 s as Ana's, whose decoder never failed.
    expect(server.violations).toEqual([]);
    const ana = sessionOf(sink.captions, 'ana', server.sessions);
    const cy = sessionOf(sink.captions, 'cy', server.sessions);
    const ben = sessionOf(sink.captions, 'ben', server.sessions);
    expect(cy.audioMs).toBe(ana.audioMs);
    expect(ana.audioMs).toBe(2_000 + FILL_MS);
    expect(alignAndMeasure(samplesOf(ana.pcm()), samplesOf(cy.pcm()), { maxLagSamples: 16 }).snrDb).toBeGreaterThanOrEqual(15);
    // No 20 ms hole in his 2 s of tone (the first 20 ms are left out: a decoder's first output ramps up).
    const speech = (session: FakeSession) => samplesOf(session.pcm()).subarray(320, 2_000 * 16);
    expect(longestZeroRun(speech(ana))).toBeLessThan(100);
    expect(longestZeroRun(speech(cy))).toBeLessThan(100);
    // Ben was captioned until his decoders failed (39 + 2 packets, the fill, the last frame padded to 50 ms), and
    // his session was ended properly.
    expect(ben.terminated).toBe(true);
    expect(ben.audioMs).toBe(Math.ceil((41 * 20 + FILL_MS) / 50) * 50);
    expect(sink.finals.map((c) => c.speaker.id).sort()).toEqual(['ana', 'ben', 'cy']);
  });
});
