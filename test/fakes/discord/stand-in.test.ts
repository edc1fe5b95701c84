import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  EndBehaviorType,
  entersState,
  joinVoiceChannel,
  VoiceConnectionStatus,
} from '@discordjs/voice';
import type { AudioReceiveStream, VoiceConnection } from '@discordjs/voice';
import { ChannelType, Client, Events, GatewayIntentBits, PermissionFlagsBits } from 'discord.js';
import type { ChatInputCommandInteraction, Guild, TextChannel } from 'discord.js';
import OpusScript from 'opusscript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, startDiscordStandIn } from './stand-in.ts';
import type { DiscordStandIn, TimedOpusPacket } from './stand-in.ts';

const ids = DEFAULT_IDS;

/** `count` 20 ms Opus frames (48 kHz stereo) of a tone, as a Discord client would send them. */
function opusFrames(count: number, frequency: number): TimedOpusPacket[] {
  const encoder = new OpusScript(48_000, 2, OpusScript.Application.AUDIO);
  const frames: TimedOpusPacket[] = [];
  for (let i = 0; i < count; i += 1) {
    const pcm = Buffer.alloc(960 * 2 * 2);
    for (let n = 0; n < 960; n += 1) {
      const sample = Math.round(8000 * Math.sin((2 * Math.PI * frequency * (i * 960 + n)) / 48_000));
      pcm.writeInt16LE(sample, n * 4);
      pcm.writeInt16LE(sample, n * 4 + 2);
    }
    frames.push({ atMs: i * 20, packet: Buffer.from(encoder.encode(pcm, 960)) });
  }
  encoder.delete();
  return frames;
}

/** Reads `count` chunks from an object-mode receive stream. */
async function take(stream: AudioReceiveStream, count: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    if (chunks.length === count) break;
  }
  return chunks;
}

