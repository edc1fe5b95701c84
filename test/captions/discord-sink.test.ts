/**
 * DiscordSink's rolling live message, over a CaptionChannel that keeps the channel's messages in order as Discord
 * does (the channel is Parley's boundary to Discord; the bot tests run the same sink over discord.js and the
 * Discord stand-in). Time is a virtual clock, so every interval is exact.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import {
  MAX_PENDING_LINES,
  MAX_PENDING_NOTICES,
  DiscordSink,
  ENDED_LIVE_TEXT,
  MESSAGE_CONTENT_LIMIT,
  PARTIAL_MARK,
  type CaptionChannel,
  type OutgoingMessage,
} from '../../src/captions/discord-sink.ts';
import type { Speaker } from '../../src/captions/caption.ts';

interface Write {
  kind: 'send' | 'edit';
  id: string;
  at: number;
  content: string;
  /** Whether the message written was the channel's newest when written. */
  newest: boolean;
}

/** A channel's messages in order, with what the sink wrote; `failNext` makes the next writes fail. */
class ChannelModel implements CaptionChannel {
  readonly messages: Array<{ id: string; content: string }> = [];
  readonly writes: Write[] = [];
  failNext: Array<Error & { code?: number }> = [];
  /** While set, sends wait for it (a write stays in flight). */
  hold: Promise<void> | undefined;
  readonly clock: VirtualClock;
  #nextId = 1;
  constructor(clock: VirtualClock) {
    this.clock = clock;
  }

