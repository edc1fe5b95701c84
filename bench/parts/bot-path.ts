/**
 * Part 10 — speakers per core through the whole bot.
 *
 * N members talk at real-time pacing (utterances of the speech fixtures, as in the live part) in a DAVE v1 call of
 * the Discord stand-in (test/fakes/discord): each member's client encrypts its Opus end to end (DAVE, MLS group
 * with the bot), the voice server sends it as transport-encrypted RTP over UDP (aead_aes256_gcm_rtpsize). The
 * production bot (`ParleyBot`, what `npm start` runs), joined with `/join`, receives it with @discordjs/voice,
 * decrypts both layers, decodes, frames and sends each speaker's PCM over `wss://` (TLS) to a local AssemblyAI
 * stand-in (bench/lib/light-stt.ts in `turns` mode: Begin, partial and final Turns), and posts captions to the
 * stand-in's REST API. Production settings throughout (log level info, idle close 750 ms), except a new-session
 * budget that never refuses. `BENCH_BOT_LOG=debug` sets the bot's log level.
 *
 * The bot runs in a process of its own (bench/lib/bot-host.ts); the stand-ins run in this one. Bot CPU:
 * `process.cpuUsage()` of the bot's process over the window in which every member is talking, divided by
 * speaker-seconds (N × window); `bot_speakers_per_core` = 0.5 core ÷ that, as `speakers_per_core` in the live part.
 *
 * Decode-only limit, same run: a bare opus-decoder decode (16 kHz mono, Float32 → s16le, one decoder per speaker,
 * as the bot has) of exactly the packets the members sent inside that window, timed with `process.cpuUsage()` in
 * this process after the meeting, median of 5 after a warm-up round; `decode_speakers_per_core` = 0.5 ÷ CPU per speaker-second of it.
 * `bot_path_vs_decode_ratio` = bot ÷ decode-only (1 would mean the bot costs no more than the decode).
 *
 * Checks that make a run count: every member's packets left the stand-in DAVE-encrypted with the bot in step, and
 * the STT stand-in received the members' decoded speech whole: its count of non-zero samples is within 1 % of a
 * reference decode of every packet sent (each packet lost anywhere on the path takes about 320 away, while the
 * silence Parley fills in is zeros). A run that fails them throws.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLibopusDecoder, floatToS16le } from '../../src/audio/opus-decoder.ts';
import type { TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { createStandInCertificate } from '../../test/fakes/discord/certs.ts';
import { DEFAULT_IDS, defaultGuildSpec, startDiscordStandIn, type DiscordStandIn } from '../../test/fakes/discord/stand-in.ts';
import { runCommand } from '../../test/bot/support/commands.ts';
import { startBotHost, type BotHost, type BotHostMark } from '../lib/bot-host.ts';
import { renderProfile, summarizeProfile, type ProfileSummary } from '../lib/cpu-profile.ts';
import { buildClips, loadTracks, rebase, splitAtGaps, PACKET_MS } from '../lib/fixtures.ts';
import { startLightStt } from '../lib/light-stt.ts';
import { BENCH_API_KEY } from '../lib/servers.ts';
import { cpuStopwatch, median, round } from '../lib/stats.ts';
import { speakerSchedule } from './live.ts';
import type { PartOptions, PartResult } from '../lib/part.ts';

/** The bot token the stand-in accepts. */
const BOT_TOKEN = 'parley-bench-bot-token.0123456789';
/** How far the non-zero samples the STT stand-in received may be from the reference decode's, as a share. */
export const SPEECH_TOLERANCE = 0.01;

/** How one run is set up. */
export interface BotPathOptions {
  speakers: number;
  /** Length of each member's schedule, ms. */
  durationMs: number;
  /** CPU is not counted before this, ms after the first packet (JIT, sessions opening). */
  warmupMs: number;
  /** Write a `node --cpu-prof` profile of the bot's process here and summarise it over the window. */
  profileDir?: string;
}

