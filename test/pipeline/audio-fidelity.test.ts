import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAssemblyAI, type FakeAssemblyAI, type FakeSession } from '../fakes/assemblyai-server.ts';
import { alignAndMeasure } from '../support/snr.ts';
import { CollectingSink, TEST_API_KEY, fixturePackets, referenceDecode, replayAgainst, samplesOf } from '../support/pipeline-harness.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';

/** Least SNR against the independent reference decode: rounding between two libopus builds measures 86–110 dB. */
const MIN_SNR_DB = 80;

/** Silence filled after a speaker's last packet with the default max_turn_silence (1,000 ms) plus the margin. */
const FILL_MS = 1_300;

/** The reference for one speaker: from their first packet's start to their last packet's end plus the fill. */
function expectedAudio(packets: readonly TimedOpusPacket[]): Int16Array {
  const first = packets[0];
  const last = packets.at(-1);
  if (first === undefined || last === undefined) throw new Error('no packets');
  const reference = referenceDecode(packets, last.atMs + FILL_MS);
  return reference.subarray((first.atMs - 20) * 16);
}

describe('the audio that reaches AssemblyAI equals the speech that went in', () => {
  let server: FakeAssemblyAI | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('katiesteve.wav: one speaker, pauses filled from arrival times, ≥ 80 dB SNR against an independent decode and duration within 1%', async () => {
    server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    const [packets = []] = await fixturePackets('katiesteve.wav');
    const sink = new CollectingSink();
    await replayAgainst(server.url, [{ speaker: { id: 'katiesteve', name: 'KatieSteve' }, packets }], sink);

    expect(server.violations).toEqual([]);
    expect(server.sessions).toHaveLength(1);
    const received = samplesOf(server.sessions[0]?.pcm() ?? Buffer.alloc(0));
    const expected = expectedAudio(packets);
    const result = alignAndMeasure(expected, received);
    expect(result.lagSamples).toBe(0);
    // The reference is an independent libopus build (opusscript, int16 output); Parley decodes with opus-decoder
    // (float output, converted to s16le), so the two differ only by rounding: 86–110 dB on these fixtures.
    // Any real loss fails here: one Opus packet dropped in fifty scores about 12 dB.
    expect(result.snrDb).toBeGreaterThanOrEqual(MIN_SNR_DB);
    expect(Math.abs(result.durationRatio - 1)).toBeLessThanOrEqual(0.01);
    expect(sink.finals.length).toBeGreaterThanOrEqual(5);
  });

  it('stereo_diarization.wav: two concurrent speakers, each channel reaches its own session intact', async () => {
    // The recognizer names the session, so each caption shows which session (and so whose audio) produced it.
    server = await startFakeAssemblyAI({
      apiKey: TEST_API_KEY,
      maxAudioAheadMs: null,
      recognizer: ({ session, startMs, endMs }) => [{ text: `session${session.index}`, start: startMs, end: endMs }],
    });
    const [left = [], right = []] = await fixturePackets('stereo_diarization.wav', true);
    const speakers = [
      { speaker: { id: 'left', name: 'Left' }, packets: left },
      { speaker: { id: 'right', name: 'Right' }, packets: right },
    ];
    const sink = new CollectingSink();
    await replayAgainst(server.url, speakers, sink);

    expect(server.violations).toEqual([]);
    expect(server.sessions).toHaveLength(2);
    const sessionOf = new Map<string, FakeSession>();
    for (const { speaker, packets } of speakers) {
      const expected = expectedAudio(packets);
      const matches = server.sessions.map((session) => alignAndMeasure(expected, samplesOf(session.pcm())));
      const best = matches.findIndex((m) => m.snrDb === Math.max(...matches.map((x) => x.snrDb)));
      const match = matches[best];
      expect(match?.snrDb).toBeGreaterThanOrEqual(MIN_SNR_DB);
      expect(match?.lagSamples).toBe(0);
      expect(Math.abs((match?.durationRatio ?? 0) - 1)).toBeLessThanOrEqual(0.01);
      const session = server.sessions[best];
      if (session === undefined) throw new Error('no session');
      sessionOf.set(speaker.id, session);
    }
    expect(sessionOf.get('left')).not.toBe(sessionOf.get('right'));
    // Captions are attributed to the speaker whose audio produced them.
    expect(sink.finals.length).toBeGreaterThanOrEqual(2);
    for (const caption of sink.captions) {
      expect(caption.text.toLowerCase()).toContain(`session${sessionOf.get(caption.speaker.id)?.index}`);
    }
    expect(new Set(sink.finals.map((c) => c.speaker.id))).toEqual(new Set(['left', 'right']));
  });
});
