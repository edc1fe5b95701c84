/**
 * A recorded meeting interrupted by a crash: the real bot process is SIGKILLed mid-meeting, leaving its tracks
 * without their end-of-stream page; after a restart, `/end` closes the tracks where the crash cut them and posts
 * them as at a normal `/end`, once, and `npm run replay` captions them to what was captioned live before the kill.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startFakeAssemblyAI, type FakeAssemblyAI } from '../fakes/assemblyai-server.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import type { TranscriptJson } from '../../src/transcript/formats.ts';
import { startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { contentOf, runCommand, subcommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
const run = promisify(execFile);
const CLI = new URL('../../src/replay/cli.ts', import.meta.url).pathname;

/** Whether an Ogg file's last page is flagged end of stream (RFC 3533 §6), walking the page headers. */
function endsWithEos(bytes: Buffer): boolean {
  let eos = false;
  for (let at = 0; at + 27 <= bytes.length; ) {
    const segments = bytes[at + 26]!;
    eos = (bytes[at + 5]! & 0x04) !== 0;
    at += 27 + segments + [...bytes.subarray(at + 27, at + 27 + segments)].reduce((a, b) => a + b, 0);
  }
  return eos;
}

/** Each speaker's final texts, in order. */
function textsBySpeaker(json: TranscriptJson): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const turn of json.turns) (out[turn.speaker] ??= []).push(turn.text);
  return out;
}

describe('a recorded meeting interrupted by a crash', () => {
  let world: World;
  let replayStt: FakeAssemblyAI;
  const processes: BotProcess[] = [];
  const start = async (): Promise<BotProcess> => {
    const bot = await startBotProcess(world, { STT_IDLE_CLOSE_MS: '2000' });
    processes.push(bot);
    return bot;
  };

  beforeAll(async () => {
    world = await startWorld({});
    replayStt = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
  });

  afterAll(async () => {
    for (const bot of processes) {
      if (bot.child.exitCode === null && bot.child.signalCode === null) {
        bot.child.kill('SIGKILL');
        await bot.exited;
      }
    }
    await world?.close();
    await replayStt?.close();
  });

  it('posts its tracks, closed where the crash cut them, once, at /end after the restart; they replay to what was captioned', async () => {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const first = await start();
    await runCommand(standIn, { commandName: 'recording', userId: ids.katieId, options: subcommand('enable') });
    const from = standIn.requests.length;
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
    expect(joined.content).toContain('Recording and captioning');
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** '));

    first.child.kill('SIGKILL');
    await expect(first.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
    const guildDir = join(world.dataDir, 'recordings', ids.guildId);
    const [meetingDir = ''] = await readdir(guildDir);
    const tracks = (await readdir(join(guildDir, meetingDir))).sort();
    expect(tracks).toEqual([`01-Katie-${ids.katieId}.ogg`, `02-Steve-${ids.steveId}.ogg`].sort());
    // The crash left the tracks open: no end-of-stream page, no README.
    for (const name of tracks) expect(endsWithEos(await readFile(join(guildDir, meetingDir, name))), name).toBe(false);

    const restartedAt = standIn.requests.length;
    await start();
    await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⚠️ Parley restarted'));
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Ended the interrupted meeting #\d+; its transcript is posted in <#\d+>\.$/);
    const report = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⏹️ This meeting was interrupted'));
    const live = JSON.parse(report.files.find((f) => f.name === 'transcript.json')!.data.toString('utf8')) as TranscriptJson;
    const posted = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('🎙️ The recording'));
    expect(contentOf(posted)).toContain('2 tracks (Katie, Steve)');
    expect(posted.body).toMatchObject({ allowed_mentions: { parse: [] } });
    const files = new Map(posted.files.map((f) => [f.name, f.data]));
    expect([...files.keys()].sort()).toEqual(['README.txt', ...tracks].sort());
    const readme = files.get('README.txt')!.toString('utf8');
    expect(readme).toContain(`npm run replay -- --out out/ "Katie=01-Katie-${ids.katieId}.ogg" "Steve=02-Steve-${ids.steveId}.ogg"`);
    for (const name of tracks) {
      expect(endsWithEos(files.get(name)!), name).toBe(true);
      expect(files.get(name)!.equals(await readFile(join(guildDir, meetingDir, name))), name).toBe(true);
    }

    // Once: the meeting is finished, and a second /end posts nothing more.
    const again = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(again.content).toBe('Parley is not captioning anything in this server. Use /join to start.');
    expect(standIn.requests.slice(restartedAt).filter((r) => contentOf(r).startsWith('🎙️ The recording'))).toHaveLength(1);

    // The posted tracks replay, without a warning, to the captions said before the kill.
    const dir = await mkdtemp(join(tmpdir(), 'parley-recovered-'));
    try {
      for (const name of tracks) await writeFile(join(dir, name), files.get(name)!);
      const args = [...readme.matchAll(/"([^"=]+)=([^"]+)"/g)].map((m) => `${m[1]}=${m[2]}`);
      const { stderr } = await run(process.execPath, [CLI, '--speed', '20', '--no-recap', '--out', join(dir, 'out'), ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASSEMBLYAI_API_KEY: TEST_API_KEY, ASSEMBLYAI_STREAMING_URL: replayStt.url },
      });
      expect(stderr).toBe('');
      const replayed = JSON.parse(await readFile(join(dir, 'out', 'transcript.json'), 'utf8')) as TranscriptJson;
      expect(live.turns.length).toBeGreaterThanOrEqual(2);
      expect(textsBySpeaker(replayed)).toEqual(textsBySpeaker(live));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('posts the tracks when a new /join closes the interrupted meeting instead of /end', async () => {
    const { standIn } = world;
    const { left } = await twoSpeakers();
    const crashed = processes.at(-1)!;
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { record: true } });
    await standIn.memberSpeak(ids.katieId, left);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Katie:** '));
    crashed.child.kill('SIGKILL');
    await crashed.exited;

    const restartedAt = standIn.requests.length;
    await start();
    await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('⚠️ Parley restarted'));
    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(joined.content).toContain("The meeting interrupted by Parley's restart was closed");
    const posted = await waitForChannelPost(standIn, ids.textChannelId, restartedAt, (c) => c.startsWith('🎙️ The recording'));
    expect(contentOf(posted)).toContain('1 track (Katie)');
    const track = posted.files.find((f) => f.name === `01-Katie-${ids.katieId}.ogg`);
    expect(track).toBeDefined();
    expect(endsWithEos(track!.data)).toBe(true);
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\./);
    // The new meeting was not recorded; the interrupted one's recording was posted once.
    expect(standIn.requests.slice(restartedAt).filter((r) => contentOf(r).startsWith('🎙️ The recording'))).toHaveLength(1);
  }, 120_000);
});