/** What one run measured. */
export interface BotPathRun {
  speakers: number;
  windowMs: number;
  /** The window on the bot process's monotonic clock, µs (the clock of its `--cpu-prof` samples). */
  windowUs: [number, number];
  botCpuMs: number;
  botUserMs: number;
  botSystemMs: number;
  botCpuMsPerSpeakerSecond: number;
  decodeCpuMsPerSpeakerSecond: number;
  decodeRounds: number[];
  packetsSent: number;
  packetsInWindow: number;
  pcmBytesReceived: number;
  /** Non-zero samples the STT stand-in received ÷ those of a reference decode of every packet sent. */
  speechDeliveredShare: number;
  sttSessions: number;
  finals: number;
  partials: number;
  dave: { sent: number; outOfStep: number; unencrypted: number };
  profile?: ProfileSummary;
}

const memberId = (i: number) => `13095000000000${String(1000 + i).padStart(5, '0')}`;

/** Each member's talkspurts (split where they paused ≥ 100 ms), timed from the meeting's start. */
function memberSpurts(schedule: readonly TimedOpusPacket[]): Array<{ atMs: number; packets: TimedOpusPacket[] }> {
  return splitAtGaps(schedule, 100).map((spurt) => ({ atMs: (spurt[0]?.atMs ?? PACKET_MS) - PACKET_MS, packets: rebase(spurt) }));
}

/** Non-zero samples of every speaker's packets decoded in order, a decoder each, as the bot decodes them. */
async function referenceNonZeroSamples(perSpeaker: ReadonlyArray<readonly Buffer[]>): Promise<number> {
  let count = 0;
  for (const packets of perSpeaker) {
    const decoder = createLibopusDecoder();
    await decoder.ready;
    for (const packet of packets) {
      const decoded = decoder.decodeFrame(packet);
      const channel = decoded.channelData[0];
      if (decoded.errors.length > 0 || channel === undefined) continue;
      const pcm = floatToS16le(channel.subarray(0, decoded.samplesDecoded));
      for (let i = 0; i + 1 < pcm.length; i += 2) if (pcm[i] !== 0 || pcm[i + 1] !== 0) count++;
    }
    decoder.free();
  }
  return count;
}

/** Bare decode of each speaker's packets with a decoder of their own, CPU ms. */
async function decodeCpuMs(perSpeaker: ReadonlyArray<readonly Buffer[]>): Promise<number> {
  const decoders = perSpeaker.map(() => createLibopusDecoder());
  await Promise.all(decoders.map((d) => d.ready));
  const cpu = cpuStopwatch();
  let samples = 0;
  perSpeaker.forEach((packets, i) => {
    const decoder = decoders[i];
    if (decoder === undefined) return;
    for (const packet of packets) {
      const decoded = decoder.decodeFrame(packet);
      const channel = decoded.channelData[0];
      if (decoded.errors.length === 0 && channel !== undefined) samples += floatToS16le(channel).length;
    }
  });
  const used = cpu().totalMs;
  for (const d of decoders) d.free();
  if (samples === 0) throw new Error('bench: the bare decode produced no samples');
  return used;
}

