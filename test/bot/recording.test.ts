/**
 * Consented recording through the real bot and the Discord stand-in: a guild must allow it first; `/join
 * record:true` tells members (consent notice, voice channel status), records each speaker's delivered Opus
 * packets into their own Ogg Opus track, and posts the tracks at `/end`; `npm run replay` captions those tracks
 * to the same transcript the live meeting produced. An opted-out member is never recorded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermissionFlagsBits as P } from 'discord-api-types/v10';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_IDS, defaultGuildSpec, type RecordedRequest } from '../fakes/discord/stand-in.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import { RECORDING_STATUS } from '../../src/meeting/captioning-indicator.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';
import { LinkSigner, loadLinkSecret } from '../../src/web/links.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand, subcommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
const run = promisify(execFile);
const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

/** The files the bot uploaded in the caption channel since request `from`, by name. */
function uploads(world: World, from: number): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const r of world.standIn.requests.slice(from)) {
    if (r.method !== 'POST' || r.route !== `/channels/${ids.textChannelId}/messages` || r.status !== 200) continue;
    for (const file of r.files ?? []) files.set(file.name, file.data);
  }
  return files;
}

/** Each speaker's final texts, in order. */
function textsBySpeaker(json: TranscriptJson): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const turn of json.turns) (out[turn.speaker] ??= []).push(turn.text);
  return out;
}

