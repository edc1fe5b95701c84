/**
 * One DAVE v1 fault scenario, measured: Katie talks without a pause (one Opus packet per 20 ms, each packet
 * unique) while the stand-in injects a fault and changes the call's members, and a receiver counts which of her
 * packets it got as the Opus she sent. The receiver is either the stock library (`stock`: @discordjs/voice 0.19.2
 * used as its guide shows, subscribing on each speaking start) or Parley's {@link VoiceLink} (`parley`).
 *
 * Run in-process by tests, or as a child (`node test/voice/support/dave-scenario.ts stock lose-commit`, printing
 * one JSON result line) so that a scenario that kills the stock library's process is measured as exactly that.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { EndBehaviorType, entersState, joinVoiceChannel, VoiceConnectionStatus } from '@discordjs/voice';
import type { AudioReceiveStream, VoiceConnection } from '@discordjs/voice';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import OpusScript from 'opusscript';
import { silentLogger } from '../../../src/log.ts';
import { VoiceLink } from '../../../src/voice/voice-link.ts';
import { DEFAULT_IDS, defaultGuildSpec, startDiscordStandIn } from '../../fakes/discord/stand-in.ts';
import type { DaveCall, DiscordStandIn, TimedOpusPacket } from '../../fakes/discord/stand-in.ts';

export const OLIVE_ID = '1309000000000000303';
const ids = DEFAULT_IDS;

/** The scenarios of the README's DAVE table, in its order. */
export const SCENARIOS = [
  'steady',
  'member-joins',
  'member-leaves',
  'bot-commit-wins',
  'group-recreated',
  'late-join',
  'lose-commit',
  'corrupt-commit',
  'lose-welcome',
  'corrupt-welcome',
  'transition-id-zero',
  'lose-execute',
  'stale-proposals',
  'unencrypted-frames',
  'welcome-lost-thrice',
  'welcome-never-arrives',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What one run measured. */
export interface ScenarioResult {
  scenario: Scenario;
  receiver: 'stock' | 'parley';
  /** Packets Katie said (one per 20 ms); those said while the bot was away count as not delivered. */
  sent: number;
  /** Of those, packets the stand-in counted as sent while the bot was out of step with her epoch. */
  outOfStep: number;
  /** Packets the receiver got as exactly the Opus Katie sent. */
  delivered: number;
  /** Frames the receiver handed on that were not her Opus (still encrypted). */
  garbage: number;
  /** Longest run of her packets not delivered, in ms of speech (20 ms each). */
  longestGapMs: number;
  /** Whether her last 0.5 s of packets were all delivered. */
  recovered: boolean;
  /** Recovery steps Parley ran (empty for stock). */
  steps: string[];
  /** What Parley told the text channel (empty for stock). */
  notices: string[];
  /** Who sent each winning commit ('bot' or 'member'), in order. */
  commits: string[];
}

/** Continuous speech: `count` unique 20 ms Opus packets (a tone gliding upwards). */
export function continuousSpeech(count: number): TimedOpusPacket[] {
  const encoder = new OpusScript(48_000, 2, OpusScript.Application.AUDIO);
  const frames: TimedOpusPacket[] = [];
  let phase = 0;
  for (let i = 0; i < count; i += 1) {
    const pcm = Buffer.alloc(960 * 4);
    const frequency = 200 + i * 2;
    for (let n = 0; n < 960; n += 1) {
      phase += (2 * Math.PI * frequency) / 48_000;
      const sample = Math.round(6000 * Math.sin(phase));
      pcm.writeInt16LE(sample, n * 4);
      pcm.writeInt16LE(sample, n * 4 + 2);
    }
    frames.push({ atMs: (i + 1) * 20, packet: Buffer.from(encoder.encode(pcm, 960)) });
  }
  encoder.delete();
  return frames;
}

interface Receiver {
  received: Buffer[];
  steps: string[];
  notices: string[];
  close(): void;
}

async function joinStock(client: Client): Promise<Receiver> {
  const guild = client.guilds.cache.get(ids.guildId)!;
  const connection: VoiceConnection = joinVoiceChannel({ channelId: ids.voiceChannelId, guildId: ids.guildId, selfDeaf: false, adapterCreator: guild.voiceAdapterCreator });
  await entersState(connection, VoiceConnectionStatus.Ready, 20_000);
  const received: Buffer[] = [];
  let stream: AudioReceiveStream | undefined;
  connection.receiver.speaking.on('start', (userId) => {
    if (userId !== ids.katieId || stream) return;
    stream = connection.receiver.subscribe(userId, { end: { behavior: EndBehaviorType.Manual } });
    stream.on('data', (packet: Buffer) => received.push(packet));
    stream.on('error', () => undefined);
    stream.once('close', () => (stream = undefined));
  });
  return { received, steps: [], notices: [], close: () => connection.destroy() };
}

async function joinParley(client: Client): Promise<Receiver> {
  const guild = client.guilds.cache.get(ids.guildId)!;
  const received: Buffer[] = [];
  const steps: string[] = [];
  const notices: string[] = [];
  const link = await VoiceLink.join({
    guildId: ids.guildId,
    channelId: ids.voiceChannelId,
    adapterCreator: guild.voiceAdapterCreator,
    logger: silentLogger(),
    isAllowed: () => true,
    onPacket: (userId, packet) => {
      if (userId === ids.katieId) received.push(packet);
    },
  });
  link.on('recovery', (_userId, step) => steps.push(step));
  link.on('notice', (text) => notices.push(text));
  return { received, steps, notices, close: () => link.leave() };
}

/** The world of a scenario: the default guild plus Olive, a member not yet in voice. */
async function startStandIn(scenario: Scenario): Promise<DiscordStandIn> {
  const guild = defaultGuildSpec();
  guild.members = [...(guild.members ?? []), { id: OLIVE_ID, username: 'olive', globalName: 'Olive', voiceChannelId: null }];
  return startDiscordStandIn({
    guilds: [guild],
    daveProtocolVersion: 1,
    // Members answer proposals after a client's round trip (200 ms; 500 ms when the bot joins mid-speech, so that
    // its welcome comes while Katie is talking), so a joining bot waits for its welcome.
    dave: { firstCommit: scenario === 'bot-commit-wins' ? 'bot' : 'member', memberCommitDelayMs: scenario === 'late-join' ? 500 : 200 },
  });
}

/** Waits until the bot is in step with Katie's epoch (welcomed and ready), or `timeoutMs` passes (the stock receiver may never be). */
async function inStep(call: DaveCall, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!call.botInStepWith(ids.katieId) && Date.now() < deadline) await sleep(10);
}

