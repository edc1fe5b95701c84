import zlib from 'node:zlib';
import { PermissionFlagsBits as P } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RecordLog } from './record-log.ts';
import { DEFAULT_IDS, defaultGuildSpec, startDiscordStandIn } from './stand-in.ts';
import type { DiscordStandIn } from './stand-in.ts';

const ids = DEFAULT_IDS;
const TOKEN = 'protocol-token';

interface Frame {
  op?: number;
  t?: string;
  s?: number;
  d?: unknown;
}

/** A raw WebSocket client whose messages and close code are recorded. */
function connect(url: string, options: { ca?: string; inflate?: boolean } = {}) {
  const socket = new WebSocket(url, options.ca ? { ca: options.ca } : {});
  const messages = new RecordLog<Frame>('message', (m) => JSON.stringify(m).slice(0, 100));
  const closes = new RecordLog<number>('close', String);
  let compressed = Buffer.alloc(0);
  let decoded = 0;
  socket.on('message', (data, isBinary) => {
    if (!isBinary) return messages.push(JSON.parse(data.toString()) as Frame);
    // zlib-stream: one deflate context for the connection; each message ends with a sync flush.
    compressed = Buffer.concat([compressed, data as Buffer]);
    const text = zlib.inflateSync(compressed, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    messages.push(JSON.parse(text.slice(decoded)) as Frame);
    decoded = text.length;
  });
  socket.on('close', (code) => closes.push(code));
  const send = (payload: unknown): void => socket.send(JSON.stringify(payload));
  return { socket, messages, closes, send };
}

const api = (standIn: DiscordStandIn, path: string, init: RequestInit = {}) =>
  fetch(`${standIn.restApiUrl}/v10${path}`, {
    ...init,
    headers: { authorization: `Bot ${TOKEN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
  });

describe('stand-in protocol details', () => {
  let standIn: DiscordStandIn;

  beforeAll(async () => {
    const spec = defaultGuildSpec();
    // A second text channel where the bot may read but not send.
    spec.channels?.push({ id: '1309000000000000202', name: 'read-only', permissionOverwrites: [{ id: ids.botRoleId, type: 'role', deny: P.SendMessages }] });
    spec.channels?.push({ id: '1309000000000000203', name: 'no-embeds', permissionOverwrites: [{ id: ids.botRoleId, type: 'role', deny: P.EmbedLinks }] });
    standIn = await startDiscordStandIn({ token: TOKEN, guilds: [spec] });
  });

  afterAll(async () => {
    await standIn?.close();
  });

  it('speaks zlib-stream when asked, identifies, and sends READY then GUILD_CREATE', async () => {
    const client = connect(`${standIn.gatewayUrl}?v=10&encoding=json&compress=zlib-stream`);
    const hello = await client.messages.waitFor((m) => m.op === 10);
    expect(hello.d).toEqual({ heartbeat_interval: 41_250 });
    client.send({ op: 1, d: null });
    await client.messages.waitFor((m) => m.op === 11);
    client.send({ op: 2, d: { token: TOKEN, intents: 1 | (1 << 7), properties: {} } });
    const ready = await client.messages.waitFor((m) => m.t === 'READY');
    expect(ready.s).toBe(1);
    expect(ready.d).toMatchObject({ v: 10, user: { id: ids.botUserId, bot: true }, guilds: [{ id: ids.guildId, unavailable: true }] });
    const guild = await client.messages.waitFor((m) => m.t === 'GUILD_CREATE');
    const data = guild.d as { members: Array<{ user: { id: string } }>; voice_states: unknown[]; channels: Array<{ guild_id?: string }> };
    // Without GUILD_PRESENCES: the bot and the members in voice.
    expect(data.members.map((m) => m.user.id).sort()).toEqual([ids.botUserId, ids.katieId, ids.steveId].sort());
    expect(data.voice_states).toHaveLength(2);
    expect(data.channels.every((c) => c.guild_id === undefined)).toBe(true);
    client.socket.close();
  });

  it('closes on a wrong version, encoding, token, or a payload before IDENTIFY; answers RESUME of unknown sessions with op 9', async () => {
    expect(await connect(`${standIn.gatewayUrl}?v=9&encoding=json`).closes.waitFor(() => true)).toBe(4012);
    expect(await connect(`${standIn.gatewayUrl}?v=10&encoding=etf`).closes.waitFor(() => true)).toBe(4002);
    const early = connect(`${standIn.gatewayUrl}?v=10&encoding=json`);
    await early.messages.waitFor((m) => m.op === 10);
    early.send({ op: 4, d: { guild_id: ids.guildId, channel_id: null, self_mute: false, self_deaf: false } });
    expect(await early.closes.waitFor(() => true)).toBe(4003);
    const wrong = connect(`${standIn.gatewayUrl}?v=10&encoding=json`);
    await wrong.messages.waitFor((m) => m.op === 10);
    wrong.send({ op: 2, d: { token: 'nope', intents: 1, properties: {} } });
    expect(await wrong.closes.waitFor(() => true)).toBe(4004);
    const resume = connect(`${standIn.gatewayUrl}?v=10&encoding=json`);
    await resume.messages.waitFor((m) => m.op === 10);
    resume.send({ op: 6, d: { token: TOKEN, session_id: 'unknown', seq: 3 } });
    expect((await resume.messages.waitFor((m) => m.op === 9)).d).toBe(false);
    resume.socket.close();
  });

  it('grants voice on op 4 and runs the voice handshake; rejects a bad voice token with 4004', async () => {
    const client = connect(`${standIn.gatewayUrl}?v=10&encoding=json`);
    await client.messages.waitFor((m) => m.op === 10);
    client.send({ op: 2, d: { token: TOKEN, intents: 1 | (1 << 7), properties: {} } });
    await client.messages.waitFor((m) => m.t === 'READY');
    client.send({ op: 4, d: { guild_id: ids.guildId, channel_id: ids.voiceChannelId, self_mute: false, self_deaf: false } });
    const state = await client.messages.waitFor((m) => m.t === 'VOICE_STATE_UPDATE');
    const server = await client.messages.waitFor((m) => m.t === 'VOICE_SERVER_UPDATE');
    const { session_id } = state.d as { session_id: string };
    const { token, endpoint } = server.d as { token: string; endpoint: string };
    expect(endpoint).toBe(standIn.voiceEndpoint);

    const bad = connect(`wss://${endpoint}?v=8`, { ca: standIn.caCertPem });
    await bad.messages.waitFor((m) => m.op === 8);
    bad.send({ op: 0, d: { server_id: ids.guildId, user_id: ids.botUserId, session_id, token: 'wrong' } });
    expect(await bad.closes.waitFor(() => true)).toBe(4004);

    const voice = connect(`wss://${endpoint}?v=8`, { ca: standIn.caCertPem });
    const hello = await voice.messages.waitFor((m) => m.op === 8);
    expect(hello.d).toEqual({ v: 8, heartbeat_interval: 13_750 });
    voice.send({ op: 0, d: { server_id: ids.guildId, user_id: ids.botUserId, session_id, token, max_dave_protocol_version: 1 } });
    const ready = (await voice.messages.waitFor((m) => m.op === 2)) as Frame & { seq: number };
    expect(ready.d).toMatchObject({ ip: '127.0.0.1', modes: ['aead_aes256_gcm_rtpsize'] });
    expect(ready.seq).toBe(1);
    expect((await voice.messages.waitFor((m) => m.op === 11)).d).toEqual({ user_ids: [ids.katieId, ids.steveId] });
    voice.send({ op: 3, d: { t: 1234, seq_ack: 2 } });
    expect((await voice.messages.waitFor((m) => m.op === 6)).d).toEqual({ t: 1234 });
    voice.send({ op: 1, d: { protocol: 'udp', data: { address: '127.0.0.1', port: 9, mode: 'xsalsa20_poly1305' } } });
    expect(await voice.closes.waitFor(() => true)).toBe(4016);
    client.socket.close();
  });

  it('checks auth, message limits and channel permissions like Discord', async () => {
    const unauthorised = await api(standIn, '/users/@me', { headers: { authorization: 'Bot wrong' } });
    expect(unauthorised.status).toBe(401);
    expect(await unauthorised.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const post = (channelId: string, body: unknown) => api(standIn, `/channels/${channelId}/messages`, { method: 'POST', body: JSON.stringify(body) });
    const long = await post(ids.textChannelId, { content: 'a'.repeat(2001) });
    expect(long.status).toBe(400);
    expect(await long.json()).toMatchObject({ code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH' }] } } });
    const bigEmbed = await post(ids.textChannelId, { embeds: [{ description: 'd'.repeat(4000) }, { description: 'd'.repeat(2500) }] });
    expect(await bigEmbed.json()).toMatchObject({ code: 50035, errors: { embeds: { _errors: [{ code: 'MAX_EMBED_SIZE_EXCEEDED' }] } } });
    expect(await (await post(ids.textChannelId, {})).json()).toEqual({ message: 'Cannot send an empty message', code: 50006 });
    const denied = await post('1309000000000000202', { content: 'hi' });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({ message: 'Missing Permissions', code: 50013 });
    // Voice channels have a text chat (text-in-voice): the bot role may send there.
    const voiceText = await post(ids.voiceChannelId, { content: 'hi' });
    expect(await voiceText.json()).toMatchObject({ channel_id: ids.voiceChannelId, content: 'hi' });
    expect((await (await post('1', { content: 'hi' })).json()) as unknown).toEqual({ message: 'Unknown Channel', code: 10003 });
    const stripped = await post('1309000000000000203', { content: 'caption', embeds: [{ description: 'x' }] });
    expect(await stripped.json()).toMatchObject({ content: 'caption', embeds: [] });
    const embedOnly = await post('1309000000000000203', { embeds: [{ description: 'x' }] });
    expect(embedOnly.status).toBe(403);
    const mention = await post(ids.textChannelId, { content: `<@${ids.katieId}> and <@${ids.steveId}>`, allowed_mentions: { users: [ids.steveId] } });
    expect(((await mention.json()) as { mentions: Array<{ id: string }> }).mentions.map((u) => u.id)).toEqual([ids.steveId]);
  });

  it('answers a second interaction callback with 40060 and webhook calls before any callback with 10015', async () => {
    const client = connect(`${standIn.gatewayUrl}?v=10&encoding=json`);
    await client.messages.waitFor((m) => m.op === 10);
    client.send({ op: 2, d: { token: TOKEN, intents: 1, properties: {} } });
    await client.messages.waitFor((m) => m.t === 'READY');
    const interaction = standIn.buildCommandInteraction({ commandName: 'captions' });
    standIn.sendInteraction(interaction);
    expect((await client.messages.waitFor((m) => m.t === 'INTERACTION_CREATE')).d).toMatchObject({ token: interaction.token });
    const early = await fetch(`${standIn.restApiUrl}/v10/webhooks/${ids.botUserId}/${interaction.token}/messages/@original`);
    expect(await early.json()).toEqual({ message: 'Unknown Webhook', code: 10015 });
    const callback = (body: unknown) =>
      fetch(`${standIn.restApiUrl}/v10/interactions/${interaction.id}/${interaction.token}/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await callback({ type: 5, data: { flags: 64 } })).status).toBe(204);
    const again = await callback({ type: 4, data: { content: 'x' } });
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ message: 'Interaction has already been acknowledged.', code: 40060 });
    const original = await fetch(`${standIn.restApiUrl}/v10/webhooks/${ids.botUserId}/${interaction.token}/messages/@original`);
    expect(await original.json()).toMatchObject({ flags: 128 | 64, content: '', interaction_metadata: { id: interaction.id } });
    client.socket.close();
  });

  it('sends global 429s with X-RateLimit-Global and scope global', async () => {
    standIn.rateLimitNext('GET /users/@me', { retryAfterS: 1.5, global: true });
    const limited = await api(standIn, '/users/@me');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1.5');
    expect(limited.headers.get('x-ratelimit-global')).toBe('true');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('global');
    expect(await limited.json()).toEqual({ message: 'You are being rate limited.', retry_after: 1.5, global: true, code: 0 });
    const next = await api(standIn, '/users/@me');
    expect(next.status).toBe(200);
    expect(next.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
  });
});
