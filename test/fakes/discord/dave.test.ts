/**
 * DAVE protocol version 1 in the stand-in, against the unmodified @discordjs/voice 0.19.2: the bot is welcomed
 * into the members' MLS group and decrypts their end-to-end encrypted Opus.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { EndBehaviorType, entersState, joinVoiceChannel, VoiceConnectionStatus } from '@discordjs/voice';
import type { AudioReceiveStream, VoiceConnection } from '@discordjs/voice';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import type { Guild } from 'discord.js';
import OpusScript from 'opusscript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, startDiscordStandIn } from './stand-in.ts';
import type { DiscordStandIn, TimedOpusPacket } from './stand-in.ts';
import type { ScenarioResult } from '../../voice/support/dave-scenario.ts';

const ids = DEFAULT_IDS;

function opusFrames(count: number): TimedOpusPacket[] {
  const encoder = new OpusScript(48_000, 2, OpusScript.Application.AUDIO);
  const frames: TimedOpusPacket[] = [];
  for (let i = 0; i < count; i += 1) {
    const pcm = Buffer.alloc(960 * 4);
    for (let n = 0; n < 960; n += 1) {
      const sample = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i * 960 + n)) / 48_000));
      pcm.writeInt16LE(sample, n * 4);
      pcm.writeInt16LE(sample, n * 4 + 2);
    }
    frames.push({ atMs: i * 20, packet: Buffer.from(encoder.encode(pcm, 960)) });
  }
  encoder.delete();
  return frames;
}

async function take(stream: AudioReceiveStream, count: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    if (chunks.length === count) break;
  }
  return chunks;
}

describe('DAVE v1 in the stand-in, with the stock @discordjs/voice', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let guild: Guild;
  let connection: VoiceConnection | undefined;

  beforeAll(async () => {
    standIn = await startDiscordStandIn({ daveProtocolVersion: 1 });
    standIn.trustInThisProcess();
    client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildVoiceStates], rest: { api: standIn.restApiUrl } });
    const ready = once(client, Events.ClientReady);
    await client.login('stand-in-token');
    await ready;
    guild = client.guilds.cache.get(ids.guildId)!;
  });

  afterAll(async () => {
    if (connection && connection.state.status !== VoiceConnectionStatus.Destroyed) connection.destroy();
    await client?.destroy();
    await standIn?.close();
  });

  it('welcomes the bot into the members group and its receiver decrypts their Opus exactly', async () => {
    connection = joinVoiceChannel({ channelId: ids.voiceChannelId, guildId: ids.guildId, selfDeaf: false, adapterCreator: guild.voiceAdapterCreator });
    await entersState(connection, VoiceConnectionStatus.Ready, 30_000);
    const call = standIn.daveCall();
    if (!call) throw new Error('no DAVE call');
    await call.events.waitFor((e) => e.kind === 'execute' && e.epoch === 2n);
    const frames = opusFrames(25);
    const stream = connection.receiver.subscribe(ids.katieId, { end: { behavior: EndBehaviorType.Manual } });
    const received = take(stream, frames.length);
    await standIn.memberSpeak(ids.katieId, frames);
    const chunks = await received;
    expect(chunks.map((c) => c.toString('hex'))).toEqual(frames.map((f) => f.packet.toString('hex')));
    expect(call.statsOf(ids.katieId)).toMatchObject({ sent: 25, outOfStep: 0 });
    stream.destroy();
    // @discordjs/voice keeps one connection per guild id in this process; the next tests join their own.
    connection.destroy();
  });

  it('reports per member the packets sent while the bot was out of step, and the stock library loses those', async () => {
    const result = JSON.parse((await scenario('stock', 'lose-commit')).stdout.trim().split('\n').at(-1) ?? '{}') as ScenarioResult;
    expect(result.outOfStep).toBeGreaterThan(0);
    expect(result.outOfStep).toBeLessThan(result.sent);
    // What the stock library does with them: drops them, or hands them on still encrypted.
    expect(result.sent - result.delivered).toBeGreaterThan(0);
    expect(result.garbage).toBeGreaterThan(0);
  });

  it('makes the stock library throw from its WebSocket handler on proposals for a stale epoch, killing its process', async () => {
    const outcome = await scenario('stock', 'stale-proposals');
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toMatch(/Failed to process proposals: .*WrongEpoch/);
    expect(outcome.stderr).toMatch(/onWsBinary/);
  });
});

/** Runs one scenario of test/voice/support/dave-scenario.ts in its own process (the stock library may kill it). */
function scenario(receiver: 'stock' | 'parley', name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = fileURLToPath(new URL('../../voice/support/dave-scenario.ts', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [script, receiver, name], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}
