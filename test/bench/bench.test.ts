/**
 * Smoke test of the bench's measuring functions on tiny inputs (a half-second tone, a few packets): they run,
 * count what they should and report numbers. No timing assertions: the figures themselves come from
 * `npm run bench` on a quiet machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tonePackets as encodeTone } from '../support/tone.ts';
import { OPUS_SILENCE_FRAME, type TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { PCM_FRAME_BYTES } from '../../src/audio/format.ts';
import { startLightStt, type LightStt } from '../../bench/lib/light-stt.ts';
import { startDiscordRest } from '../../bench/lib/discord-rest.ts';
import { BENCH_API_KEY } from '../../bench/lib/servers.ts';
import { buildConversation, rebase, splitAtGaps, type Clip, type Track } from '../../bench/lib/fixtures.ts';
import { maxInWindow, percentile, seededRandom } from '../../bench/lib/stats.ts';
import { measureAudioPath, measureDecode, measureMinimalPath } from '../../bench/parts/audio-path.ts';
import { measureBilling } from '../../bench/parts/billing.ts';
import { measureSpeakers } from '../../bench/parts/speakers.ts';
import { phraseLatencies } from '../../bench/parts/live.ts';
import { flatness, measureRealtimeMemory, RSS_FLAT_MB, type RealtimeSample } from '../../bench/parts/realtime-memory.ts';
import { startFakeLlmServer } from '../fakes/llm-server.ts';
import { silentLogger } from '../../src/log.ts';
import { renderTable, verdict, ROWS } from '../../bench/lib/report.ts';
import { SpeakerAudio } from '../../src/audio/speaker-audio.ts';
import type { PcmFrame } from '../../src/audio/format.ts';
import { VirtualClock } from '../../src/clock.ts';

/** `count` 20 ms packets of a 440 Hz tone as a Discord client sends them, then its five silence frames. */
function tonePackets(count: number, startMs = 0): TimedOpusPacket[] {
  const packets: TimedOpusPacket[] = encodeTone(count).map((packet, p) => ({ atMs: startMs + (p + 1) * 20, packet }));
  for (let s = 0; s < 5; s++) packets.push({ atMs: startMs + (count + s + 1) * 20, packet: Buffer.from(OPUS_SILENCE_FRAME) });
  return packets;
}

describe('bench helpers', () => {
  it('computes percentiles, sliding-window maxima and a repeatable random sequence', () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([10, 20], 99)).toBeCloseTo(19.9);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(maxInWindow([0, 1_000, 59_999, 60_000, 61_000], 60_000)).toBe(3);
    const a = seededRandom(5);
    const b = seededRandom(5);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });

  it('splits tracks at gaps and builds a time-ordered conversation in which nobody overlaps themself', () => {
    const packets = [...tonePackets(10), ...tonePackets(10, 1_000)];
    const parts = splitAtGaps(packets, 250);
    expect(parts).toHaveLength(2);
    expect(rebase(parts[1] ?? [])[0]?.atMs).toBe(20);
    const clips: Clip[] = parts.map((part, i) => {
      const rebased = rebase(part);
      return { name: `c${i}`, packets: rebased, spanMs: rebased.at(-1)?.atMs ?? 0 };
    });
    const meeting = buildConversation({ speakers: 3, durationMs: 20_000, seed: 1, clips });
    expect(meeting.schedule.length).toBe(meeting.packetsPerSpeaker.reduce((x, y) => x + y, 0));
    for (let i = 1; i < meeting.schedule.length; i++) expect(meeting.schedule[i]?.atMs).toBeGreaterThanOrEqual(meeting.schedule[i - 1]?.atMs ?? 0);
    for (let s = 0; s < 3; s++) {
      const own = meeting.schedule.filter((p) => p.speaker === s).map((p) => p.atMs);
      expect(new Set(own).size).toBe(own.length);
    }
  });

  it('finds the frame holding a phrase’s last packet and measures from the push to the socket', () => {
    const frames = new Map([
      [
        'a',
        [
          { speech: true, emittedAt: 5, wireAt: 5.1 },
          { speech: true, emittedAt: 60, wireAt: 61 },
          { speech: false, emittedAt: 110, wireAt: 110.5 },
        ],
      ],
    ]);
    const result = phraseLatencies([{ speaker: 'a', pushAt: 20, silenceFrame: true }], frames);
    expect(result.wire).toEqual([41]);
    expect(result.framing).toEqual([40]);
    expect(result.unsent).toBe(0);
    expect(result.wireOnOpen).toEqual([41]);
    expect(result.wireOnReopen).toEqual([]);
  });

  it('puts a phrase whose last frame came while its session was reopening apart', () => {
    const frames = new Map([
      [
        'a',
        [
          { speech: true, emittedAt: 60, wireAt: 400, reopen: true },
          { speech: false, emittedAt: 110, wireAt: 401, reopen: true },
        ],
      ],
    ]);
    const result = phraseLatencies([{ speaker: 'a', pushAt: 20, silenceFrame: true }], frames);
    expect(result.wire).toEqual([380]);
    expect(result.wireOnReopen).toEqual([380]);
    expect(result.wireOnOpen).toEqual([]);
  });

  it('renders the table with targets and verdicts', () => {
    const figures = { audio_path_vs_decode_ratio: 0.8, billed_over_speech_ratio: 2, llm_requests_per_final_turn: Number.NaN };
    const byKey = (key: string) => ROWS.find((row) => row.key === key);
    expect(verdict(byKey('audio_path_vs_decode_ratio')!, figures)).toBe('PASS');
    expect(verdict(byKey('billed_over_speech_ratio')!, figures)).toBe('FAIL');
    expect(verdict(byKey('llm_requests_per_final_turn')!, figures)).toBe('n/a');
    expect(renderTable(figures)).toContain('| audio_path_vs_decode_ratio');
  });
});

