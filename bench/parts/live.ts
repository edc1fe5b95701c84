/**
 * Parts 2 and 3 — speakers per core and added latency, from one real-time run.
 *
 * N speakers talk at real-time pacing (each plays the speech fixtures back to back in its own shuffled order, with
 * the fixtures' own pauses and 0.5–2 s between them) into the production `CaptionPipeline` on the system clock
 * with live settings (jitter allowance 60 ms, audio pacing 1,000 ms, the shipped idle close, max_turn_silence
 * 1,000 ms), against the full fake AssemblyAI server (it enforces the real-time rule, sends `Begin` 300 ms after
 * the upgrade and `Termination` 200 ms after `Terminate`: sessions close between utterances and reopen), with captions
 * posted by the production `DiscordSink` through discord.js's REST client to a local stand-in of Discord's
 * `POST /channels/:id/messages`. Both servers run in a child process.
 *
 * Speakers per core: `process.cpuUsage()` of this process over the window in which every speaker is talking,
 * divided by speaker-seconds (N × window); one core at 50 % load carries 0.5 / that many speakers. Excluded:
 * Discord voice receive (UDP, decryption, DAVE), which this bench does not simulate.
 *
 * Added latency, two intervals:
 * (a) last Opus packet of a phrase pushed → the 50 ms frame holding its last sample handed to the socket
 *     (`ws.send` returned: Node writes to the kernel synchronously when the socket is writable);
 * (b) a final `Turn` message delivered by the socket → the Discord REST request for its caption issued
 *     (`CaptionChannel.send` called; the stand-in's arrival time is reported as well).
 * Instrumentation: each session's `sendAudio` is wrapped (via the provider), a `turn` listener is registered on each
 * session before the pipeline's own, and `SpeakerStream.prototype.pushFrame` is wrapped for the duration of the run
 * to learn which speaker each frame belongs to. Nothing else is changed.
 */
import { REST, Routes, escapeMarkdown } from 'discord.js';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_BEGIN_DELAY_MS, DEFAULT_TERMINATION_DELAY_MS } from '../../test/fakes/assemblyai/faults.ts';
import { silentLogger } from '../../src/log.ts';
import type { PcmFrame } from '../../src/audio/format.ts';
import { DiscordSink, type CaptionChannel } from '../../src/captions/discord-sink.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider, type SttProvider } from '../../src/stt/provider.ts';
import { SpeakerStream } from '../../src/stt/speaker-stream.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { buildClips, loadTracks, type Clip } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { cpuStopwatch, mean, percentile, round, seededRandom } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** A packet is the last of a phrase when the speaker's next packet comes at least this much later, ms. */
const PHRASE_GAP_MS = 150;
/** The framing floor: a packet may wait up to one 50 ms frame. */
export const FRAMING_FLOOR_MS = 50;
/** Allowed on top of the floor at p99. */
export const LATENCY_MARGIN_MS = 60;

interface FrameRecord {
  speech: boolean;
  emittedAt: number;
  wireAt?: number;
  /** The speaker's session was not open when the frame came (it was connecting, closing or closed). */
  reopen?: boolean;
}

/**
 * One speaker's packets for the run: utterances from the fixtures (see `buildClips`) one after another in a
 * shuffled order, 0.4–1.5 s apart, starting at `offsetMs`; the last one ends before `durationMs`.
 */
export function speakerSchedule(clips: readonly Clip[], seed: number, offsetMs: number, durationMs: number): TimedOpusPacket[] {
  const random = seededRandom(seed);
  const out: TimedOpusPacket[] = [];
  let t = offsetMs;
  while (t < durationMs && clips.length > 0) {
    const c = clips[Math.floor(random() * clips.length)];
    if (c === undefined) break;
    // Whole utterances only: a speaker cut off mid-phrase would not end with Discord's silence frames.
    if (t + c.spanMs > durationMs) break;
    for (const p of c.packets) out.push({ atMs: t + p.atMs, packet: p.packet });
    t += c.spanMs + 400 + random() * 1_100;
  }
  return out;
}