describe('Discord stand-in with the real discord.js and @discordjs/voice', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let guild: Guild;
  let connection: VoiceConnection | undefined;

  beforeAll(async () => {
    standIn = await startDiscordStandIn();
    standIn.trustInThisProcess();
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildVoiceStates],
      rest: { api: standIn.restApiUrl },
    });
    const ready = once(client, Events.ClientReady);
    await client.login('stand-in-token');
    await ready;
    const found = client.guilds.cache.get(ids.guildId);
    if (!found) throw new Error('guild not cached');
    guild = found;
  });

  afterAll(async () => {
    if (connection && connection.state.status !== VoiceConnectionStatus.Destroyed) connection.destroy();
    await client?.destroy();
    await standIn?.close();
  });

  it('lets the client log in, identify and see the guild with its channels, members and permissions', async () => {
    const gatewayBot = await standIn.waitForRequest((r) => r.route === '/gateway/bot');
    expect(gatewayBot.path).toBe('/api/v10/gateway/bot');
    expect(gatewayBot.headers.authorization).toBe('Bot stand-in-token');
    const identify = await standIn.gatewayPayloads.waitFor((p) => p.op === 2);
    expect((identify.d as { intents: number }).intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildVoiceStates);

    expect(client.user?.id).toBe(ids.botUserId);
    expect(client.application?.id).toBe(ids.botUserId);
    expect(guild.name).toBe('Parley Test Guild');
    const voice = guild.channels.cache.get(ids.voiceChannelId);
    const text = guild.channels.cache.get(ids.textChannelId);
    expect(voice?.type).toBe(ChannelType.GuildVoice);
    expect(text?.type).toBe(ChannelType.GuildText);
    expect(voice?.isVoiceBased() && voice.members.map((m) => m.displayName).sort()).toEqual(['Katie', 'Steve']);
    const me = guild.members.me;
    if (!me || !text || !voice) throw new Error('bot member or channels missing');
    expect(voice.permissionsFor(me).has([PermissionFlagsBits.ViewChannel, PermissionFlagsBits.Connect])).toBe(true);
    expect(
      text.permissionsFor(me).has([PermissionFlagsBits.SendMessages, PermissionFlagsBits.EmbedLinks, PermissionFlagsBits.AttachFiles]),
    ).toBe(true);
    const katie = guild.members.cache.get(ids.katieId);
    expect(katie && text.permissionsFor(katie).has(PermissionFlagsBits.SendMessages)).toBe(true); // owner
    const steve = guild.members.cache.get(ids.steveId);
    expect(steve && text.permissionsFor(steve).has(PermissionFlagsBits.SendMessages)).toBe(false); // @everyone overwrite
  });

  it('brings a voice connection to Ready over wss with DAVE offered at protocol version 0', async () => {
    connection = joinVoiceChannel({
      channelId: ids.voiceChannelId,
      guildId: ids.guildId,
      selfDeaf: false,
      adapterCreator: guild.voiceAdapterCreator,
    });
    await entersState(connection, VoiceConnectionStatus.Ready, 30_000);
    const identify = await standIn.voicePayloads.waitFor((m) => m.op === 0);
    expect(identify.d).toMatchObject({ server_id: ids.guildId, user_id: ids.botUserId });
    expect((identify.d as { max_dave_protocol_version: number }).max_dave_protocol_version).toBeGreaterThanOrEqual(1);
    const select = await standIn.voicePayloads.waitFor((m) => m.op === 1);
    expect(select.d).toMatchObject({ protocol: 'udp', data: { address: '127.0.0.1', mode: 'aead_aes256_gcm_rtpsize' } });
    const discovery = await standIn.udpDatagrams.waitFor((d) => d.kind === 'ip-discovery');
    expect((select.d as { data: { port: number } }).data.port).toBe(discovery.from.port);
    expect(guild.members.me?.voice.channelId).toBe(ids.voiceChannelId);
    // CLIENTS_CONNECT (op 11) came before SESSION_DESCRIPTION on the same socket, so it has been handled.
    const networking = (connection.state as { networking?: { state: { connectionData?: { connectedClients?: Set<string> } } } }).networking;
    expect([...(networking?.state.connectionData?.connectedClients ?? [])].sort()).toEqual([ids.katieId, ids.steveId].sort());
  });

  it("emits speaking.start for Katie and yields exactly Katie's Opus packets", async () => {
    if (!connection) throw new Error('no connection');
    const receiver = connection.receiver;
    const frames = opusFrames(25, 440);
    const started = new Promise<string>((resolve) => {
      const onStart = (userId: string): void => {
        if (userId !== ids.katieId) return;
        receiver.speaking.off('start', onStart);
        resolve(userId);
      };
      receiver.speaking.on('start', onStart);
    });
    const stream = receiver.subscribe(ids.katieId, { end: { behavior: EndBehaviorType.Manual } });
    const received = take(stream, frames.length);
    const { sent } = await standIn.memberSpeak(ids.katieId, frames);
    expect(sent).toBe(frames.length);
    await expect(started).resolves.toBe(ids.katieId);
    const chunks = await received;
    expect(chunks.map((c) => c.toString('hex'))).toEqual(frames.map((f) => f.packet.toString('hex')));
    expect(receiver.ssrcMap.get(ids.katieId)?.audioSSRC).toBe(standIn.ssrcOf(ids.katieId));
    stream.destroy();
  });

  it("keeps speakers apart: Steve's unpaced packets reach only Steve's stream", async () => {
    if (!connection) throw new Error('no connection');
    const frames = opusFrames(40, 660);
    const stream = connection.receiver.subscribe(ids.steveId, { end: { behavior: EndBehaviorType.Manual } });
    const received = take(stream, frames.length);
    await standIn.memberSpeak(ids.steveId, frames, { paced: false });
    const chunks = await received;
    expect(Buffer.concat(chunks).equals(Buffer.concat(frames.map((f) => f.packet)))).toBe(true);
    expect(standIn.ssrcOf(ids.steveId)).not.toBe(standIn.ssrcOf(ids.katieId));
    stream.destroy();
  });

  it('records channel.send with its JSON body and answers with a message object', async () => {
    const channel = (await client.channels.fetch(ids.textChannelId)) as TextChannel;
    const message = await channel.send({ content: 'x', allowedMentions: { parse: [] } });
    const request = await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/channels/${ids.textChannelId}/messages`);
    expect(request.body).toMatchObject({ content: 'x', allowed_mentions: { parse: [] } });
    expect(request.status).toBe(200);
    expect(message.id).toBe((request.responseBody as { id: string }).id);
    expect(message.author.id).toBe(ids.botUserId);
    expect(message.channelId).toBe(ids.textChannelId);
    const edited = await message.edit({ content: 'x, corrected', embeds: [{ description: 'partial caption' }] });
    expect(edited.content).toBe('x, corrected');
    expect(edited.editedTimestamp).not.toBeNull();
    expect(edited.embeds[0]?.description).toBe('partial caption');
    await message.delete();
    const deleted = await standIn.waitForRequest((r) => r.method === 'DELETE' && r.route.endsWith(`/messages/${message.id}`));
    expect(deleted.status).toBe(204);
    const fetched = await client.channels.fetch(ids.textChannelId, { force: true });
    expect(fetched?.isTextBased() && 'name' in fetched ? fetched.name : undefined).toBe('captions');
    await standIn.waitForRequest((r) => r.method === 'GET' && r.route === `/channels/${ids.textChannelId}`);
  });

  it('parses multipart uploads: payload_json and file names and sizes', async () => {
    const channel = (await client.channels.fetch(ids.textChannelId)) as TextChannel;
    const srt = Buffer.from('1\n00:00:00,000 --> 00:00:01,000\nHello\n');
    const message = await channel.send({ content: 'transcript', files: [{ attachment: srt, name: 'captions.srt' }] });
    const request = await standIn.waitForRequest((r) => r.files.length > 0);
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(request.body).toMatchObject({ content: 'transcript' });
    expect(request.files.map((f) => ({ name: f.name, size: f.size }))).toEqual([{ name: 'captions.srt', size: srt.length }]);
    expect(message.attachments.first()?.name).toBe('captions.srt');
    expect(message.attachments.first()?.size).toBe(srt.length);
  });

  it('answers 429 from rateLimitNext with the headers discord.js needs, and discord.js retries', async () => {
    const channel = (await client.channels.fetch(ids.textChannelId)) as TextChannel;
    standIn.rateLimitNext('POST /channels/:channelId/messages', { retryAfterS: 0.2 });
    const message = await channel.send({ content: 'after a 429', allowedMentions: { parse: [] } });
    const attempts = standIn.requests.filter((r) => (r.body as { content?: string } | undefined)?.content === 'after a 429');
    expect(attempts.map((r) => r.status)).toEqual([429, 200]);
    expect(attempts[0]?.responseBody).toMatchObject({ message: 'You are being rate limited.', retry_after: 0.2, global: false });
    expect(message.content).toBe('after a 429');
  });

  it('delivers a slash command and records the deferred reply and its edit', async () => {
    const handled = new Promise<ChatInputCommandInteraction>((resolve) => {
      client.once(Events.InteractionCreate, async (interaction) => {
        if (!interaction.isChatInputCommand()) return;
        await interaction.deferReply();
        await interaction.editReply({ content: 'Captions on' });
        resolve(interaction);
      });
    });
    const payload = standIn.buildCommandInteraction({ commandName: 'captions', userId: ids.katieId, options: { language: 'fr' } });
    standIn.sendInteraction(payload);
    const interaction = await handled;
    expect(interaction.commandName).toBe('captions');
    expect(interaction.options.getString('language')).toBe('fr');
    expect(interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : undefined).toBe('Katie');
    expect(interaction.appPermissions.has(PermissionFlagsBits.SendMessages)).toBe(true);
    const callback = await standIn.waitForRequest((r) => r.route === `/interactions/${payload.id}/${payload.token}/callback`);
    expect(callback.headers.authorization).toBeUndefined();
    expect(callback.body).toMatchObject({ type: 5 });
    const edit = await standIn.waitForRequest((r) => r.method === 'PATCH' && r.route.endsWith(`/${payload.token}/messages/@original`));
    expect(edit.body).toMatchObject({ content: 'Captions on' });
    expect(edit.responseBody).toMatchObject({ content: 'Captions on', flags: 0 });
  });

  it('answers unknown routes with a Discord-style 404 and records them', async () => {
    const response = await fetch(`${standIn.restApiUrl}/v10/no/such/route`, { headers: { authorization: 'Bot x' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: '404: Not Found', code: 0 });
    const recorded = await standIn.waitForRequest((r) => r.route === '/no/such/route');
    expect(recorded.status).toBe(404);
  });

  it('lets a child process trust the voice certificate through NODE_EXTRA_CA_CERTS', async () => {
    const probe = fileURLToPath(new URL('./tls-probe.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [probe, standIn.voiceEndpoint], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: standIn.caCertPath },
    });
    expect(JSON.parse(stdout.trim())).toMatchObject({ message: { op: 8, d: { v: 8 } } });
  });

  it('serves the application and the bot user, and registers commands', async () => {
    const application = await client.application?.fetch();
    expect(application?.id).toBe(ids.botUserId);
    expect(application?.name).toBe('Parley');
    const user = await client.user?.fetch(true);
    expect(user?.bot).toBe(true);
    const global = await client.application?.commands.set([{ name: 'captions', description: 'Start live captions' }]);
    const registered = global?.first();
    expect(registered?.name).toBe('captions');
    const put = await standIn.waitForRequest((r) => r.method === 'PUT' && r.route === `/applications/${ids.botUserId}/commands`);
    expect(put.body).toEqual([expect.objectContaining({ name: 'captions', description: 'Start live captions' })]);
    const inGuild = await guild.commands.set([{ name: 'recap', description: 'Post a recap' }]);
    expect(inGuild.first()?.guildId).toBe(ids.guildId);
    expect(standIn.buildCommandInteraction({ commandName: 'captions' }).data.id).toBe(registered?.id);
  });

  it('starts a thread from a message (thread id = message id) and posts into it', async () => {
    const channel = (await client.channels.fetch(ids.textChannelId)) as TextChannel;
    const created = once(client, Events.ThreadCreate);
    const message = await channel.send({ content: 'Live captions', allowedMentions: { parse: [] } });
    const thread = await message.startThread({ name: 'Captions — French' });
    expect(thread.id).toBe(message.id);
    expect(thread.parentId).toBe(ids.textChannelId);
    const [event] = (await created) as [{ id: string }, boolean];
    expect(event.id).toBe(thread.id);
    const inThread = await thread.send({ content: 'Bonjour', allowedMentions: { parse: [] } });
    expect(inThread.channelId).toBe(thread.id);
    const standalone = await channel.threads.create({ name: 'Recap' });
    expect(standalone.type).toBe(ChannelType.PublicThread);
  });

  it('fetches members over REST and sets the bot nickname', async () => {
    const steve = await guild.members.fetch({ user: ids.steveId, force: true });
    expect(steve.displayName).toBe('Steve');
    const me = await guild.members.editMe({ nick: 'Parley (captioning)' });
    expect(me.nickname).toBe('Parley (captioning)');
    const patch = await standIn.waitForRequest((r) => r.method === 'PATCH' && r.route === `/guilds/${ids.guildId}/members/@me`);
    expect(patch.body).toEqual({ nick: 'Parley (captioning)' });
  });

  it('answers a reply with_response=true and accepts follow-ups with files', async () => {
    const done = new Promise<void>((resolve, reject) => {
      client.once(Events.InteractionCreate, async (interaction) => {
        try {
          if (!interaction.isChatInputCommand()) return;
          const response = await interaction.reply({ content: 'Recap coming', withResponse: true });
          expect(response.resource?.message?.content).toBe('Recap coming');
          const followUp = await interaction.followUp({ content: 'Recap', files: [{ attachment: Buffer.from('notes'), name: 'recap.md' }] });
          expect(followUp.attachments.first()?.name).toBe('recap.md');
          resolve();
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    const payload = standIn.buildCommandInteraction({ commandName: 'recap', userId: ids.steveId });
    standIn.sendInteraction(payload);
    await done;
    const callback = await standIn.waitForRequest((r) => r.route.startsWith(`/interactions/${payload.id}/`));
    expect(callback.query).toEqual({ with_response: 'true' });
    expect(callback.body).toMatchObject({ type: 4, data: { content: 'Recap coming' } });
    const followUp = await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/webhooks/${ids.botUserId}/${payload.token}`);
    expect(followUp.query).toMatchObject({ wait: 'true' });
    expect(followUp.files.map((f) => f.name)).toEqual(['recap.md']);
  });

  it('tells the bot about members leaving and joining voice (CLIENT_DISCONNECT forgets the SSRC)', async () => {
    if (!connection) throw new Error('no connection');
    const receiver = connection.receiver;
    expect(receiver.ssrcMap.get(ids.steveId)).toBeDefined();
    const forgotten = once(receiver.ssrcMap, 'delete');
    const left = once(client, Events.VoiceStateUpdate);
    standIn.setVoiceState(ids.steveId, null);
    const [deleted] = (await forgotten) as [{ userId: string }];
    expect(deleted.userId).toBe(ids.steveId);
    await left;
    expect(guild.voiceStates.cache.get(ids.steveId)?.channelId).toBeNull();
    const joined = once(client, Events.VoiceStateUpdate);
    standIn.setVoiceState(ids.steveId, ids.voiceChannelId);
    await joined;
    expect(guild.voiceStates.cache.get(ids.steveId)?.channelId).toBe(ids.voiceChannelId);
  });

  it('lets the voice connection RESUME after the voice server drops it, and keeps receiving', async () => {
    if (!connection) throw new Error('no connection');
    standIn.dropVoiceConnection(undefined, 4015);
    const resume = await standIn.voicePayloads.waitFor((m) => m.op === 7);
    expect(resume.d).toMatchObject({ server_id: ids.guildId, session_id: expect.any(String) as unknown });
    await entersState(connection, VoiceConnectionStatus.Ready, 30_000);
    const frames = opusFrames(5, 220);
    const stream = connection.receiver.subscribe(ids.katieId, { end: { behavior: EndBehaviorType.Manual } });
    const received = take(stream, frames.length);
    await standIn.memberSpeak(ids.katieId, frames);
    expect((await received).map((c) => c.toString('hex'))).toEqual(frames.map((f) => f.packet.toString('hex')));
    stream.destroy();
  });

  it('lets the library rejoin (new op 4, new token, new IDENTIFY) after a non-resumable close', async () => {
    if (!connection) throw new Error('no connection');
    const identifies = standIn.voicePayloads.filter((m) => m.op === 0).length;
    standIn.dropVoiceConnection(undefined, 4006);
    await standIn.voicePayloads.waitFor((m) => m.op === 0 && standIn.voicePayloads.filter((x) => x.op === 0).length > identifies);
    await entersState(connection, VoiceConnectionStatus.Ready, 30_000);
    await standIn.waitForVoiceReady();
    const frames = opusFrames(3, 330);
    const stream = connection.receiver.subscribe(ids.katieId, { end: { behavior: EndBehaviorType.Manual } });
    const received = take(stream, frames.length);
    await standIn.memberSpeak(ids.katieId, frames);
    expect((await received).map((c) => c.toString('hex'))).toEqual(frames.map((f) => f.packet.toString('hex')));
    stream.destroy();
  });

  it("destroys a speaker's stream on a packet that fails to decrypt (sendRawUdp)", async () => {
    if (!connection) throw new Error('no connection');
    const stream = connection.receiver.subscribe(ids.katieId, { end: { behavior: EndBehaviorType.Manual } });
    const failed = once(stream, 'error');
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = 0x78;
    header.writeUInt32BE(standIn.ssrcOf(ids.katieId), 8);
    await standIn.sendRawUdp(Buffer.concat([header, Buffer.alloc(40, 0xab)]));
    const [error] = (await failed) as [Error];
    expect(error).toBeInstanceOf(Error);
    expect(stream.destroyed).toBe(true);
  });

  it('resumes the gateway session after op 7 Reconnect', async () => {
    const resumed = once(client, Events.ShardResume);
    standIn.requestGatewayReconnect();
    await resumed;
    const resume = await standIn.gatewayPayloads.waitFor((p) => p.op === 6);
    expect(resume.d).toMatchObject({ token: 'stand-in-token', session_id: expect.any(String) as unknown });
    const moved = once(client, Events.VoiceStateUpdate);
    standIn.setVoiceState(ids.steveId, null);
    await moved;
    standIn.setVoiceState(ids.steveId, ids.voiceChannelId);
  });

  it('simulates a kick: the connection is disconnected with close code 4014', async () => {
    if (!connection) throw new Error('no connection');
    const disconnected = entersState(connection, VoiceConnectionStatus.Disconnected, 30_000);
    standIn.disconnectBotFromVoice();
    await disconnected;
    expect(connection.state).toMatchObject({ status: VoiceConnectionStatus.Disconnected, closeCode: 4014 });
    await standIn.gatewayPayloads.waitFor(() => guild.members.me?.voice.channelId === null);
  });
});
