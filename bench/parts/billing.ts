/**
 * Part 5 — seconds of AssemblyAI sessions billed over seconds of speech, sessions opened per minute, and what a
 * closed session costs the first caption of a turn.
 *
 * Three conversations, each through the production `CaptionPipeline` on a `VirtualClock` against the light STT
 * server (`turns` mode, child process) with a realistic handshake: `Begin` 300 ms after the upgrade and
 * `Termination` 200 ms after `Terminate` (the full fake's defaults, `test/fakes/assemblyai/faults.ts`):
 * - one speaker: `katiesteve.wav` as one track (two voices);
 * - a two-person dialogue: katiesteve cut at its manifest's speaker segments, Katie and Steve as two speakers,
 *   the 30 s conversation repeated;
 * - a 10-speaker meeting built from the fixtures (`conversationPackets`: one speaker at a time, pauses between
 *   turns, occasional lulls and backchannels).
 * Each ends as replay ends a call: `/end` 1.4 s after the last packet terminates every session.
 *
 * Meeting time runs accelerated (50 ms steps) while no session is connecting or terminating, and at wall-clock
 * pace while any is: the handshakes take the meeting time they take against the server, speakers keep talking
 * meanwhile (their audio queues), and their billing is counted. Billed = `SpeakerStream.stats.sessionOpenMs`, on
 * the meeting clock from each WebSocket upgrade to its close, as AssemblyAI bills ("the entire time the
 * WebSocket connection stays open": AssemblyAI docs, FAQ "How does Universal Streaming session-based pricing
 * work?"). Speech = the packets' duration: 20 ms per Opus packet Discord delivered (the client's voice activity
 * decides, including its 200 ms hangover and the five silence frames at the end of each spurt).
 * Whole-call baseline (what public tutorials do): one session per speaker held open for the whole call.
 *
 * Turns: a speaker's packet that comes 500 ms or more after their previous one (or is their first) starts a turn. It
 * starts on an open session when the speaker's stream is `open` at that moment, else on a closed one. Per turn:
 * first partial delay = turn start → first partial caption of that speaker; first final delay = the turn's last
 * packet → the speaker's next final caption; reopen delay (closed turns) = turn start → the session's `Begin`.
 * All on the meeting clock, so a figure includes the handshake where there is one.
 * Sessions opened per minute: average over the call, and the most in any 60 s window (AssemblyAI limits new
 * sessions per minute per account: AssemblyAI docs, streaming "Concurrency").
 */
import { VirtualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { CaptionPipeline } from '../../src/pipeline/caption-pipeline.ts';
import { createAssemblyAIProvider } from '../../src/stt/provider.ts';
import type { CaptionEvent, Speaker } from '../../src/captions/caption.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { DEFAULT_BEGIN_DELAY_MS, DEFAULT_TERMINATION_DELAY_MS } from '../../test/fakes/assemblyai/faults.ts';
import { speechManifest } from '../../test/support/fixtures.ts';
import { buildClips, conversationPackets, loadTracks, PACKET_MS, type ScheduledPacket } from '../lib/fixtures.ts';
import { BENCH_API_KEY, startServers } from '../lib/servers.ts';
import { maxInWindow, percentile, round, yieldToLoop } from '../lib/stats.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** Target for billed ÷ speech, on every conversation. */
export const BILLED_TARGET = 1.3;
/** Target for the reopen delay's p99, ms. */
export const REOPEN_DELAY_TARGET_MS = 1_000;
/** The default new-session budget (`ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE`, src/config.ts). */
export const NEW_SESSIONS_PER_MINUTE = 100;
/** `max_turn_silence` of the sessions, ms. */
const MAX_TURN_SILENCE_MS = 1_000;
/**
 * A speaker's packet this long after their previous one starts a turn, ms: Discord's 200 ms hangover and five
 * silence frames make a pause between two people's turns about 300 ms shorter in packets than in sound.
 */
const TURN_GAP_MS = 500;

/** A session policy under test: the STT settings it changes. */
export interface BillingPolicy {
  name: string;
  /** `STT_IDLE_CLOSE_MS`: close after this long without the speaker's speech. */
  idleCloseMs: number;
  /**
   * Conversation-aware variant (bench only): while anyone in the call spoke within this many ms, a speaker's
   * session stays open until they have been quiet this long; once the whole call is quiet, `idleCloseMs` applies.
   */
  holdWhileActiveMs?: number;
}

/** The policy Parley ships (config defaults); its figures carry no suffix. */
export const DEFAULT_POLICY = 'default';

/** The policies compared; figures of the others carry `_<name>` (dashes as underscores). */
export const BILLING_POLICIES: BillingPolicy[] = [
  { name: DEFAULT_POLICY, idleCloseMs: loadConfig({ ASSEMBLYAI_API_KEY: BENCH_API_KEY }).stt.idleCloseMs },
  { name: 'idle-2000', idleCloseMs: 2_000 },
  { name: 'idle-1000', idleCloseMs: 1_000 },
  { name: 'idle-500', idleCloseMs: 500 },
  { name: 'conversation-10000', idleCloseMs: 750, holdWhileActiveMs: 10_000 },
];

/** Turn-level delays of one call, ms. */
export interface TurnDelays {
  firstPartial: number[];
  firstFinal: number[];
  reopen: number[];
}

/** What one call cost. */
export interface BillingRun {
  policy: string;
  speakers: number;
  callSeconds: number;
  speechSeconds: number;
  billedSeconds: number;
  billedOverSpeech: number;
  wholeCallOverSpeech: number;
  sessionsOpened: number;
  sessionsPerMinute: number;
  /** Most sessions opened in any 60 s window. */
  sessionsPerMinutePeak: number;
  finalTurns: number;
  turnsOnOpen: number;
  turnsOnClosed: number;
  open: TurnDelays;
  closed: TurnDelays;
}

interface TurnRecord {
  speakerId: string;
  startAt: number;
  lastPacketAt: number;
  onOpen: boolean;
  firstPartialAt?: number;
  firstFinalAt?: number;
  beginAt?: number;
}

/**
 * Plays `schedule` through a pipeline with `policy` against `url` (a server with a handshake delay) and returns
 * what it billed and how turns fared. Exported for the smoke test.
 */
export async function measureBilling(url: string, schedule: readonly ScheduledPacket[], speakers: number, policy: BillingPolicy): Promise<BillingRun> {
  const logger = silentLogger();
  const clock = new VirtualClock();
  const { idleCloseMs } = policy;
  const provider = createAssemblyAIProvider(
    { apiKey: BENCH_API_KEY, streamingUrl: url, speechModel: 'u3-rt-pro', idleCloseMs, idleCloseMaxMs: Math.max(idleCloseMs, 15_000), minTurnSilenceMs: undefined, maxTurnSilenceMs: MAX_TURN_SILENCE_MS, keyterms: [], newSessionsPerMinute: 100_000 },
    logger,
  );
  const turns: TurnRecord[] = [];
  const currentTurn = new Map<string, TurnRecord>();
  const sink = {
    caption(event: CaptionEvent) {
      const turn = currentTurn.get(event.speaker.id);
      if (turn === undefined) return;
      const now = clock.now();
      if (event.kind === 'partial') turn.firstPartialAt ??= now;
      else if (turn.firstFinalAt === undefined && now >= turn.lastPacketAt) turn.firstFinalAt = now;
    },
    notice() {},
  };
  let lastAnyPacketAt = Number.NEGATIVE_INFINITY;
  const hold = policy.holdWhileActiveMs;
  const idleClose = hold === undefined ? () => provider.idleClose.currentMs() : () => (clock.now() - lastAnyPacketAt < hold ? hold : provider.idleClose.currentMs());
  const pipeline = new CaptionPipeline({ provider, clock, logger, sinks: [sink], keyterms: [], idleCloseMs: idleClose, maxTurnSilenceMs: MAX_TURN_SILENCE_MS, maxAudioAheadMs: null, jitterMs: 0 });
  const people: Speaker[] = Array.from({ length: speakers }, (_, i) => ({ id: `p${i + 1}`, name: `Person ${i + 1}` }));
  const openTimes: number[] = [];
  const opened = new Map<string, number>();
  const observe = () => {
    for (const s of pipeline.status()) {
      const count = s.stats.sessionsOpened;
      for (let n = opened.get(s.speaker.id) ?? 0; n < count; n++) openTimes.push(clock.now());
      opened.set(s.speaker.id, count);
      const turn = currentTurn.get(s.speaker.id);
      if (turn !== undefined && !turn.onOpen && turn.beginAt === undefined && s.state === 'open') turn.beginAt = clock.now();
    }
  };
  const busy = () => [...pipeline.status(), ...pipeline.closing()].some((s) => s.state === 'connecting' || s.state === 'terminating');
  let wallMark = performance.now();
  /** Wall time spent in a handshake not yet added to the meeting clock (a step stops at the next packet), ms. */
  let owedMs = 0;
  /** One step of meeting time toward `limit`: at wall pace while a handshake is under way, else 50 ms at once. */
  const step = async (limit: number) => {
    if (busy() || owedMs > 0) {
      if (owedMs <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const now = performance.now();
        owedMs = now - wallMark;
        wallMark = now;
      } else {
        await yieldToLoop();
      }
      const advanceMs = Math.min(limit - clock.now(), owedMs);
      // Below a tenth of a millisecond the rest is rounding: dropped, so no step can stall on it.
      owedMs = owedMs - advanceMs < 0.1 ? 0 : owedMs - advanceMs;
      clock.advanceTo(clock.now() + advanceMs);
    } else {
      clock.advanceTo(Math.min(limit, clock.now() + 50));
      // A handshake that started in this step counts from here, the yield included.
      wallMark = performance.now();
      await yieldToLoop();
      if (!busy()) wallMark = performance.now();
    }
    observe();
  };
  const lastPacket = new Map<string, number>();
  const perSpeaker = Array.from({ length: speakers }, () => 0);
  for (const item of schedule) {
    while (clock.now() < item.atMs) await step(item.atMs);
    const speaker = people[item.speaker];
    if (speaker === undefined) continue;
    const previous = lastPacket.get(speaker.id);
    if (previous === undefined || item.atMs - previous >= TURN_GAP_MS) {
      const state = pipeline.status().find((s) => s.speaker.id === speaker.id)?.state;
      const turn: TurnRecord = { speakerId: speaker.id, startAt: clock.now(), lastPacketAt: clock.now(), onOpen: state === 'open' };
      turns.push(turn);
      currentTurn.set(speaker.id, turn);
    }
    const turn = currentTurn.get(speaker.id);
    if (turn !== undefined) {
      // The turn's final is the first one after its last packet.
      turn.lastPacketAt = clock.now() + PACKET_MS;
      delete turn.firstFinalAt;
    }
    lastPacket.set(speaker.id, item.atMs);
    lastAnyPacketAt = item.atMs;
    pipeline.pushOpusPacket(speaker, item.packet, item.atMs);
    perSpeaker[item.speaker] = (perSpeaker[item.speaker] ?? 0) + 1;
  }
  const endMs = (schedule.at(-1)?.atMs ?? 0) + 1_400;
  while (clock.now() < endMs) await step(endMs);
  observe();
  const sessionsOpened = pipeline.status().reduce((sum, s) => sum + s.stats.sessionsOpened, 0);
  const finalTurns = pipeline.status().reduce((sum, s) => sum + s.stats.finalTurns, 0);
  // `/end`: every session is terminated; meeting time runs at wall pace through the Terminate handshakes.
  let ended = false;
  const ending = pipeline.end().then(() => {
    ended = true;
  });
  while (!ended) await step(Number.POSITIVE_INFINITY);
  await ending;
  const billedMs = pipeline.counters().sttSessionMs;
  const speechMs = perSpeaker.reduce((a, b) => a + b, 0) * PACKET_MS;
  const delays = (onOpen: boolean): TurnDelays => {
    const of = turns.filter((t) => t.onOpen === onOpen);
    return {
      firstPartial: of.flatMap((t) => (t.firstPartialAt === undefined ? [] : [t.firstPartialAt - t.startAt])),
      firstFinal: of.flatMap((t) => (t.firstFinalAt === undefined ? [] : [t.firstFinalAt - t.lastPacketAt])),
      reopen: of.flatMap((t) => (t.beginAt === undefined ? [] : [t.beginAt - t.startAt])),
    };
  };
  return {
    policy: policy.name,
    speakers,
    callSeconds: round(endMs / 1000, 1),
    speechSeconds: round(speechMs / 1000, 1),
    billedSeconds: round(billedMs / 1000, 1),
    billedOverSpeech: round(billedMs / speechMs, 3),
    wholeCallOverSpeech: round((speakers * endMs) / speechMs, 3),
    sessionsOpened,
    sessionsPerMinute: round(sessionsOpened / (endMs / 60_000), 2),
    sessionsPerMinutePeak: maxInWindow(openTimes, 60_000),
    finalTurns,
    turnsOnOpen: turns.filter((t) => t.onOpen).length,
    turnsOnClosed: turns.filter((t) => !t.onOpen).length,
    open: delays(true),
    closed: delays(false),
  };
}

/**
 * A two-person back-and-forth: katiesteve.wav cut at its manifest's speaker segments, Katie and Steve as two
 * speakers, the 30-second conversation repeated (1.5 s apart) to `durationMs`. Each speaker's own pauses are a
 * few seconds: the case where a short idle close reopens sessions most often.
 */
export function dialogueSchedule(packets: readonly TimedOpusPacket[], durationMs: number): ScheduledPacket[] {
  const segments = speechManifest().find((entry) => entry.file === 'katiesteve.wav')?.segments ?? [];
  const names = [...new Set(segments.map((s) => s.speaker))];
  const once: ScheduledPacket[] = [];
  segments.forEach((segment, i) => {
    const from = segment.start * 1000 - 150;
    const to = (segments[i + 1]?.start ?? Infinity) * 1000 - 150;
    const speaker = Math.max(0, names.indexOf(segment.speaker));
    for (const p of packets) if (p.atMs > from && p.atMs <= to) once.push({ speaker, atMs: p.atMs, packet: p.packet });
  });
  const length = (once.at(-1)?.atMs ?? 0) + 1_500;
  const out: ScheduledPacket[] = [];
  for (let offset = 0; offset + length <= Math.max(durationMs, length); offset += length) {
    for (const p of once) out.push({ ...p, atMs: p.atMs + offset });
  }
  return out;
}

/** The conversations of the part, by the suffix of their figure keys. */
const CONVERSATIONS = ['single', 'dialogue', 'mix'] as const;
type ConversationKey = (typeof CONVERSATIONS)[number];

/** Turn delays pooled over runs. */
function pooled(runs: readonly BillingRun[], side: 'open' | 'closed'): TurnDelays {
  return {
    firstPartial: runs.flatMap((r) => r[side].firstPartial),
    firstFinal: runs.flatMap((r) => r[side].firstFinal),
    reopen: runs.flatMap((r) => r[side].reopen),
  };
}

const p = (values: readonly number[], q: number) => (values.length === 0 ? Number.NaN : round(percentile(values, q), 0));

/** Runs part 5. */
export async function run(options: PartOptions): Promise<PartResult> {
  const tracks = await loadTracks();
  const clips = buildClips(tracks);
  const katiesteve = tracks.find((t) => t.name === 'katiesteve')?.packets ?? [];
  const schedules: Record<ConversationKey, { schedule: ScheduledPacket[]; speakers: number }> = {
    single: { schedule: katiesteve.map((p) => ({ speaker: 0, atMs: p.atMs, packet: p.packet })), speakers: 1 },
    dialogue: { schedule: dialogueSchedule(katiesteve, options.quick ? 60_000 : 2 * 60_000), speakers: 2 },
    mix: { schedule: [...conversationPackets({ speakers: 10, durationMs: options.quick ? 60_000 : 4 * 60_000, seed: 11, clips })], speakers: 10 },
  };
  const policies: BillingPolicy[] = BILLING_POLICIES.filter((policy) => !options.quick || policy.name === DEFAULT_POLICY || policy.name === 'idle-2000');
  const host = await startServers({ stt: { kind: 'light-turns', beginDelayMs: DEFAULT_BEGIN_DELAY_MS, terminationDelayMs: DEFAULT_TERMINATION_DELAY_MS } });
  try {
    const url = host.sttUrl ?? '';
    const runs: Array<BillingRun & { conversation: ConversationKey }> = [];
    for (const policy of policies) {
      for (const conversation of CONVERSATIONS) {
        const { schedule, speakers } = schedules[conversation];
        runs.push({ conversation, ...(await measureBilling(url, schedule, speakers, policy)) });
      }
    }
    const server = await host.stats();
    const figures: Record<string, number> = {};
    for (const policy of policies) {
      const mine = runs.filter((r) => r.policy === policy.name);
      const suffix = policy.name === DEFAULT_POLICY ? '' : `_${policy.name.replaceAll('-', '_')}`;
      for (const r of mine) {
        figures[`billed_over_speech_ratio_${r.conversation}${suffix}`] = r.billedOverSpeech;
        figures[`sessions_per_minute_${r.conversation}${suffix}`] = r.sessionsPerMinutePeak;
      }
      figures[`billed_over_speech_ratio${suffix}`] = Math.max(...mine.map((r) => r.billedOverSpeech));
      figures[`sessions_per_minute_peak${suffix}`] = Math.max(...mine.map((r) => r.sessionsPerMinutePeak));
      const closed = pooled(mine, 'closed');
      const open = pooled(mine, 'open');
      figures[`reopen_delay_ms_p99${suffix}`] = p(closed.reopen, 99);
      figures[`first_partial_delay_ms_p50_closed${suffix}`] = p(closed.firstPartial, 50);
      figures[`first_partial_delay_ms_p99_closed${suffix}`] = p(closed.firstPartial, 99);
      figures[`first_partial_delay_ms_p50_open${suffix}`] = p(open.firstPartial, 50);
      figures[`first_partial_delay_ms_p99_open${suffix}`] = p(open.firstPartial, 99);
      figures[`first_final_delay_ms_p99_closed${suffix}`] = p(closed.firstFinal, 99);
      figures[`first_final_delay_ms_p99_open${suffix}`] = p(open.firstFinal, 99);
      figures[`turns_on_closed_session_share${suffix}`] = round(closed.firstPartial.length / Math.max(1, closed.firstPartial.length + open.firstPartial.length), 3);
    }
    const defaults = runs.filter((r) => r.policy === DEFAULT_POLICY);
    for (const r of defaults) figures[`whole_call_over_speech_ratio_${r.conversation}`] = r.wholeCallOverSpeech;
    figures['sessions_per_minute_budget'] = NEW_SESSIONS_PER_MINUTE;
    return {
      figures,
      details: {
        speech: "packets' duration (20 ms per Opus packet Discord delivered)",
        handshake: { beginDelayMs: DEFAULT_BEGIN_DELAY_MS, terminationDelayMs: DEFAULT_TERMINATION_DELAY_MS },
        policies,
        runs: runs.map(({ open, closed, ...rest }) => ({
          ...rest,
          open: { turns: open.firstPartial.length, firstPartialP50: p(open.firstPartial, 50), firstPartialP99: p(open.firstPartial, 99), firstFinalP99: p(open.firstFinal, 99) },
          closed: { turns: closed.firstPartial.length, firstPartialP50: p(closed.firstPartial, 50), firstPartialP99: p(closed.firstPartial, 99), firstFinalP99: p(closed.firstFinal, 99), reopenP99: p(closed.reopen, 99) },
        })),
        sttServer: server.light,
      },
      notes: [],
    };
  } finally {
    await host.close();
  }
}
