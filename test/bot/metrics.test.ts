/**
 * The ops endpoint of the running bot (METRICS_PORT=0: a free port, read from `ParleyBot.opsPort`): /healthz while
 * connected, and /metrics following a meeting: one active meeting with open STT sessions while members speak,
 * none after /end, and one caption latency observation per final caption.
 */
import { once } from 'node:events';
import { Events } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { sessionFrom, sessionTaggingRecognizer, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

/** The value of an unlabelled sample (`name 3`) in Prometheus text format. */
function sample(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (match === null) throw new Error(`no sample ${name} in:\n${text}`);
  return Number(match[1]);
}

describe('/healthz and /metrics of the running bot', () => {
  let world: World;
  let bot: InProcessBot;
  let base: string;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: sessionTaggingRecognizer } });
    bot = await startInProcessBot(world, { METRICS_PORT: '0' });
    base = `http://127.0.0.1:${bot.bot.opsPort}`;
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const metrics = async () => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  };

  it('reports healthy while connected, and counts the meeting, its STT sessions and its caption latency', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    expect(bot.bot.opsPort).toBeGreaterThan(0);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, meetings: 0 });
    const idle = await metrics();
    expect(sample(idle, 'parley_active_meetings')).toBe(0);
    expect(sample(idle, 'parley_stt_sessions_open')).toBe(0);
    expect(sample(idle, 'parley_caption_latency_seconds_count')).toBe(0);

    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const opened = Promise.all([sessionFrom(stt, stt.sessions.length), sessionFrom(stt, stt.sessions.length + 1)]);
    const speaking = Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const sessions = await opened;
    await Promise.all(sessions.map((s) => s.waitForAudioMs(500)));
    const during = await metrics();
    expect(sample(during, 'parley_active_meetings')).toBe(1);
    expect(sample(during, 'parley_stt_sessions_open')).toBeGreaterThanOrEqual(1);
    expect(sample(during, 'parley_speakers')).toBe(2);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true, meetings: 1 });

    await speaking;
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const captions = Number(/^Captioning ended\. (\d+) captions?;/.exec(ended.content)?.[1]);
    expect(captions).toBeGreaterThanOrEqual(2);

    const after = await metrics();
    expect(sample(after, 'parley_active_meetings')).toBe(0);
    expect(sample(after, 'parley_stt_sessions_open')).toBe(0);
    expect(sample(after, 'parley_speakers')).toBe(0);
    // One observation per final caption, each a real latency (not negative, under the largest bucket).
    expect(sample(after, 'parley_caption_latency_seconds_count')).toBe(captions);
    expect(sample(after, 'parley_caption_latency_seconds_sum')).toBeGreaterThan(0);
    expect(sample(after, 'parley_caption_latency_seconds_sum')).toBeLessThan(10 * captions);
    expect(sample(after, 'parley_llm_errors_total')).toBe(0);
    // The recap at /end was answered by the fake gateway, whose answers carry usage (about 4 characters a token).
    const tokens = (type: string) => Number(new RegExp(`^parley_llm_tokens_total\\{type="${type}"\\} (\\S+)$`, 'm').exec(after)?.[1]);
    expect(tokens('prompt')).toBeGreaterThan(100);
    expect(tokens('completion')).toBeGreaterThan(0);
    const stillHealthy = await fetch(`${base}/healthz`);
    expect(stillHealthy.status).toBe(200);
  });

  it('answers /healthz 503 while the gateway connection is lost, and 200 again once the session has resumed', async () => {
    const { standIn } = world;
    const release = standIn.holdGatewayConnections();
    const resumed = once(bot.bot.client, Events.ShardResume);
    try {
      const heldBefore = standIn.gatewayConnectionsHeld.entries.length;
      standIn.dropGatewayConnection(4000);
      // The bot is reconnecting: its new connection is open but the gateway has not said HELLO.
      await standIn.gatewayConnectionsHeld.waitFor(() => standIn.gatewayConnectionsHeld.entries.length > heldBefore);
      const down = await fetch(`${base}/healthz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ ok: false });
    } finally {
      release();
    }
    await resumed;
    const up = await fetch(`${base}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ ok: true, meetings: 0 });
  });
});