describe('consented recording', () => {
  let world: World;
  let bot: InProcessBot;
  let replayStt: FakeAssemblyAI;

  beforeAll(async () => {
    // The bot may set the voice channel's status, so the recording sign shows there.
    const guild = defaultGuildSpec();
    guild.botRolePermissions = DEFAULT_BOT_PERMISSIONS | P.SetVoiceChannelStatus;
    world = await startWorld({ standIn: { guilds: [guild] } });
    bot = await startInProcessBot(world);
    // Replay plays faster than real time: only a local server without the pacing check takes that.
    replayStt = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await replayStt?.close();
  });

  it('refuses record:true while the server has not allowed recording, and says how to allow it', async () => {
    const { standIn } = world;
    const reply = await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toContain('Recording is off in this server');
    expect(reply.content).toContain('`/recording enable`');
    expect(bot.bot.meetings.get(ids.guildId)).toBeUndefined();
    // Only Manage Server may allow it.
    const refused = await runCommand(standIn, { commandName: 'recording', userId: ids.steveId, options: subcommand('enable') });
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toContain('Manage Server');
    expect(bot.bot.recordings.settings.consent(ids.guildId)).toBeUndefined();
  });

  it('records each speaker into their own track, posts the tracks, and npm run replay captions them to the live transcript', async () => {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const enabled = await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    expect(enabled.content).toContain('Recording is allowed in this server');

    const from = standIn.requests.length;
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
    expect(joined.content).toContain(`Recording and captioning <#${ids.voiceChannelId}>`);
    const notice = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('ℹ️'));
    expect(contentOf(notice)).toContain('Recording and captioning');
    expect(contentOf(notice)).toContain('/optout');
    const status = standIn.requests.slice(from).find((r) => r.method === 'PUT' && r.route === `/channels/${ids.voiceChannelId}/voice-status`);
    expect(status?.status).toBe(204);
    expect(status?.body).toEqual({ status: RECORDING_STATUS });
    const meetingId = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    expect((await runCommand(standIn, { commandName: 'status', userId: ids.steveId })).content).toContain(`Recording and captioning <#${ids.voiceChannelId}>`);

    // Steve starts 1.5 s after Katie: the tracks must keep that offset.
    const steveLater = right.map((p) => ({ ...p, atMs: p.atMs + 1_500 }));
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, steveLater)]);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** '));
    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const recordingPost = await standIn.waitForRequest(
      (r: RecordedRequest) => r.method === 'POST' && r.route === `/channels/${ids.textChannelId}/messages` && contentOf(r).startsWith('🎙️') && standIn.requests.indexOf(r) >= endFrom,
    );
    expect(contentOf(recordingPost)).toContain('2 tracks (Katie, Steve)');
    expect(recordingPost.body).toMatchObject({ allowed_mentions: { parse: [] } });

    const files = uploads(world, endFrom);
    const live = JSON.parse(files.get('transcript.json')!.toString('utf8')) as TranscriptJson;
    const tracks = [...files.keys()].filter((name) => name.endsWith('.ogg')).sort();
    expect(tracks).toEqual([`01-Katie-${ids.katieId}.ogg`, `02-Steve-${ids.steveId}.ogg`]);
    const readme = files.get('README.txt')!.toString('utf8');
    expect(readme).toContain(`npm run replay -- --out out/ "Katie=01-Katie-${ids.katieId}.ogg" "Steve=02-Steve-${ids.steveId}.ogg"`);
    // The same files stay in DATA_DIR, beside the README.
    expect((await readdir(join(world.dataDir, 'recordings', ids.guildId, String(meetingId)))).sort()).toEqual([...tracks, 'README.txt'].sort());

    // Replay the posted tracks, as the README says, through npm run replay's entry point.
    const dir = await mkdtemp(join(tmpdir(), 'parley-recorded-'));
    try {
      for (const name of tracks) await writeFile(join(dir, name), files.get(name)!);
      const args = [...readme.matchAll(/"([^"=]+)=([^"]+)"/g)].map((m) => `${m[1]}=${m[2]}`);
      expect(args).toHaveLength(2);
      const { stderr } = await run(process.execPath, [CLI, '--speed', '20', '--no-recap', '--out', join(dir, 'out'), ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: replayStt.url },
      });
      expect(stderr).toBe('');
      const replayed = JSON.parse(await readFile(join(dir, 'out', 'transcript.json'), 'utf8')) as TranscriptJson;
      expect(live.turns.length).toBeGreaterThanOrEqual(2);
      expect(textsBySpeaker(replayed)).toEqual(textsBySpeaker(live));
      // The tracks line up with the meeting: each replayed turn starts where the live one did (within 30 ms).
      for (const [i, turn] of replayed.turns.entries()) {
        const match = live.turns.filter((t) => t.speaker === turn.speaker)[replayed.turns.filter((t, j) => j < i && t.speaker === turn.speaker).length]!;
        expect(Math.abs(turn.start_ms - match.start_ms), `${turn.speaker}: ${turn.text}`).toBeLessThan(30);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('never records a member who opted out, and stops the track of one who opts out mid-meeting', async () => {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const half = Math.floor(left.length / 2);
    await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    // Steve opted out before the meeting; Katie opts out half-way through what she says.
    await runCommand(standIn, { commandName: 'optout', userId: ids.steveId });
    try {
      const from = standIn.requests.length;
      await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
      const meeting = bot.bot.meetings.get(ids.guildId);
      const meetingId = meeting?.id ?? 0;
      await Promise.all([standIn.memberSpeak(ids.katieId, left.slice(0, half)), standIn.memberSpeak(ids.steveId, right)]);
      await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
      const optout = await runCommand(standIn, { commandName: 'optout', userId: ids.katieId });
      expect(optout.content).toContain('will not send your audio anywhere');
      expect(optout.content).toContain('Nor will it record you');
      const optedOutAtMs = Date.now() - (meeting?.startedAtMs ?? 0);
      await standIn.memberSpeak(ids.katieId, left.slice(half));
      const endFrom = standIn.requests.length;
      await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
      await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/channels/${ids.textChannelId}/messages` && contentOf(r).startsWith('🎙️') && standIn.requests.indexOf(r) >= endFrom);

      const dir = join(world.dataDir, 'recordings', ids.guildId, String(meetingId));
      expect((await readdir(dir)).sort()).toEqual([`01-Katie-${ids.katieId}.ogg`, 'README.txt']);
      const files = uploads(world, endFrom);
      expect([...files.keys()].filter((n) => n.endsWith('.ogg'))).toEqual([`01-Katie-${ids.katieId}.ogg`]);
      // Katie's track holds what she said before opting out, and nothing after.
      const track = await readFile(join(dir, `01-Katie-${ids.katieId}.ogg`));
      const spoken = left.filter((p) => p.packet.length > 3);
      const before = spoken.filter((p) => left.indexOf(p) < half);
      const after = spoken.filter((p) => left.indexOf(p) >= half);
      expect(before.filter((p) => track.includes(p.packet)).length).toBeGreaterThan(before.length * 0.9);
      expect(after.filter((p) => track.includes(p.packet))).toEqual([]);
      // Her track was closed when she opted out, not kept open (and padded) to the end of the meeting.
      const lastPage = track.lastIndexOf('OggS');
      const trackMs = Number(track.readBigUInt64LE(lastPage + 6)) / 48;
      expect(trackMs).toBeLessThanOrEqual(optedOutAtMs + 100);
    } finally {
      await runCommand(standIn, { commandName: 'optin', userId: ids.steveId });
      await runCommand(standIn, { commandName: 'optin', userId: ids.katieId });
    }
  }, 60_000);

  it('names the folder when the tracks exceed the attachment limit, and /forget deletes them', async () => {
    const { standIn } = world;
    const { left } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    const from = standIn.requests.length;
    // A limit smaller than one track: nothing can be attached.
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true }, attachmentSizeLimit: 2_000 });
    const meetingId = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    await standIn.memberSpeak(ids.katieId, left);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const post = await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/channels/${ids.textChannelId}/messages` && contentOf(r).startsWith('🎙️') && standIn.requests.indexOf(r) >= endFrom);
    expect(contentOf(post)).toContain(`\`recordings/${ids.guildId}/${meetingId}/\``);
    expect(contentOf(post)).toContain('too large to attach');
    expect([...uploads(world, endFrom).keys()].filter((n) => n.endsWith('.ogg'))).toEqual([]);
    const dir = join(world.dataDir, 'recordings', ids.guildId, String(meetingId));
    expect(await readdir(dir)).toContain(`01-Katie-${ids.katieId}.ogg`);

    const forgotten = await runCommand(standIn, { commandName: 'forget', userId: ids.katieId, options: { meeting: meetingId } });
    expect(forgotten.content).toContain('and its recording');
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});

describe('recordings too large to attach, with the caption page on', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startInProcessBot(world, { WEB_HOST: '127.0.0.1', WEB_PORT: '0' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('posts a link to download them from the caption page; the link opens only that recording', async () => {
    const { standIn } = world;
    const { left } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true }, attachmentSizeLimit: 2_000 });
    const meetingId = bot.bot.meetings.get(ids.guildId)?.id ?? 0;
    await standIn.memberSpeak(ids.katieId, left);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    const endFrom = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const post = await standIn.waitForRequest(
      (r) => r.method === 'POST' && r.route === `/channels/${ids.textChannelId}/messages` && contentOf(r).startsWith('🎙️') && standIn.requests.indexOf(r) >= endFrom,
    );
    const link = /https?:\/\/\S+\/recordings\/\S+\//.exec(contentOf(post))?.[0];
    expect(link, contentOf(post)).toBeDefined();
    const base = `http://127.0.0.1:${bot.bot.webPort}${new URL(link!).pathname}`;

    const listing = await fetch(base);
    expect(listing.status).toBe(200);
    expect(listing.headers.get('cache-control')).toBe('no-store');
    const trackName = `01-Katie-${ids.katieId}.ogg`;
    expect(await listing.text()).toContain(`href="./${trackName}"`);
    const download = await fetch(`${base}${trackName}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('audio/ogg');
    const kept = await readFile(join(world.dataDir, 'recordings', ids.guildId, String(meetingId), trackName));
    expect(Buffer.from(await download.arrayBuffer()).equals(kept)).toBe(true);
    expect(download.headers.get('content-length')).toBe(String(kept.length));
    // A cut download resumes where it stopped.
    const resumed = await fetch(`${base}${trackName}`, { headers: { range: 'bytes=100-' } });
    expect(resumed.status).toBe(206);
    expect(Buffer.from(await resumed.arrayBuffer()).equals(kept.subarray(100))).toBe(true);

    // A changed token, another guild's path, or a path outside the folder gets the 403 page.
    const token = new URL(link!).pathname.split('/')[3]!;
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const path of [`/recordings/${ids.guildId}/${forged}/`, `/recordings/1309000000000000999/${token}/`, `/recordings/${ids.guildId}/${token}/..%2F..%2Fparley.db`]) {
      const refused = await fetch(`http://127.0.0.1:${bot.bot.webPort}${path}`);
      expect(refused.status, path).toBe(403);
    }
    // A caption-page token of the same meeting does not open the recording.
    const captionToken = new LinkSigner(loadLinkSecret(world.dataDir, undefined)).sign({ guildId: ids.guildId, meetingId, userId: ids.katieId, expiresAt: Date.now() + 60_000 });
    expect((await fetch(`http://127.0.0.1:${bot.bot.webPort}/recordings/${ids.guildId}/${captionToken}/`)).status).toBe(403);
  }, 60_000);
});