  async send(message: OutgoingMessage): Promise<{ id: string }> {
    this.#check(message);
    await this.hold;
    const failure = this.failNext.shift();
    if (failure !== undefined) throw failure;
    const id = String(this.#nextId++);
    this.messages.push({ id, content: message.content });
    this.writes.push({ kind: 'send', id, at: this.clock.now(), content: message.content, newest: true });
    return { id };
  }

  async edit(messageId: string, message: OutgoingMessage): Promise<void> {
    this.#check(message);
    const failure = this.failNext.shift();
    if (failure !== undefined) throw failure;
    const found = this.messages.find((m) => m.id === messageId);
    if (found === undefined) throw Object.assign(new Error('Unknown Message'), { code: 10008, status: 404 });
    found.content = message.content;
    this.writes.push({ kind: 'edit', id: messageId, at: this.clock.now(), content: message.content, newest: this.messages.at(-1) === found });
  }

  /** Someone else posts in the channel (or deletes a message). */
  postByOther(content: string): void {
    this.messages.push({ id: String(this.#nextId++), content });
  }
  delete(id: string): void {
    this.messages.splice(this.messages.findIndex((m) => m.id === id), 1);
  }

  /** Final caption lines in the channel now, in order. */
  finalLines(): string[] {
    return this.messages.flatMap((m) => m.content.split('\n')).filter((line) => /^\*\*[^*]+:\*\* /.test(line));
  }

  #check(message: OutgoingMessage): void {
    expect(message.content.length).toBeGreaterThan(0);
    expect(message.content.length).toBeLessThanOrEqual(MESSAGE_CONTENT_LIMIT);
    expect(message.allowedMentions).toEqual({ parse: [] });
  }
}

/** Advances the clock in 100 ms steps, letting the channel's promises settle at each. */
async function run(clock: VirtualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    clock.advance(100);
    // A macrotask turn: the channel's promises settle, and the test's own timeout can still fire.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Closes the sink, advancing time until everything queued is written. */
async function finish(sink: DiscordSink, clock: VirtualClock): Promise<void> {
  let done = false;
  const closed = sink.close().then(() => {
    done = true;
  });
  for (let i = 0; i < 600 && !done; i++) await run(clock, 100);
  if (!done) throw new Error('the sink was still writing 60 s (virtual) after close');
  await closed;
}

function setup() {
  const clock = new VirtualClock();
  const channel = new ChannelModel(clock);
  const sink = new DiscordSink({ channel, clock, logger: silentLogger() });
  return { clock, channel, sink };
}

const katie: Speaker = { id: 'k', name: 'Katie' };
const steve: Speaker = { id: 's', name: 'Steve' };
const event = (speaker: Speaker, kind: 'partial' | 'final', text: string, turnId: string) => ({ kind, speaker, text, turnId, startMs: 0, endMs: 1 });

describe('DiscordSink: the live text is in the channel newest message', () => {
  it('keeps partials and finals in the newest message, each final once and in order, with no partial left behind', async () => {
    const { clock, channel, sink } = setup();
    const finals: string[] = [];
    // 40 turns, two speakers overlapping: partials grow word by word, then the final.
    for (let turn = 0; turn < 40; turn++) {
      const speaker = turn % 2 === 0 ? katie : steve;
      const words = Array.from({ length: 12 }, (_, i) => `w${turn}x${i}`);
      for (let i = 1; i <= words.length; i++) {
        sink.caption(event(speaker, 'partial', words.slice(0, i).join(' '), `t${turn}`));
        await run(clock, 200);
      }
      const text = `${words.join(' ')}.`;
      sink.caption(event(speaker, 'final', text, `t${turn}`));
      finals.push(`**${speaker.name}:** ${text}`);
      // A member chats in the channel now and then: Parley cannot see it, but its next message goes under it.
      if (turn === 13) sink.notice({ level: 'warning', text: 'Translations are slow right now.' });
    }
    await finish(sink, clock);
    // More than one message was needed (2,000 characters each), and a notice broke the rolling message once.
    expect(new Set(channel.writes.map((w) => w.id)).size).toBeGreaterThanOrEqual(4);
    expect(channel.writes.every((w) => w.newest)).toBe(true);
    expect(channel.finalLines()).toEqual(finals);
    expect(channel.messages.some((m) => m.content.includes(PARTIAL_MARK))).toBe(false);
    // The notice sits between the finals that came before it and those after.
    const noticeAt = channel.messages.findIndex((m) => m.content.startsWith('⚠️'));
    const before = channel.messages.slice(0, noticeAt).flatMap((m) => m.content.split('\n'));
    expect(before.at(-1)).toBe(finals[13]);
    // A final appears in the same write that removes its turn's partial.
    for (const write of channel.writes) {
      for (const line of write.content.split('\n').filter((l) => l.startsWith(PARTIAL_MARK))) {
        const turn = /w(\d+)x/.exec(line)?.[1];
        expect(write.content.includes(`w${turn}x11.`), line).toBe(false);
      }
    }
  });

  it('writes no faster than every 1.5 s, except the message that continues a frozen one', async () => {
    const { clock, channel, sink } = setup();
    for (let n = 0; n < 300; n++) {
      sink.caption(event(katie, 'partial', `said ${n} and more`, `t${n}`));
      await run(clock, 100);
      sink.caption(event(katie, 'final', `said ${n} and more words to fill the message faster than one line.`, `t${n}`));
    }
    await finish(sink, clock);
    const writes = channel.writes;
    for (let i = 1; i < writes.length; i++) {
      const gap = writes[i]!.at - writes[i - 1]!.at;
      if (gap < 1_500) {
        // Only a new message right after the previous one was frozen, and never two such in a row.
        expect(writes[i]!.kind).toBe('send');
        expect(i < 2 || writes[i - 1]!.at - writes[i - 2]!.at >= 1_500).toBe(true);
      }
    }
    expect(channel.finalLines()).toHaveLength(300);
  });

  it('re-creates a deleted live message and keeps writing the finals not yet shown, without repeating any', async () => {
    const { clock, channel, sink } = setup();
    sink.caption(event(katie, 'final', 'one.', 'a'));
    await run(clock, 2_000);
    channel.delete(channel.messages[0]!.id);
    sink.caption(event(katie, 'final', 'two.', 'b'));
    sink.caption(event(steve, 'partial', 'three', 'c'));
    await run(clock, 2_000);
    sink.caption(event(steve, 'final', 'three.', 'c'));
    await finish(sink, clock);
    expect(channel.finalLines()).toEqual(['**Katie:** two.', '**Steve:** three.']);
    expect(channel.writes.every((w) => w.newest)).toBe(true);
  });

  it('keeps its queues bounded while Discord is away, dropping the oldest but never what a write under way took', async () => {
    const { clock, channel, sink } = setup();
    let release = () => {};
    channel.hold = new Promise<void>((resolve) => (release = resolve));
    sink.caption(event(katie, 'final', 'first.', 'a'));
    await run(clock, 100); // the first line is in flight
    const later = Array.from({ length: MAX_PENDING_LINES + 5 }, (_, i) => `line ${i}.`);
    later.forEach((text, i) => sink.caption(event(katie, 'final', text, `l${i}`)));
    const notices = Array.from({ length: MAX_PENDING_NOTICES + 10 }, (_, i) => `notice ${i}`);
    for (const text of notices) sink.notice({ level: 'info', text });
    channel.hold = undefined;
    release();
    await run(clock, 150_000); // a message per notice, at most one write every 1.5 s
    await finish(sink, clock);
    expect(channel.finalLines()).toEqual(['**Katie:** first.', ...later.slice(6).map((t) => `**Katie:** ${t}`)]);
    const posted = channel.messages.map((m) => m.content).filter((c) => c.startsWith('ℹ️ notice'));
    expect(posted).toEqual(notices.slice(10).map((t) => `ℹ️ ${t}`));
    expect(sink.counts.dropped).toBe(6 + 10);
  });

  it('retries a failed write with backoff and posts each final exactly once', async () => {
    const { clock, channel, sink } = setup();
    channel.failNext = [Object.assign(new Error('Internal Server Error'), { status: 500 }), Object.assign(new Error('Internal Server Error'), { status: 500 })];
    sink.caption(event(katie, 'final', 'one.', 'a'));
    await run(clock, 1_000);
    sink.caption(event(katie, 'final', 'two.', 'b'));
    await run(clock, 20_000);
    await finish(sink, clock);
    expect(sink.counts.failures).toBe(2);
    expect(channel.finalLines()).toEqual(['**Katie:** one.', '**Katie:** two.']);
  });

  it('turns a partial-only live message into the notice, and marks an idle one as ended', async () => {
    const { clock, channel, sink } = setup();
    sink.caption(event(katie, 'partial', 'hello', 'a'));
    await run(clock, 2_000);
    sink.notice({ level: 'info', text: 'Katie **joined**' });
    await run(clock, 2_000);
    // Katie is still speaking: her partial moves under the notice.
    expect(channel.messages.map((m) => m.content)).toEqual(['ℹ️ Katie \\*\\*joined\\*\\*', `${PARTIAL_MARK} **Katie:** hello`]);
    sink.caption(event(katie, 'final', 'hello there.', 'a'));
    await run(clock, 2_000);
    sink.clearSpeaker(katie.id);
    await finish(sink, clock);
    expect(channel.messages.map((m) => m.content)).toEqual(['ℹ️ Katie \\*\\*joined\\*\\*', '**Katie:** hello there.']);
    const other = setup();
    other.sink.caption(event(katie, 'partial', 'hm', 'a'));
    await run(other.clock, 2_000);
    other.sink.clearSpeaker(katie.id);
    await run(other.clock, 2_000);
    await finish(other.sink, other.clock);
    expect(other.channel.writes.map((w) => w.content)).toEqual([`${PARTIAL_MARK} **Katie:** hm`, '🎙️ *Listening…*', ENDED_LIVE_TEXT]);
  });

  it('shows about two lines of a long partial: the newest words', async () => {
    const { clock, channel, sink } = setup();
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`);
    sink.caption(event(katie, 'partial', words.join(' '), 'a'));
    await run(clock, 2_000);
    const shown = channel.messages[0]!.content;
    expect(shown.startsWith(`${PARTIAL_MARK} **Katie:** …`)).toBe(true);
    expect(shown.endsWith('word58 word59')).toBe(true);
    expect(shown.length).toBeLessThan(120);
    await finish(sink, clock);
  });

  it('posts a long notice and a long caption whole, across messages within the content limit', async () => {
    const { clock, channel, sink } = setup();
    const words = (n: number, w: string) => Array.from({ length: n }, (_, i) => `${w}${i}`).join(' ');
    const noticeText = words(600, 'reason');
    sink.notice({ level: 'error', text: noticeText });
    const captionText = words(700, 'said');
    sink.caption({ kind: 'final', speaker: { id: 'u', name: 'Katie' }, turnId: 't', startMs: 0, endMs: 1, text: captionText });
    await finish(sink, clock);
    const all = channel.messages.map((m) => m.content).join(' ');
    for (const word of [...noticeText.split(' '), ...captionText.split(' ')]) expect(all).toContain(word);
    expect(channel.messages.length).toBeGreaterThanOrEqual(4);
  });
});