describe('bench measurements on tiny inputs', () => {
  let sink: LightStt;
  let turns: LightStt;
  const tracks: Track[] = [
    { name: 'tone-a', packets: tonePackets(25) },
    { name: 'tone-b', packets: tonePackets(15, 200) },
  ];

  beforeAll(async () => {
    sink = await startLightStt({ mode: 'count', apiKey: BENCH_API_KEY });
    turns = await startLightStt({ mode: 'turns', apiKey: BENCH_API_KEY });
  });
  afterAll(async () => {
    await sink.close();
    await turns.close();
  });

  it('times a bare decode, the minimal path and Parley’s audio path into a byte-counting sink', async () => {
    const decode = await measureDecode(tracks);
    expect(decode.audioMs).toBe((30 + 20) * 20);
    expect(decode.samples).toBeGreaterThan(0);
    expect(decode.cpuMs).toBeGreaterThanOrEqual(0);

    const before = sink.stats().audioBytes;
    const path = await measureAudioPath(tracks, sink.url);
    expect(path.framesSent).toBeGreaterThan(20);
    expect(path.bytesSent).toBe(path.framesSent * PCM_FRAME_BYTES);
    const minimal = await measureMinimalPath(tracks, sink.url);
    expect(minimal.framesSent).toBeGreaterThan(20);
    await expect.poll(() => sink.stats().audioBytes - before).toBe((path.framesSent + minimal.framesSent) * PCM_FRAME_BYTES);
    expect(sink.stats().badFrames).toBe(0);
  });

  it('runs concurrent speakers across meetings, every packet decoded and every frame sent', async () => {
    const before = sink.stats().audioBytes;
    const run = await measureSpeakers(tracks, sink.url, 3, 400);
    expect(run.speakersSeen).toBe(3);
    expect(run.whole).toBe(3);
    expect(run.cpuMs).toBeGreaterThan(0);
    expect(run.speechSeconds).toBeGreaterThan(0);
    await expect.poll(() => sink.stats().audioBytes - before).toBe(run.bytesSent);
  });

  it('measures billed session time against speech for a tiny call', async () => {
    const schedule = tracks.flatMap((track, speaker) => track.packets.map((p) => ({ speaker, atMs: p.atMs, packet: p.packet }))).sort((a, b) => a.atMs - b.atMs);
    const run = await measureBilling(turns.url, schedule, 2, { name: 'idle-2000', idleCloseMs: 2_000 });
    expect(run.sessionsOpened).toBe(2);
    expect(run.speechSeconds).toBeCloseTo(1, 5);
    expect(run.billedSeconds).toBeGreaterThan(0);
    expect(run.billedOverSpeech).toBeGreaterThan(0);
    expect(run.wholeCallOverSpeech).toBeGreaterThan(0);
    await expect.poll(() => turns.stats().openSessions).toBe(0);
    expect(turns.stats().closedWithoutTerminate).toBe(0);
  });

  it('bills the handshakes: meeting time runs on through Begin and Termination waits', async () => {
    const schedule = tracks.flatMap((track, speaker) => track.packets.map((p) => ({ speaker, atMs: p.atMs, packet: p.packet }))).sort((a, b) => a.atMs - b.atMs);
    const slow = await startLightStt({ mode: 'turns', apiKey: BENCH_API_KEY, beginDelayMs: 300, terminationDelayMs: 200 });
    try {
      const policy = { name: 'idle-2000', idleCloseMs: 2_000 };
      const quick = await measureBilling(turns.url, schedule, 2, policy);
      const withHandshake = await measureBilling(slow.url, schedule, 2, policy);
      expect(withHandshake.sessionsOpened).toBe(2);
      // Both sessions are open to the end of the call (billing starts at the upgrade either way); each then bills
      // its 200 ms wait for Termination on top. Begin's 300 ms shows in the reopen delay instead.
      expect(withHandshake.billedSeconds - quick.billedSeconds).toBeGreaterThanOrEqual(2 * 0.18);
      expect(withHandshake.closed.reopen.length).toBe(2);
      for (const delay of withHandshake.closed.reopen) expect(delay).toBeGreaterThanOrEqual(300);
    } finally {
      await slow.close();
    }
  });

  it('runs a meeting at real-time pacing with translation and the recap, sampling memory on schedule', async () => {
    const discord = await startDiscordRest();
    const llm = await startFakeLlmServer();
    try {
      const clips: Clip[] = tracks.map((track) => {
        const packets = rebase(track.packets);
        return { name: track.name, packets, spanMs: packets.at(-1)?.atMs ?? 0 };
      });
      const run = await measureRealtimeMemory({
        sttUrl: turns.url,
        discordApi: discord.api,
        llmBaseUrl: llm.baseUrl,
        clips,
        durationMs: 6_000,
        sampleEveryMs: 1_000,
        speakers: 3,
        languages: ['es', 'fr'],
        leaveEveryMs: 2_000,
        logger: silentLogger(),
      });
      // A sample at the start and each second to the end; two members left (at 2 s and 4 s).
      expect(run.samples.map((s) => Math.round(s.minute * 60))).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(run.leaves).toBe(2);
      expect(run.finals).toBeGreaterThan(0);
      expect(run.sessionsOpened).toBeGreaterThan(0);
      // Every final translated into both languages, stored, and posted to each language's channel.
      expect(run.translated).toBe(run.finals);
      expect(run.translationsFailed).toBe(0);
      expect(run.translationsStored).toBe(run.finals * 2);
      const threadPosts = new Set(discord.records.filter((r) => r.method === 'POST' && !r.path.includes('/200000000000000001/')).map((r) => r.path));
      expect(threadPosts.size).toBe(2);
      // The recap was made by the gateway and posted with the transcript files, and nothing was left running.
      expect(run.recapMade).toBe(true);
      expect(llm.requests.some((r) => JSON.stringify(r.body).includes('meeting_recap'))).toBe(true);
      expect(run.reportMessages).toBeGreaterThanOrEqual(1);
      expect(run.reportFiles).toBeGreaterThanOrEqual(7);
      expect(run.leftAfterEnd).toMatchObject({ speakers: 0, openSessions: 0 });
      expect(run.captionMessages.failures).toBe(0);
    } finally {
      await llm.close();
      await discord.close();
    }
  }, 60_000);

  it('judges flat memory from the quarter mark: RSS within 10 MB of that sample to the end', () => {
    const at = (minute: number, rssMb: number, heapUsedMb = 30): RealtimeSample => ({
      minute,
      rssMb,
      heapUsedMb,
      heapTotalMb: 40,
      externalMb: 1,
      arrayBuffersMb: 1,
      finals: 0,
      translated: 0,
      openSessions: 0,
      sessionsOpened: 0,
      handles: 0,
      cpuMs: 0,
    });
    // Growth before the mark does not count; after it, the largest distance from the mark does.
    const ramp = [at(0, 100), at(10, 150), at(15, 160), at(30, 165), at(60, 160 + RSS_FLAT_MB)];
    expect(flatness(ramp, 15)).toMatchObject({ rssDriftMb: RSS_FLAT_MB, flat: true });
    const leak = [at(0, 100), at(15, 160), at(30, 166), at(45, 171), at(60, 176, 41)];
    expect(flatness(leak, 15)).toMatchObject({ rssDriftMb: 16, heapDriftMb: 11, flat: false });
    expect(flatness([at(0, 100)], 15).flat).toBe(false);
  });

  it('answers Discord-style message posts and edits', async () => {
    const discord = await startDiscordRest();
    try {
      const posted = (await (await fetch(`${discord.api}/v10/channels/1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'hi' }) })).json()) as { id: string; content: string };
      expect(posted.content).toBe('hi');
      const edited = await fetch(`${discord.api}/v10/channels/1/messages/${posted.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'ho' }) });
      expect(edited.status).toBe(200);
      expect(discord.records.map((r) => r.method)).toEqual(['POST', 'PATCH']);
    } finally {
      await discord.close();
    }
  });
});