/** Runs the meeting once and measures it. */
export async function measureBotPath(options: BotPathOptions): Promise<BotPathRun> {
  const clips = buildClips(await loadTracks());
  const schedules = Array.from({ length: options.speakers }, (_, i) => speakerSchedule(clips, 2000 + i, (i * 137) % 1_000, options.durationMs));
  const lastStart = Math.max(...schedules.map((s) => s[0]?.atMs ?? 0));
  const firstEnd = Math.min(...schedules.map((s) => s.at(-1)?.atMs ?? 0));
  const windowFrom = Math.max(options.warmupMs, lastStart);
  const windowTo = firstEnd;
  if (windowTo - windowFrom < 1_000) throw new Error(`bench: window of ${windowTo - windowFrom} ms is too short; lengthen durationMs`);

  const sttCert = await createStandInCertificate('parley-bench-assemblyai');
  const stt = await startLightStt({ mode: 'turns', apiKey: BENCH_API_KEY, tls: { certPem: sttCert.certPem, keyPem: sttCert.keyPem } });
  const guild = defaultGuildSpec();
  guild.members = [
    ...(guild.members ?? []),
    ...Array.from({ length: options.speakers }, (_, i) => ({ id: memberId(i), username: `member${i}`, globalName: `Member ${i}`, voiceChannelId: DEFAULT_IDS.voiceChannelId })),
  ];
  const standIn: DiscordStandIn = await startDiscordStandIn({ token: BOT_TOKEN, guilds: [guild], daveProtocolVersion: 1, requireDave: true });
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-bot-'));
  let bot: BotHost | undefined;
  try {
    bot = await startBotHost(
      {
        env: {
          DISCORD_TOKEN: BOT_TOKEN,
          DISCORD_CLIENT_ID: standIn.applicationId,
          DISCORD_REST_API_URL: standIn.restApiUrl,
          ASSEMBLYAI_API_KEY: BENCH_API_KEY,
          ASSEMBLYAI_STREAMING_URL: stt.url,
          ASSEMBLYAI_NEW_SESSIONS_PER_MINUTE: '100000',
          LLM_GATEWAY_URL: 'http://127.0.0.1:9/v1',
          DATA_DIR: dataDir,
          LOG_LEVEL: process.env['BENCH_BOT_LOG'] ?? 'info',
        },
        trust: [standIn.caCertPem, sttCert.certPem],
      },
      options.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`],
    );
    await runCommand(standIn, { commandName: 'join', userId: DEFAULT_IDS.katieId });
    await standIn.waitForVoiceReady();
    const call = standIn.daveCall();
    if (call === undefined) throw new Error('bench: the stand-in runs no DAVE v1 call');
    // The bot, welcomed into the members' MLS group, is ready for the transition (op 23).
    await standIn.voicePayloads.waitFor((m) => m.op === 23, { timeoutMs: 30_000 });

    let startMark: BotHostMark | undefined;
    let endMark: BotHostMark | undefined;
    const t0 = performance.now();
    const at = (ms: number) => sleep(Math.max(0, t0 + ms - performance.now()));
    const marks = (async () => {
      await at(windowFrom);
      startMark = await bot.mark();
      await at(windowTo);
      endMark = await bot.mark();
    })();
    const host = bot;
    let packetsSent = 0;
    await Promise.all(
      schedules.map(async (schedule, i) => {
        for (const [k, spurt] of memberSpurts(schedule).entries()) {
          await at(spurt.atMs);
          const { sent } = await standIn.memberSpeak(memberId(i), spurt.packets, { announce: k === 0 });
          packetsSent += sent;
        }
      }),
    );
    await marks;
    // Let the last frames and finals through, then end the meeting as a member would.
    await sleep(2_000);
    await runCommand(standIn, { commandName: 'end', userId: DEFAULT_IDS.katieId });
    const sttStats = stt.stats();
    const dave = { sent: 0, outOfStep: 0, unencrypted: 0 };
    for (let i = 0; i < options.speakers; i++) {
      const s = call.statsOf(memberId(i));
      dave.sent += s.sent;
      dave.outOfStep += s.outOfStep;
      dave.unencrypted += s.unencrypted;
    }
    await host.stop();
    bot = undefined;
    if (startMark === undefined || endMark === undefined) throw new Error('bench: CPU window not measured');

    const windowMs = (endMark.monotonicUs - startMark.monotonicUs) / 1000;
    const userMs = (endMark.cpu.user - startMark.cpu.user) / 1000;
    const systemMs = (endMark.cpu.system - startMark.cpu.system) / 1000;
    const speakerSeconds = (options.speakers * windowMs) / 1000;
    // The decode-only limit on the same packets: those sent inside the window.
    const inWindow = schedules.map((s) => s.filter((p) => p.atMs > windowFrom && p.atMs <= windowTo).map((p) => p.packet));
    const packetsInWindow = inWindow.reduce((sum, s) => sum + s.length, 0);
    const decodeSpeakerSeconds = (options.speakers * (windowTo - windowFrom)) / 1000;
    // One warm-up round (WebAssembly tier-up), then the median of five.
    await decodeCpuMs(inWindow);
    const decodeRounds: number[] = [];
    for (let r = 0; r < 5; r++) decodeRounds.push((await decodeCpuMs(inWindow)) / decodeSpeakerSeconds);
    const scheduled = schedules.reduce((sum, sch) => sum + sch.length, 0);
    if (packetsSent !== scheduled) throw new Error(`bench: the stand-in sent ${packetsSent} of ${scheduled} packets (the voice session closed?)`);
    const speechDeliveredShare = sttStats.nonZeroSamples / (await referenceNonZeroSamples(schedules.map((sch) => sch.map((p) => p.packet))));

    const result: BotPathRun = {
      speakers: options.speakers,
      windowMs,
      windowUs: [startMark.monotonicUs, endMark.monotonicUs],
      botCpuMs: userMs + systemMs,
      botUserMs: userMs,
      botSystemMs: systemMs,
      botCpuMsPerSpeakerSecond: (userMs + systemMs) / speakerSeconds,
      decodeCpuMsPerSpeakerSecond: median(decodeRounds),
      decodeRounds,
      packetsSent,
      packetsInWindow,
      pcmBytesReceived: sttStats.audioBytes,
      speechDeliveredShare,
      sttSessions: sttStats.sessions,
      finals: sttStats.finals,
      partials: sttStats.partials,
      dave,
    };
    if (options.profileDir !== undefined) result.profile = await summarizeProfile(options.profileDir, startMark.monotonicUs, endMark.monotonicUs, userMs + systemMs);
    return result;
  } catch (error) {
    const tail = bot?.logTail().split('\n').slice(-15).join('\n');
    if (tail !== undefined && error instanceof Error) error.message += `\nthe bot's log ends:\n${tail}`;
    throw error;
  } finally {
    await bot?.stop();
    await Promise.allSettled([standIn.close(), stt.close()]);
    await sttCert.remove();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Whether a run counts: every packet DAVE-encrypted with the bot in step, and the speech delivered whole. Throws if not. */
export function checkRun(run: BotPathRun): void {
  const problems: string[] = [];
  if (run.packetsSent === 0) problems.push('no packets were sent');
  if (run.dave.sent < run.packetsSent) problems.push(`DAVE encoded ${run.dave.sent} of ${run.packetsSent} packets`);
  if (run.dave.outOfStep > 0 || run.dave.unencrypted > 0) problems.push(`DAVE: ${run.dave.outOfStep} packets out of step, ${run.dave.unencrypted} unencrypted`);
  if (!(Math.abs(run.speechDeliveredShare - 1) <= SPEECH_TOLERANCE)) {
    problems.push(`the STT stand-in received ${round(run.speechDeliveredShare * 100, 2)} % of the members' decoded speech (allowed: 100 ± ${SPEECH_TOLERANCE * 100} %)`);
  }
  if (run.sttSessions < run.speakers) problems.push(`${run.sttSessions} STT sessions for ${run.speakers} speakers`);
  if (!(run.botCpuMs > 0)) problems.push('no bot CPU time measured');
  if (problems.length > 0) throw new Error(`bench: the bot path run does not count: ${problems.join('; ')}`);
}

/** Figures of a run, with the bench's keys. */
export function figuresOf(run: BotPathRun): Record<string, number> {
  const bot = 0.5 / (run.botCpuMsPerSpeakerSecond / 1000);
  const decode = 0.5 / (run.decodeCpuMsPerSpeakerSecond / 1000);
  return {
    bot_speakers_per_core: round(bot, 1),
    bot_cpu_ms_per_speaker_second: round(run.botCpuMsPerSpeakerSecond, 2),
    decode_speakers_per_core: round(decode, 0),
    bot_path_vs_decode_ratio: round(bot / decode, 3),
  };
}

/** The profile's groups as shares of the bot's CPU, with the bench's keys. */
export function profileFigures(profile: ProfileSummary): Record<string, number> {
  const share = (test: (name: string) => boolean) => round(profile.groups.filter((g) => test(g.name)).reduce((sum, g) => sum + g.share, 0), 3);
  return {
    bot_parley_own_share: share((name) => name.startsWith('Parley ')),
    bot_share_libopus_decode: share((name) => name.startsWith('libopus decode')),
    bot_share_transport_decrypt: share((name) => name.startsWith('transport')),
    bot_share_dave_decrypt: share((name) => name.startsWith('DAVE decrypt')),
    bot_share_ws_tls: share((name) => name.startsWith('ws + TLS')),
    bot_share_gc: share((name) => name === 'GC'),
  };
}

/** Runs part 10: a measured run, then the same meeting under `node --cpu-prof` for where the CPU goes. */
export async function run(options: PartOptions): Promise<PartResult> {
  const setup: BotPathOptions = options.quick ? { speakers: 2, durationMs: 9_000, warmupMs: 2_000 } : { speakers: 15, durationMs: 30_000, warmupMs: 5_000 };
  const result = await measureBotPath(setup);
  checkRun(result);
  // Profiled separately: the sampler thread's own CPU would count in the measured run.
  const profileDir = await mkdtemp(join(tmpdir(), 'parley-bench-prof-'));
  let profiled: BotPathRun;
  try {
    profiled = await measureBotPath({ ...setup, profileDir });
  } finally {
    await rm(profileDir, { recursive: true, force: true });
  }
  checkRun(profiled);
  const profile = profiled.profile;
  if (profile === undefined) throw new Error('bench: the profiled run has no profile');
  const { profile: _none, ...details } = result;
  return {
    figures: { ...figuresOf(result), ...profileFigures(profile) },
    details: {
      ...details,
      windowMs: round(result.windowMs, 0),
      botCpuMs: round(result.botCpuMs, 0),
      speechDeliveredShare: round(result.speechDeliveredShare, 4),
      decodeRounds: result.decodeRounds.map((x) => round(x, 2)),
      profile: {
        botCpuMsPerSpeakerSecond: round(profiled.botCpuMsPerSpeakerSecond, 2),
        busySamples: profile.busySamples,
        groups: profile.groups.map((g) => ({ group: g.name, share: round(g.share, 4) })),
        top: profile.functions.slice(0, 15).map((f) => ({ function: f.name, group: f.group, share: round(f.share, 4) })),
      },
    },
    notes: [],
  };
}

// `node bench/parts/bot-path.ts --profile DIR [--speakers N] [--seconds S]`: one run under `node --cpu-prof`,
// the summary of the bot's profile over the window printed as JSON (bench/README.md's table).
if (import.meta.main) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { profile: { type: 'string' }, speakers: { type: 'string', default: '15' }, seconds: { type: 'string', default: '30' } } });
  const runResult = await measureBotPath({
    speakers: Number(values.speakers),
    durationMs: Number(values.seconds) * 1000,
    warmupMs: 5_000,
    ...(values.profile === undefined ? {} : { profileDir: values.profile }),
  });
  checkRun(runResult);
  process.stdout.write(`${JSON.stringify({ figures: figuresOf(runResult), ...runResult }, null, 2)}\n`);
  if (runResult.profile !== undefined) process.stderr.write(`\n${renderProfile(runResult.profile, runResult.speakers)}\n`);
}
