/**
 * Members' speech for bot tests, and which fake AssemblyAI session received whose speech.
 *
 * The speech is real: `stereo_diarization.wav` has a different read-speech speaker on each channel, overlapping in
 * time, so one channel is Katie and the other Steve, each turned into the Opus packets a Discord client sends
 * (48 kHz stereo, 20 ms, nothing during silence).
 */
import type { FakeSession } from '../../fakes/assemblyai-server.ts';
import type { TimedOpusPacket } from '../../fakes/discord/stand-in.ts';
import { fixturePackets, referenceDecode, samplesOf } from '../../support/pipeline-harness.ts';

/** Two overlapping speakers' packets: `left` (about 5 s) and `right` (about 2.5 s). */
export async function twoSpeakers(): Promise<{ left: TimedOpusPacket[]; right: TimedOpusPacket[] }> {
  const [left, right] = await fixturePackets('stereo_diarization.wav', true);
  if (left === undefined || right === undefined || left.length === 0 || right.length === 0) throw new Error('stereo_diarization.wav has no speech');
  return { left, right };
}

/** What a session should have received for these packets: their decode from the first packet on, at 16 kHz mono. */
function reference(packets: readonly TimedOpusPacket[]): Int16Array {
  const first = packets[0];
  const last = packets.at(-1);
  if (first === undefined || last === undefined) throw new Error('no packets');
  return referenceDecode(packets, last.atMs).subarray((first.atMs - 20) * 16);
}

/** Averages each run of `factor` samples: 16 kHz → 2 kHz keeps the speech envelope and makes the search cheap. */
function decimate(samples: Int16Array, factor: number): Float64Array {
  const out = new Float64Array(Math.floor(samples.length / factor));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let j = 0; j < factor; j++) sum += samples[i * factor + j] ?? 0;
    out[i] = sum / factor;
  }
  return out;
}

const DECIMATION = 8;
/** Chunk of reference speech compared at a time: 0.5 s at 2 kHz. */
const CHUNK = 1_000;
/** How far a chunk may have moved in the received audio, either way: 1 s at 2 kHz. */
const MAX_SHIFT = 2_000;

/**
 * How much of `expected`'s speech is in `received`, from 0 (none) to 1 (all, sample for sample): the median, over
 * the reference's speech chunks (0.5 s), of the best normalised correlation with the received audio within ±1 s of
 * where the chunk should be. Chunks are matched one by one, so the pipeline placing a late packet's talk spurt a
 * little later (as it must on a jittery network) does not make the speech unrecognisable; another speaker's
 * speech correlates poorly everywhere.
 */
export function speechMatch(expected: Int16Array, received: Int16Array): number {
  const ref = decimate(expected, DECIMATION);
  const got = decimate(received, DECIMATION);
  const chunks: Array<{ at: number; energy: number }> = [];
  for (let at = 0; at + CHUNK <= ref.length; at += CHUNK) {
    let energy = 0;
    for (let i = 0; i < CHUNK; i++) energy += ref[at + i]! ** 2;
    chunks.push({ at, energy });
  }
  const loudest = Math.max(0, ...chunks.map((c) => c.energy));
  const speech = chunks.filter((c) => c.energy > loudest * 0.05);
  if (speech.length === 0 || got.length < CHUNK) return 0;
  const scores = speech.map(({ at, energy }) => {
    let best = 0;
    for (let shift = -MAX_SHIFT; shift <= MAX_SHIFT; shift++) {
      const start = at + shift;
      if (start < 0 || start + CHUNK > got.length) continue;
      let dot = 0;
      let power = 0;
      for (let i = 0; i < CHUNK; i++) {
        const x = got[start + i]!;
        dot += ref[at + i]! * x;
        power += x * x;
      }
      if (power > 0) best = Math.max(best, dot / Math.sqrt(energy * power));
    }
    return best;
  });
  scores.sort((a, b) => a - b);
  return scores[Math.floor(scores.length / 2)] ?? 0;
}

/** How well each session's audio matches `packets` ({@link speechMatch}, 0–1). */
export function matchScores(sessions: readonly FakeSession[], packets: readonly TimedOpusPacket[]): number[] {
  const expected = reference(packets);
  return sessions.map((session) => speechMatch(expected, samplesOf(session.pcm())));
}

/**
 * The session that received `packets`' speech: the best match, which must be a real match (≥ `minScore`) and
 * clearly better than every other session, so a mix-up between speakers cannot pass.
 */
export function sessionThatHeard(sessions: readonly FakeSession[], packets: readonly TimedOpusPacket[], minScore = 0.8): FakeSession {
  const scores = matchScores(sessions, packets);
  const best = scores.indexOf(Math.max(...scores));
  const session = sessions[best];
  const score = scores[best] ?? 0;
  const shown = scores.map((s) => s.toFixed(2)).join(', ');
  if (session === undefined || score < minScore) throw new Error(`no session received this speech (match by session: ${shown})`);
  for (const [index, other] of scores.entries()) {
    if (index !== best && other > score - 0.3) throw new Error(`sessions ${best} and ${index} both match this speech (${shown})`);
  }
  return session;
}

/**
 * The same speech cut into short utterances: every `everyMs` of it, the member pauses for `pauseMs` (Discord
 * sends nothing meanwhile). With a recognizer whose words end a sentence, each utterance becomes its own turn,
 * so a few seconds of speech make a burst of final captions.
 */
export function withPauses(packets: readonly TimedOpusPacket[], everyMs: number, pauseMs: number): TimedOpusPacket[] {
  const first = packets[0]?.atMs ?? 0;
  return packets.map((p) => ({ ...p, atMs: p.atMs + Math.floor((p.atMs - first) / everyMs) * pauseMs }));
}