describe('what the latency figure relies on (src/audio/speaker-audio.ts)', () => {
  /** Plays packets at their times on a virtual clock, then 1 ms steps; returns when the phrase's last frame was emitted. */
  async function lastSpeechFrameAt(packets: TimedOpusPacket[]): Promise<{ emittedAt: number; lastPacketAt: number; frames: PcmFrame[] }> {
    const clock = new VirtualClock();
    const frames: Array<PcmFrame & { at: number }> = [];
    const audio = new SpeakerAudio({ clock, meetingNow: () => clock.now(), silenceFillMs: 1_300, onFrame: (f) => frames.push({ ...f, at: clock.now() }), onSpeechEnd: () => {} });
    await audio.settled(); // the decoder has started, so each packet is framed as it arrives
    for (const p of packets) {
      clock.advanceTo(p.atMs);
      audio.pushOpusPacket(p.packet);
    }
    const lastPacketAt = packets.at(-1)?.atMs ?? 0;
    for (let t = lastPacketAt; t <= lastPacketAt + 1_500; t++) clock.advanceTo(t);
    audio.destroy();
    const last = frames.filter((f) => f.speech).at(-1);
    return { emittedAt: last?.at ?? Number.NaN, lastPacketAt, frames };
  }

  it('sends a phrase ending in Discord silence frames at most 20 ms after its last frame is complete', async () => {
    for (const count of [10, 11, 12, 13, 14]) {
      const { emittedAt, lastPacketAt, frames } = await lastSpeechFrameAt(tonePackets(count, 1_000));
      // The frame holding the last packet ends at most 40 ms after it (20 ms packets in 50 ms frames).
      expect(emittedAt - lastPacketAt).toBeLessThanOrEqual(40 + 20);
      // The timeline is untouched: contiguous 50 ms frames from the first packet's start.
      expect(frames.map((f) => f.meetingStartMs)).toEqual(frames.map((_, i) => 1_000 + i * 50));
    }
  });

  it('still waits out the jitter allowance after a speech packet, since a late one may yet arrive', async () => {
    const packets = tonePackets(12, 1_000).slice(0, 12); // no silence frames: the speaker's client stopped abruptly
    const { emittedAt, lastPacketAt } = await lastSpeechFrameAt(packets);
    expect(emittedAt - lastPacketAt).toBeGreaterThanOrEqual(60);
    expect(emittedAt - lastPacketAt).toBeLessThanOrEqual(40 + 20 + 60);
  });
});