/**
 * Waits until the receiver has Katie's last packet, or (for a receiver that lost it) until nothing new has arrived
 * for 200 ms; at most 5 s. A busy machine may still be delivering the last packets when her speech has been sent.
 */
async function lastPacketsIn(receiver: Receiver, speech: readonly TimedOpusPacket[]): Promise<void> {
  const last = speech.at(-1)?.packet;
  const deadline = Date.now() + 5_000;
  let count = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    if (last !== undefined && receiver.received.at(-1)?.equals(last) === true) return;
    if (receiver.received.length !== count) {
      count = receiver.received.length;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 200) return;
    await sleep(10);
  }
}

/**
 * Runs `scenario` with `receiver`: the bot joins (Katie and Steve already in a DAVE group), Katie talks for
 * `packets` × 20 ms, and the scenario's events happen 1 s, 2 s and 3 s into her speech.
 */
export async function runScenario(scenario: Scenario, receiverKind: 'stock' | 'parley', packets = scenario.startsWith('welcome-') ? 600 : 250): Promise<ScenarioResult> {
  const standIn = await startStandIn(scenario);
  standIn.trustInThisProcess();
  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildVoiceStates], rest: { api: standIn.restApiUrl } });
  let receiver: Receiver | undefined;
  try {
    const ready = once(client, Events.ClientReady);
    await client.login('stand-in-token');
    await ready;
    const speech = continuousSpeech(packets);
    const preJoin: Partial<Record<Scenario, () => void>> = {
      'lose-welcome': () => standIn.daveCall(ids.voiceChannelId)?.inject('lose-welcome'),
      'corrupt-welcome': () => standIn.daveCall(ids.voiceChannelId)?.inject('corrupt-welcome'),
      // The first welcome and the two after re-initialising are lost: only rejoining the channel helps.
      'welcome-lost-thrice': () => {
        for (let i = 0; i < 3; i++) standIn.daveCall(ids.voiceChannelId)?.inject('lose-welcome');
      },
      // Every welcome is lost, before and after rejoining: Parley gives up and says what to try.
      'welcome-never-arrives': () => {
        for (let i = 0; i < 20; i++) standIn.daveCall(ids.voiceChannelId)?.inject('lose-welcome');
      },
    };
    // The call exists once a DAVE client has joined; faults meant for the bot's first welcome are queued early.
    const join = receiverKind === 'stock' ? joinStock(client) : joinParley(client);
    let speaking: Promise<void> | undefined;
    if (scenario === 'late-join') {
      await standIn.waitForVoiceReady();
      speaking = speakThrough(standIn, speech);
    } else if (preJoin[scenario]) {
      await standIn.waitForVoiceReady();
      preJoin[scenario]?.();
    }
    receiver = await join;
    const call = standIn.daveCall(ids.voiceChannelId);
    if (!call) throw new Error('no DAVE call');
    if (scenario === 'group-recreated') {
      // Everyone else leaves (the bot is alone: the gateway resets the group, op 24 epoch 1 and op 21 id 0), then
      // Katie comes back and goes on talking: she and the bot create a new group.
      await inStep(call);
      const cut = 50;
      await standIn.memberSpeak(ids.katieId, speech.slice(0, cut));
      standIn.setVoiceState(ids.steveId, null);
      standIn.setVoiceState(ids.katieId, null);
      await call.events.waitFor((e) => e.kind === 'reset');
      standIn.setVoiceState(ids.katieId, ids.voiceChannelId);
      speaking = standIn.memberSpeak(ids.katieId, rest(speech, cut)).then(() => undefined);
    }
    if (!speaking) {
      if (!preJoin[scenario]) await inStep(call);
      speaking = speakThrough(standIn, speech);
    }
    const at = async (ms: number, action: () => void): Promise<void> => {
      await sleep(ms);
      action();
    };
    const events = (async () => {
      switch (scenario) {
        case 'member-joins':
        case 'bot-commit-wins':
          return at(1_000, () => standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId));
        case 'member-leaves':
          return at(1_000, () => standIn.setVoiceState(ids.steveId, null));
        case 'lose-commit':
        case 'corrupt-commit':
          return at(1_000, () => {
            call.inject(scenario);
            standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId);
          });
        case 'transition-id-zero':
          // A transition with id 0 (executed at once; the library then has lastTransitionId 0), then a lost commit.
          await at(1_000, () => {
            call.inject('transition-id-zero');
            standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId);
          });
          return at(1_000, () => {
            call.inject('lose-commit');
            standIn.setVoiceState(ids.steveId, null);
          });
        case 'lose-execute':
          await at(1_000, () => {
            call.inject('lose-execute');
            standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId);
          });
          await at(1_000, () => {
            call.inject('lose-commit');
            standIn.setVoiceState(ids.steveId, null);
          });
          return at(1_000, () => standIn.setVoiceState(OLIVE_ID, null));
        case 'stale-proposals':
          return at(1_000, () => {
            call.inject('stale-proposals');
            standIn.setVoiceState(OLIVE_ID, ids.voiceChannelId);
          });
        case 'unencrypted-frames':
          return call.setUnencryptedEvery(ids.katieId, 20);
        default:
          return;
      }
    })();
    await Promise.all([speaking, events]);
    await lastPacketsIn(receiver, speech);
    const stats = call.statsOf(ids.katieId);
    const commits = call.events.entries.filter((e) => e.kind === 'commit-won').map((e) => (e.userId === standIn.botUserId ? 'bot' : 'member'));
    return { ...measure(scenario, receiverKind, speech, receiver, stats), notices: receiver.notices, commits };
  } finally {
    receiver?.close();
    await client.destroy();
    await standIn.close();
  }
}

