/**
 * The AssemblyAI faults of test/replay/faults.test.ts through the real bot on the system clock: a member speaks
 * a few seconds of katiesteve.wav, the fake AssemblyAI (300 ms before `Begin`, 200 ms before `Termination`) fails,
 * and /end follows at once. The meeting's final captions must span as much speech as a fault-free replay of the
 * same audio captions (replay and bot agree), nothing twice, and every session the service did not end itself
 * got `Terminate`.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { CLOSE, startFakeAssemblyAI, type AudioFault } from '../fakes/assemblyai-server.ts';
import { readAudioFile } from '../../src/replay/audio-file.ts';
import { encodeDiscordOpus, type TimedOpusPacket } from '../../src/replay/discord-opus.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import { writeExcerpt } from '../support/excerpt.ts';
import { expectAsMuchSpeechCaptioned, expectEverySessionTerminated, finalsSent, runReplayCli, type TranscriptTurn } from '../support/stt-fault-checks.ts';
import { startWorld } from './support/world.ts';
import { startInProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';

const ids = DEFAULT_IDS;
/** Ends turns at the 0.9 s pauses between Katie's and Steve's lines (the same setting as the replay tests). */
const ENV = { STT_MAX_TURN_SILENCE_MS: '600' };
/** Slack on turn edges, ms: Discord packets arrive with network jitter, which replay's exact times do not have. */
const EDGE_MS = 150;

interface BotFaultCase {
  name: string;
  faults?: AudioFault[];
  refuse3009?: number[];
  endedByService: number[];
}

const CASES: BotFaultCase[] = [
  { name: 'a TCP drop near the end of the speech', faults: [{ kind: 'drop', session: 0, afterAudioMs: 4_300 }], endedByService: [0] },
  { name: '3009 for the first session', refuse3009: [0], endedByService: [] },
];

describe('the bot on the system clock when AssemblyAI fails', () => {
  let packets: TimedOpusPacket[] = [];
  let baseline: TranscriptTurn[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-excerpts-'));
    const file = await writeExcerpt('katiesteve.wav', 0, 4.5, dir);
    packets = await encodeDiscordOpus(await readAudioFile(file));
    const server = await startFakeAssemblyAI({ apiKey: TEST_API_KEY, maxAudioAheadMs: null });
    try {
      const run = await runReplayCli({ file, url: server.url, speed: 20, env: ENV, killMs: 60_000 });
      expect(run.code, run.stderr).toBe(0);
      baseline = run.turns;
    } finally {
      await server.close();
    }
  }, 90_000);

  it.each(CASES)('$name: the whole transcript, every session terminated', async (c) => {
    const world = await startWorld({
      stt: {
        beginDelayMs: 300,
        terminationDelayMs: 200,
        ...(c.faults === undefined ? {} : { audioFaults: c.faults }),
        onConnection: ({ index }) => (c.refuse3009?.includes(index) === true ? { code: CLOSE.tooManySessions, error: 'Too many concurrent sessions' } : undefined),
      },
    });
    const bot = await startInProcessBot(world, ENV);
    try {
      const { standIn, stt } = world;
      const from = standIn.requests.length;
      await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
      await standIn.memberSpeak(ids.katieId, packets);
      const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
      expect(ended.content).toMatch(/^Captioning ended\. \d+ captions?; the transcript is posted in/);
      const report = await waitForChannelPost(standIn, ids.textChannelId, from, (content) => content.startsWith('⏹️ Captioning has ended.'), 60_000);
      const file = report.files.find((f) => f.name === 'transcript.json');
      const turns = (JSON.parse(file?.data.toString('utf8') ?? '{"turns":[]}') as { turns: TranscriptTurn[] }).turns;
      expect(contentOf(report)).toContain(`${turns.length} caption`);

      expect(stt.sessions.length).toBeGreaterThanOrEqual(2); // the fault happened
      expect(stt.violations).toEqual([]);
      // Live meeting times follow packet arrival (a busy machine delays some), so spans are compared, not times.
      expectAsMuchSpeechCaptioned(turns, baseline, EDGE_MS);
      const finals = finalsSent(stt);
      for (const turn of turns) expect(finals, turn.text).toContain(turn.text);
      await expectEverySessionTerminated(stt, c.endedByService);
    } finally {
      await bot.stop();
      await world.close();
    }
  }, 120_000);
});
