/**
 * Discord answering 429 (rate limited, with Retry-After) to caption posts and live-message edits, through the
 * real discord.js REST queue: finals that arrive while a post is held back are coalesced into the next message,
 * each exactly once, instead of queueing a request per final; the live message keeps showing the newest state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import { LIVE_HEADER, captionLines, liveMessageWrites, writtenAt } from './support/messages.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer, waitForCaptionLines } from './support/turns.ts';

const ids = DEFAULT_IDS;
const LIVE_IDLE = '🎙️ *Listening…*';
const LIVE_ENDED = '⏹️ *Captioning has ended.*';

/** A message write whose body is a final caption (`**Name:** text`). */
function isCaptionBody(body: unknown): boolean {
  return /^\*\*[^*]+:\*\* /.test((body as { content?: string } | undefined)?.content ?? '');
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

  it('coalesces finals held back by 429s into fewer messages, each final exactly once, and keeps the live message current', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    // The first caption post is refused three times (3 s), and the first two live-message edits once each.
    const captionPost = `/channels/${ids.textChannelId}/messages`;
    standIn.rateLimitNext((r) => r.method === 'POST' && r.route === captionPost && isCaptionBody(r.body), { retryAfterS: 1, count: 3 });
    standIn.rateLimitNext(`PATCH /channels/${ids.textChannelId}/messages/:id`, { retryAfterS: 1, count: 2 });

    await Promise.all([standIn.memberSpeak(ids.katieId, withPauses(left, 800, 300)), standIn.memberSpeak(ids.steveId, withPauses(right, 800, 300))]);
    const finals = (await closedSessions(stt, sessionsBefore, 2)).flatMap(finalsOf);
    expect(finals.length).toBeGreaterThanOrEqual(5);
    const lines = await waitForCaptionLines(standIn, ids.textChannelId, from, finals.length);
    // Once everyone is quiet, the live message says so.
    const lastLiveWrite = () => liveMessageWrites(standIn, ids.textChannelId, from).filter((w) => w.status === 200).at(-1);
    await standIn.waitForRequest(() => lastLiveWrite() !== undefined && contentOf(lastLiveWrite()!) === LIVE_IDLE);
    const beforeEnd = standIn.requests.length;
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });

    const requests = standIn.requests.slice(from);
    const limitedPosts = requests.filter((r) => r.method === 'POST' && r.route === captionPost && r.status === 429);
    const limitedEdits = requests.filter((r) => r.method === 'PATCH' && r.status === 429);
    expect(limitedPosts).toHaveLength(3);
    expect(limitedEdits).toHaveLength(2);

    // Every final exactly once, in fewer messages than finals; the wait's backlog went out as one message.
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.map((line) => line.replace(/^\*\*(Katie|Steve):\*\* /, '')).sort()).toEqual([...finals].sort());
    const captionMessages = requests.filter((r) => r.method === 'POST' && r.route === captionPost && r.status === 200 && isCaptionBody(r.body));
    expect(captionMessages.length).toBeLessThan(finals.length);
    expect(Math.max(...captionMessages.map((r) => contentOf(r).split('\n').length))).toBeGreaterThanOrEqual(3);
    // Not a request per final: each final was sent in one message, and only the first was retried.
    const attempts = requests.filter((r) => r.method === 'POST' && r.route === captionPost && isCaptionBody(r.body));
    expect(attempts.length).toBe(captionMessages.length + limitedPosts.length);
    expect(new Set(limitedPosts.map(contentOf)).size).toBe(1);

    // The live message: still one message, edited no faster than every 1.5 s, and its last edits are current.
    const writes = liveMessageWrites(standIn, ids.textChannelId, from).filter((w) => w.status === 200);
    for (let i = 1; i < writes.length; i++) expect(writtenAt(writes[i]!) - writtenAt(writes[i - 1]!)).toBeGreaterThanOrEqual(1_500);
    const beforeEndWrites = writes.filter((w) => standIn.requests.indexOf(w) < beforeEnd);
    expect(contentOf(beforeEndWrites.at(-1)!)).toBe(LIVE_IDLE);
    expect(contentOf(writes.at(-1)!)).toBe(LIVE_ENDED);
    expect(beforeEndWrites.some((w) => contentOf(w).startsWith(LIVE_HEADER))).toBe(true);
    expect(captionLines(standIn, ids.textChannelId, from)).toHaveLength(finals.length);
    expect(stt.violations).toEqual([]);
  });
});

