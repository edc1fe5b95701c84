/**
 * Discord answering 429 (rate limited, with Retry-After) to writes of the rolling caption message, through the
 * real discord.js REST queue: finals that arrive while a write is held back are appended together in the next
 * one, each exactly once, instead of queueing a request per final; the live text stays in the newest message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { PARTIAL_MARK, captionLines, channelMessagesNow, channelWrites, isLiveContent, messageIdOf, writtenAt } from './support/messages.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';

const ids = DEFAULT_IDS;

/** A message write carrying at least one final caption line (`**Name:** text`). */
function hasFinal(body: unknown): boolean {
  return /^\*\*[^*]+:\*\* /m.test((body as { content?: string } | undefined)?.content ?? '');
}

describe('Discord rate-limiting the caption channel', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('appends finals held back by 429s together, each exactly once and in order, and keeps the live text in the newest message', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    // The first write carrying a final is refused three times (3 s), and the next two edits once each.
    const channelMessages = `/channels/${ids.textChannelId}/messages`;
    standIn.rateLimitNext((r) => r.route.startsWith(channelMessages) && (r.method === 'POST' || r.method === 'PATCH') && hasFinal(r.body), { retryAfterS: 1, count: 3 });
    standIn.rateLimitNext(`PATCH /channels/${ids.textChannelId}/messages/:id`, { retryAfterS: 1, count: 2 });

    await Promise.all([standIn.memberSpeak(ids.katieId, withPauses(left, 800, 300)), standIn.memberSpeak(ids.steveId, withPauses(right, 800, 300))]);
    const sessions = await closedSessions(stt, sessionsBefore, 2);
    const finals = sessions.flatMap(finalsOf);
    expect(finals.length).toBeGreaterThanOrEqual(5);
    await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    // Once everyone is quiet, the live message shows finals only.
    await standIn.waitForRequest(() => !isLiveContent(contentOf(channelWrites(standIn, ids.textChannelId, from).at(-1)!)));
    const beforeEnd = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });

    const requests = standIn.requests.slice(from, beforeEnd);
    const limited = requests.filter((r) => r.route.startsWith(channelMessages) && r.status === 429);
    expect(limited).toHaveLength(5);

    // Every final exactly once, each session's in order; a burst went out in fewer writes than finals.
    const lines = captionLines(standIn, ids.textChannelId, from);
    expect(lines.map((line) => line.replace(/^\*\*(Katie|Steve):\*\* /, '')).sort()).toEqual([...finals].sort());
    for (const session of sessions) {
      const own = finalsOf(session);
      expect(lines.map((line) => line.replace(/^\*\*(Katie|Steve):\*\* /, '')).filter((text) => own.includes(text))).toEqual(own);
    }
    const writes = channelWrites(standIn, ids.textChannelId, from).filter((w) => standIn.requests.indexOf(w) < beforeEnd);
    const finalWrites = writes.filter((w) => hasFinal(w.body));
    let shown = 0;
    let growing = 0;
    for (const write of finalWrites) {
      const count = contentOf(write).split('\n').filter((l) => /^\*\*[^*]+:\*\* /.test(l)).length;
      if (write.method === 'POST' || count > shown) growing++;
      shown = count;
    }
    expect(growing).toBeLessThan(finals.length);
    // Not a request per final: only the refused write was retried, with the same content each time.
    expect(new Set(limited.slice(0, 3).map(contentOf)).size).toBe(1);

    // The live text: always in the newest message, written no faster than every 1.5 s except right after a freeze.
    let newest = '';
    for (const write of writes) {
      if (write.method === 'POST') newest = messageIdOf(write);
      else expect(messageIdOf(write)).toBe(newest);
    }
    for (let i = 1; i < writes.length; i++) {
      if (writtenAt(writes[i]!) - writtenAt(writes[i - 1]!) < 1_500) expect(writes[i]!.method).toBe('POST');
    }
    expect(channelMessagesNow(standIn, ids.textChannelId, from).some((m) => m.content.includes(PARTIAL_MARK))).toBe(false);
    expect(stt.violations).toEqual([]);
  });
});