/** Latency samples from the instrumentation records (exported for the smoke test). */
export function phraseLatencies(
  phraseEnds: ReadonlyArray<{ speaker: string; pushAt: number; silenceFrame?: boolean }>,
  frames: ReadonlyMap<string, readonly FrameRecord[]>,
): { wire: number[]; framing: number[]; unsent: number; wireAfterSpeechPacket: number[]; wireOnOpen: number[]; wireOnReopen: number[] } {
  const wire: number[] = [];
  const wireOnOpen: number[] = [];
  const wireOnReopen: number[] = [];
  const framing: number[] = [];
  const wireAfterSpeechPacket: number[] = [];
  let unsent = 0;
  for (const end of phraseEnds) {
    const list = frames.get(end.speaker) ?? [];
    // The frame holding the phrase's last sample: the last speech frame before a frame of pure fill,
    // emitted at or after the packet was pushed.
    let found: FrameRecord | undefined;
    for (let i = 0; i + 1 < list.length; i++) {
      const frame = list[i];
      const next = list[i + 1];
      if (frame === undefined || next === undefined) continue;
      if (frame.emittedAt + 1e-3 < end.pushAt) continue;
      if (frame.speech && !next.speech) {
        found = frame;
        break;
      }
    }
    if (found === undefined) continue;
    framing.push(found.emittedAt - end.pushAt);
    if (found.wireAt === undefined) unsent++;
    else {
      wire.push(found.wireAt - end.pushAt);
      (found.reopen === true ? wireOnReopen : wireOnOpen).push(found.wireAt - end.pushAt);
      if (end.silenceFrame === false) wireAfterSpeechPacket.push(found.wireAt - end.pushAt);
    }
  }
  return { wire, framing, unsent, wireAfterSpeechPacket, wireOnOpen, wireOnReopen };
}