/** The packets from `from` on, re-timed to start at once. */
function rest(packets: readonly TimedOpusPacket[], from: number): TimedOpusPacket[] {
  const first = packets[from];
  if (first === undefined) return [];
  return packets.slice(from).map((p) => ({ atMs: p.atMs - first.atMs + 20, packet: p.packet }));
}

/**
 * Katie talks through `speech` in real time. If the bot's voice session ends meanwhile (it rejoins), the packets
 * she says while it is away reach nobody, and she goes on from where her speech is once it is back.
 */
async function speakThrough(standIn: DiscordStandIn, speech: readonly TimedOpusPacket[]): Promise<void> {
  const start = performance.now();
  let next = 0;
  while (next < speech.length) {
    await standIn.waitForVoiceReady();
    next = Math.max(next, Math.floor((performance.now() - start) / 20));
    const { sent } = await standIn.memberSpeak(ids.katieId, rest(speech, next));
    next += sent;
  }
}

function measure(
  scenario: Scenario,
  receiverKind: 'stock' | 'parley',
  speech: TimedOpusPacket[],
  receiver: Receiver,
  stats: { sent: number; outOfStep: number },
): Omit<ScenarioResult, 'notices' | 'commits'> {
  const index = new Map(speech.map((p, i) => [p.packet.toString('hex'), i]));
  const got = new Set<number>();
  let garbage = 0;
  for (const packet of receiver.received) {
    const i = index.get(packet.toString('hex'));
    if (i === undefined) garbage += 1;
    else got.add(i);
  }
  let longest = 0;
  let run = 0;
  for (let i = 0; i < speech.length; i++) {
    run = got.has(i) ? 0 : run + 1;
    longest = Math.max(longest, run);
  }
  const tail = speech.slice(-25).every((_p, k) => got.has(speech.length - 25 + k));
  return {
    scenario,
    receiver: receiverKind,
    sent: speech.length,
    outOfStep: stats.outOfStep,
    delivered: got.size,
    garbage,
    longestGapMs: longest * 20,
    recovered: tail,
    steps: receiver.steps,
  };
}

if (import.meta.main) {
  const [kind, scenario] = process.argv.slice(2);
  if ((kind !== 'stock' && kind !== 'parley') || !SCENARIOS.includes(scenario as Scenario)) {
    process.stderr.write(`usage: node dave-scenario.ts stock|parley ${SCENARIOS.join('|')}\n`);
    process.exit(2);
  }
  const result = await runScenario(scenario as Scenario, kind);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
