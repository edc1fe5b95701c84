/**
 * Forty members talking at once through the real bot: encrypted RTP from the Discord stand-in, the real
 * @discordjs/voice receive path, one Opus decoder per speaker (issue: opusscript's shared heap stopped decoding
 * from the 29th speaker on, silently). Each member must get an AssemblyAI session of their own that received
 * their whole speech, and a caption under their own name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultGuildSpec, DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { sessionTaggingRecognizer, startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { captionLines } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { referenceDecode, samplesOf } from '../support/pipeline-harness.ts';

const ids = DEFAULT_IDS;
const MEMBERS = 40;
/** Samples that are not digital silence. */
function nonZero(samples: Int16Array): number {
  let count = 0;
  for (const x of samples) if (x !== 0) count++;
  return count;
}

const memberId = (i: number) => `13090000000000${String(4000 + i).padStart(5, '0')}`;

describe('forty members talking at once', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.members = [
      ...(guild.members ?? []),
      ...Array.from({ length: MEMBERS }, (_, i) => ({ id: memberId(i), username: `member${i}`, globalName: `Member ${i}`, voiceChannelId: ids.voiceChannelId })),
    ];
    world = await startWorld({ stt: { recognizer: sessionTaggingRecognizer }, standIn: { guilds: [guild] } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '60000' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('each reaches an AssemblyAI session of their own with their whole speech, and is captioned by name', { timeout: 180_000 }, async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const speechOf = (i: number) => (i % 2 === 0 ? left : right);
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await Promise.all(Array.from({ length: MEMBERS }, (_, i) => standIn.memberSpeak(memberId(i), speechOf(i))));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });

    const sessions = stt.sessions.slice(sessionsBefore);
    expect(sessions).toHaveLength(MEMBERS);
    const lines = captionLines(standIn, ids.textChannelId, from);
    for (let i = 0; i < MEMBERS; i++) {
      // The recognizer names the session that heard the words; the caption names the member it belongs to.
      const line = lines.find((l) => l.startsWith(`**Member ${i}:** `));
      expect(line, `Member ${i} captioned`).toBeDefined();
      const index = Number(/session(\d+)/i.exec(line ?? '')?.[1]);
      const session = stt.sessions[index];
      expect(session, `Member ${i}'s session`).toBeDefined();
      // Their whole speech reached it. Counted as decoded (non-zero) samples: every Opus packet lost on the way
      // (a UDP receive buffer that overflowed, a decoder that failed) takes 320 of them away, while the pauses
      // Parley inserts when its event loop stalls on a busy machine are zeros and change nothing.
      const expected = nonZero(referenceDecode(speechOf(i), speechOf(i).at(-1)!.atMs));
      const received = nonZero(samplesOf(session!.pcm()));
      expect(received / expected, `Member ${i}: share of their decoded speech received`).toBeGreaterThanOrEqual(0.99);
      expect(received / expected, `Member ${i}: no audio but theirs`).toBeLessThanOrEqual(1.01);
    }
    // No two members share a session.
    const used = new Set(lines.map((l) => /session(\d+)/i.exec(l)?.[1]).filter((x) => x !== undefined));
    expect(used.size).toBe(MEMBERS);
  });
});