/** Runs parts 2 and 3. */
export async function run(options: PartOptions): Promise<PartResult> {
  const speakers = options.quick ? 2 : 12;
  const durationMs = options.quick ? 6_000 : 50_000;
  const warmupMs = options.quick ? 1_000 : 4_000;
  const clips = buildClips(await loadTracks());
  // The service's handshake (Begin 300 ms after the upgrade, Termination 200 ms after Terminate): with the shipped
  // idle close, sessions close between utterances and reopen, as they would against AssemblyAI.
  const host = await startServers({ stt: { kind: 'fake', beginDelayMs: DEFAULT_BEGIN_DELAY_MS, terminationDelayMs: DEFAULT_TERMINATION_DELAY_MS }, discord: true });
  const logger = silentLogger();

  // --- instrumentation -------------------------------------------------------------------------------------
  const frameLog = new Map<string, FrameRecord[]>();
  const byPcm = new Map<Buffer, FrameRecord>();
  const originalPushFrame = SpeakerStream.prototype.pushFrame;
  SpeakerStream.prototype.pushFrame = function (this: SpeakerStream, frame: PcmFrame): void {
    const record: FrameRecord = { speech: frame.speech, emittedAt: performance.now(), reopen: this.state !== 'open' };
    let list = frameLog.get(this.speaker.id);
    if (list === undefined) frameLog.set(this.speaker.id, (list = []));
    list.push(record);
    byPcm.set(frame.pcm, record);
    originalPushFrame.call(this, frame);
  };
  let turnArrivedAt: number | undefined;
  const real = createAssemblyAIProvider(
    { apiKey: BENCH_API_KEY, streamingUrl: host.sttUrl ?? '', speechModel: 'u3-rt-pro', idleCloseMs: loadConfig({ ASSEMBLYAI_API_KEY: BENCH_API_KEY }).stt.idleCloseMs, idleCloseMaxMs: 15_000, minTurnSilenceMs: undefined, maxTurnSilenceMs: 1_000, keyterms: [], newSessionsPerMinute: 100_000 },
    logger,
  );
  const provider: SttProvider = {
    speechModel: real.speechModel,
    idleClose: real.idleClose,
    budget: real.budget,
    open: async (keyterms) => {
      const session = await real.open(keyterms);
      const send = session.sendAudio.bind(session);
      session.sendAudio = (pcm: Buffer) => {
        send(pcm);
        const record = byPcm.get(pcm);
        if (record !== undefined) {
          record.wireAt ??= performance.now();
          byPcm.delete(pcm);
        }
      };
      // Registered before SpeakerStream attaches its own listener, so it runs first for every Turn.
      session.on('turn', (turn) => {
        if (!turn.endOfTurn) return;
        turnArrivedAt = performance.now();
        queueMicrotask(() => {
          turnArrivedAt = undefined;
        });
      });
      return session;
    },
  };
  const rest = new REST({ api: host.discordApi ?? '', version: '10' }).setToken('bench-token');
  const channelId = '100000000000000001';
  const sends: Array<{ at: number; content: string }> = [];
  const channel: CaptionChannel = {
    send: async (message) => {
      sends.push({ at: performance.now(), content: message.content });
      const answer = (await rest.post(Routes.channelMessages(channelId), { body: { content: message.content, allowed_mentions: message.allowedMentions } })) as { id: string };
      return { id: answer.id };
    },
    edit: async (messageId, message) => {
      // Finals are appended to the rolling live message: an edit delivers them as a post does.
      sends.push({ at: performance.now(), content: message.content });
      await rest.patch(Routes.channelMessage(channelId, messageId), { body: { content: message.content, allowed_mentions: message.allowedMentions } });
    },
  };
  const sink = new DiscordSink({ channel, clock: systemClock, logger });
  const pipeline = new CaptionPipeline({ provider, clock: systemClock, logger, sinks: [sink], keyterms: [], idleCloseMs: () => provider.idleClose.currentMs(), maxTurnSilenceMs: 1_000 });
  const finals: Array<{ arrivedAt: number; line: string; text: string }> = [];
  pipeline.on('caption', (event) => {
    if (event.kind !== 'final' || turnArrivedAt === undefined) return;
    finals.push({ arrivedAt: turnArrivedAt, line: `**${escapeMarkdown(event.speaker.name)}:** ${escapeMarkdown(event.text)}`, text: event.text });
  });

  // --- the meeting -----------------------------------------------------------------------------------------
  const schedules = Array.from({ length: speakers }, (_, i) => ({
    speaker: { id: `spk${i + 1}`, name: `Speaker ${i + 1}` },
    packets: speakerSchedule(clips, 1000 + i, 13 * i + Math.floor((i * 997) % 1_500), durationMs),
  }));
  const phraseEnds: Array<{ speaker: string; pushAt: number; silenceFrame: boolean }> = [];
  const cursor = schedules.map(() => 0);
  let cpuWindow: ReturnType<typeof cpuStopwatch> | undefined;
  let windowStart = 0;
  let windowUsed: { userMs: number; systemMs: number; totalMs: number } | undefined;
  let windowEnd = 0;
  // The CPU window: from when every speaker has started (and the warm-up is over) to when the first one stops.
  const lastStart = Math.max(...schedules.map((s) => s.packets[0]?.atMs ?? 0));
  const lastEnd = Math.max(1, Math.min(...schedules.map((s) => s.packets.at(-1)?.atMs ?? 0)));
  const windowFrom = Math.min(Math.max(warmupMs, lastStart), lastEnd * 0.5);

  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      if (cpuWindow === undefined && elapsed >= windowFrom) {
        cpuWindow = cpuStopwatch();
        windowStart = elapsed;
      }
      if (cpuWindow !== undefined && windowUsed === undefined && elapsed >= lastEnd) {
        windowUsed = cpuWindow();
        windowEnd = elapsed;
      }
      let next = Infinity;
      schedules.forEach((s, i) => {
        let k = cursor[i] ?? 0;
        while (k < s.packets.length && (s.packets[k]?.atMs ?? Infinity) <= elapsed) {
          const p = s.packets[k];
          const after = s.packets[k + 1];
          if (p !== undefined) {
            const pushAt = performance.now();
            pipeline.pushOpusPacket(s.speaker, p.packet);
            if (after === undefined || after.atMs - p.atMs >= PHRASE_GAP_MS) phraseEnds.push({ speaker: s.speaker.id, pushAt, silenceFrame: p.packet.length === 3 && p.packet[0] === 0xf8 });
          }
          k++;
        }
        cursor[i] = k;
        const due = s.packets[k]?.atMs;
        if (due !== undefined) next = Math.min(next, due);
      });
      if (next === Infinity) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, next - (performance.now() - start)));
    };
    tick();
  });
  // Let the last phrases' fill, finals and posts finish.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  windowUsed ??= cpuWindow?.();
  if (windowEnd === 0) windowEnd = performance.now() - start;
  await pipeline.end();
  await sink.flushed();
  SpeakerStream.prototype.pushFrame = originalPushFrame;
  const stats = await host.stats();
  await host.close();

  // --- figures ---------------------------------------------------------------------------------------------
  const a = phraseLatencies(phraseEnds, frameLog);
  const b: number[] = [];
  const bServer: number[] = [];
  const used = new Map<number, Set<string>>();
  const arrivals = stats.discord ?? [];
  for (const final of finals) {
    const index = sends.findIndex((send, i) => send.at >= final.arrivedAt && (send.content.includes(final.line) || send.content.includes(final.text)) && !(used.get(i)?.has(final.line) ?? false));
    const send = sends[index];
    if (send === undefined) continue;
    if (!used.has(index)) used.set(index, new Set());
    used.get(index)?.add(final.line);
    b.push(send.at - final.arrivedAt);
    const arrived = arrivals.find((r) => (r.method === 'POST' || r.method === 'PATCH') && r.content === send.content);
    if (arrived !== undefined) bServer.push(arrived.arrivedAt - (performance.timeOrigin + final.arrivedAt));
  }
  const windowMs = windowEnd - windowStart;
  const cpuPerSpeakerSecond = windowUsed === undefined || windowMs <= 0 ? Number.NaN : windowUsed.totalMs / (speakers * windowMs);
  // (a) is Parley's own added latency on an open session; phrases whose last frame came while their session was
  // reopening wait for the handshake as well and are reported apart.
  const aP50 = percentile(a.wireOnOpen, 50);
  const aP99 = percentile(a.wireOnOpen, 99);
  const bP50 = percentile(b, 50);
  const bP99 = percentile(b, 99);
  const worseIsA = !(bP99 > aP99);
  return {
    figures: {
      speakers_per_core: round(0.5 / cpuPerSpeakerSecond, 0),
      cpu_ms_per_speaker_second: round(cpuPerSpeakerSecond * 1000, 2),
      added_latency_ms_p50: round(worseIsA ? aP50 : bP50, 1),
      added_latency_ms_p99: round(worseIsA ? aP99 : bP99, 1),
      added_latency_audio_ms_p50: round(aP50, 1),
      added_latency_audio_ms_p99: round(aP99, 1),
      added_latency_caption_ms_p50: round(bP50, 1),
      added_latency_caption_ms_p99: round(bP99, 1),
      added_latency_audio_reopen_ms_p50: a.wireOnReopen.length === 0 ? Number.NaN : round(percentile(a.wireOnReopen, 50), 1),
      added_latency_audio_reopen_ms_p99: a.wireOnReopen.length === 0 ? Number.NaN : round(percentile(a.wireOnReopen, 99), 1),
      added_latency_audio_reopen_share: round(a.wireOnReopen.length / Math.max(1, a.wire.length), 3),
      live_sessions_opened: stats.fake?.sessions ?? Number.NaN,
    },
    details: {
      speakers,
      durationMs,
      cpuWindow: { ms: round(windowMs, 0), userMs: round(windowUsed?.userMs ?? Number.NaN, 1), systemMs: round(windowUsed?.systemMs ?? Number.NaN, 1) },
      latencyAudio: {
        interval: 'last Opus packet of a phrase pushed → the frame holding it handed to the socket',
        samples: a.wire.length,
        onOpenSession: a.wireOnOpen.length,
        duringReopen: a.wireOnReopen.length,
        allP99: round(percentile(a.wire, 99), 1),
        phraseEnds: phraseEnds.length,
        unsent: a.unsent,
        p50: round(aP50, 1),
        p90: round(percentile(a.wire, 90), 1),
        p99: round(aP99, 1),
        max: round(Math.max(...a.wire), 1),
        mean: round(mean(a.wire), 1),
        framingOnlyP50: round(percentile(a.framing, 50), 1),
        framingOnlyP99: round(percentile(a.framing, 99), 1),
        phrasesEndingInSpeechPacket: a.wireAfterSpeechPacket.length,
        endingInSpeechPacketP50: round(percentile(a.wireAfterSpeechPacket, 50), 1),
        all: process.env['BENCH_DEBUG'] === '1' ? a.wire.map((x) => round(x, 1)) : undefined,
      },
      latencyCaption: {
        interval: 'final Turn message delivered → Discord REST request issued (CaptionChannel.send)',
        samples: b.length,
        finals: finals.length,
        p50: round(bP50, 1),
        p99: round(bP99, 1),
        max: round(Math.max(...b), 1),
        toStandInArrivalP50: round(percentile(bServer, 50), 1),
        toStandInArrivalP99: round(percentile(bServer, 99), 1),
      },
      overallIs: worseIsA ? 'audio (a)' : 'caption (b)',
      limitP99Ms: FRAMING_FLOOR_MS + LATENCY_MARGIN_MS,
      sttServer: stats.fake,
      discordPosts: arrivals.filter((r) => r.method === 'POST').length,
      discordEdits: arrivals.filter((r) => r.method === 'PATCH').length,
      sinkCounts: sink.counts,
    },
    notes: [],
  };
}
