/**
 * Captions as Discord receives them: the real bot (discord.js, @discordjs/voice, the caption pipeline) against the
 * stand-in's REST and voice servers and the fake AssemblyAI server. Assertions are on the REST requests the
 * stand-in recorded: the start notice, the live message and its throttled edits, final captions with display
 * names, batching, and allowed_mentions on every message.
 */
import type { TextChannel } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { createVoicedRunRecognizer, type FakeAssemblyAIOptions, type FakeSession } from '../fakes/assemblyai-server.ts';
import { DiscordSink } from '../../src/captions/discord-sink.ts';
import { captionChannelOf } from '../../src/meeting/meeting.ts';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import type { Speaker } from '../../src/captions/caption.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { contentOf, runCommand } from './support/commands.ts';
import {
  LIVE_ENDED,
  PARTIAL_MARK,
  captionLines,
  channelMessagesNow,
  channelWrites,
  expectNoMentionsAnywhere,
  isLiveContent,
  liveMessageWrites,
  messageIdOf,
  waitForChannelPost,
  writtenAt,
} from './support/messages.ts';
import { finalsOf } from './support/turns.ts';
import { sessionThatHeard, twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;
/** The sink's least gap between two writes to the channel, ms (DiscordSink's default). */
const LIVE_EDIT_INTERVAL_MS = 1_500;

type Recognizer = NonNullable<FakeAssemblyAIOptions['recognizer']>;

/** One word per voiced run, tagged with the session: `s3speech2` is the second word session 3 heard in a turn. */
const voicedRuns = createVoicedRunRecognizer({ thresholdDbfs: -45 });
const taggedWords: Recognizer = (input) => voicedRuns(input).map((word) => ({ ...word, text: `s${input.session.index}${word.text}` }));

/** The session tags of every word of a caption text. */
function sessionTags(text: string): number[] {
  return [...text.matchAll(/s(\d+)speech\d+/gi)].map((match) => Number(match[1]));
}

/** The partial transcripts a session sent, in order. */
function partialsOf(session: FakeSession): string[] {
  return session.sentMessages.filter((m) => m['type'] === 'Turn' && m['end_of_turn'] === false).map((m) => String(m['transcript']));
}

describe('captions in the channel, through discord.js and the stand-in', () => {
  let world: World;
  let bot: InProcessBot;
  let recognizer: Recognizer = taggedWords;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: (input) => recognizer(input) } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('posts the start notice, keeps the live text in the newest message while people speak, and posts each final once under display names', async () => {
    const { standIn, stt } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;

    const joined = await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    expect(joined.ephemeral).toBe(true);
    expect(joined.content).toContain(`Captioning <#${ids.voiceChannelId}> in <#${ids.textChannelId}>. Use /end to stop.`);
    const notice = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('ℹ️'));
    expect(contentOf(notice)).toContain(`Captioning <#${ids.voiceChannelId}>, started by <@${ids.katieId}>.`);
    expect(contentOf(notice)).toContain('AssemblyAI');
    expect(contentOf(notice)).toContain('/optout');

    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const finalOf = (name: string) => waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith(`**${name}:** S`));
    await Promise.all([finalOf('Katie'), finalOf('Steve')]);
    const endFrom = standIn.requests.length;
    const ended = await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    expect(ended.content).toMatch(/^Captioning ended\. \d+ captions?; the transcript is posted in/);

    // Whose speech each session received, from the audio itself.
    const sessions = stt.sessions.slice(sessionsBefore);
    const sessionOf: Record<string, FakeSession> = { Katie: sessionThatHeard(sessions, left), Steve: sessionThatHeard(sessions, right) };

    // Finals: "**Name:** text", exactly the finals that member's session sent, each once, in order.
    const lines = captionLines(standIn, ids.textChannelId, from);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const name of ['Katie', 'Steve'] as const) {
      const mine = lines.filter((l) => l.startsWith(`**${name}:** `)).map((l) => l.slice(`**${name}:** `.length));
      expect(mine).toEqual(finalsOf(sessionOf[name]!));
    }
    expect(lines.every((l) => /^\*\*(Katie|Steve):\*\* /.test(l))).toBe(true);

    // Every write while people spoke went to the channel's newest message (the one most recently created there).
    const writes = channelWrites(standIn, ids.textChannelId, from).filter((w) => standIn.requests.indexOf(w) < endFrom);
    let newest = '';
    let edits = 0;
    for (const write of writes) {
      if (write.method === 'POST') newest = messageIdOf(write);
      else {
        expect(messageIdOf(write), contentOf(write)).toBe(newest);
        edits++;
      }
    }
    expect(edits).toBeGreaterThanOrEqual(2);
    // Writes are at least 1.5 s apart, except a new message right after the previous one was frozen.
    for (let i = 1; i < writes.length; i++) {
      if (writtenAt(writes[i]!) - writtenAt(writes[i - 1]!) < LIVE_EDIT_INTERVAL_MS) expect(writes[i]!.method).toBe('POST');
    }
    // Each speaker's partial line shows the newest words of a partial their own session sent, never an older one.
    const shownAt = { Katie: 0, Steve: 0 };
    let partialLines = 0;
    for (const write of writes) {
      for (const line of contentOf(write).split('\n').filter((l) => l.startsWith(PARTIAL_MARK))) {
        const [, name = '', text = ''] = /^🔴 \*\*(Katie|Steve):\*\* (?:…)?(.+)$/.exec(line) ?? [];
        const speaker = name as keyof typeof shownAt;
        expect(name, line).not.toBe('');
        const partials = partialsOf(sessionOf[speaker]!);
        const at = partials.findIndex((p, i) => i >= shownAt[speaker] && p.endsWith(text));
        expect(at, `"${text}" is not the end of a partial of ${name}'s session at or after #${shownAt[speaker]}`).toBeGreaterThanOrEqual(0);
        shownAt[speaker] = at;
        partialLines++;
      }
    }
    expect(partialLines).toBeGreaterThan(0);
    // Once captioning ended no partial is left anywhere.
    expect(channelMessagesNow(standIn, ids.textChannelId, from).some((m) => isLiveContent(m.content) && m.content !== LIVE_ENDED)).toBe(false);
    expect(stt.violations).toEqual([]);
  });

  it('shows only the newest partial after a throttled wait, appends a burst of finals in one edit, and drops the partial at close', async () => {
    const { standIn } = world;
    const channel = bot.bot.client.channels.cache.get(ids.textChannelId) as TextChannel;
    const sink = new DiscordSink({ channel: captionChannelOf(channel), clock: systemClock, logger: silentLogger() });
    const katie: Speaker = { id: ids.katieId, name: 'Katie' };
    const steve: Speaker = { id: ids.steveId, name: 'Steve' };
    const event = (speaker: Speaker, kind: 'partial' | 'final', text: string, turn: string) => ({ kind, speaker, text, turnId: turn, startMs: 0, endMs: 1 });
    const from = standIn.requests.length;

    for (const text of ['alpha', 'alpha beta', 'alpha beta gamma']) sink.caption(event(steve, 'partial', text, 'steve-1'));
    const created = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith(PARTIAL_MARK));
    for (const text of ['delta', 'delta epsilon']) sink.caption(event(steve, 'partial', text, 'steve-2'));
    for (let n = 1; n <= 6; n++) sink.caption(event(katie, 'final', `line ${n}`, `katie-${n}`));
    await sink.flushed();
    await sink.close();

    const finals = [1, 2, 3, 4, 5, 6].map((n) => `**Katie:** line ${n}`).join('\n');
    expect(contentOf(created)).toBe('🔴 **Steve:** alpha beta gamma');
    const writes = channelWrites(standIn, ids.textChannelId, from);
    expect(writes.map(contentOf)).toEqual(['🔴 **Steve:** alpha beta gamma', `${finals}\n🔴 **Steve:** delta epsilon`, finals]);
    expect(writes.slice(1).every((w) => w.method === 'PATCH' && messageIdOf(w) === messageIdOf(created))).toBe(true);
    expect(writtenAt(writes[1]!) - writtenAt(writes[0]!)).toBeGreaterThanOrEqual(LIVE_EDIT_INTERVAL_MS);
    expect(captionLines(standIn, ids.textChannelId, from)).toEqual(finals.split('\n'));
  });

  it('pings no one: a caption saying @everyone, @here and <@id> shows them as text, with allowed_mentions parse []', async () => {
    const { standIn } = world;
    const { right } = await twoSpeakers();
    const said = ['hey', '@everyone', '@here', `<@${ids.katieId}>`, `<@&${ids.botRoleId}>`];
    recognizer = ({ startMs, endMs }) => said.map((text, i) => ({ text, start: startMs + ((endMs - startMs) * i) / said.length, end: startMs + ((endMs - startMs) * (i + 1)) / said.length }));
    try {
      const from = standIn.requests.length;
      await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
      await standIn.memberSpeak(ids.steveId, right);
      const final = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** Hey'));
      await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
      expect(contentOf(final)).toBe(`**Steve:** Hey @\u200beveryone @\u200bhere <@\u200b${ids.katieId}> <@&\u200b${ids.botRoleId}>.`);
      expect(final.body).toMatchObject({ allowed_mentions: { parse: [] } });
      expect(final.responseBody).toMatchObject({ mentions: [], mention_everyone: false });
      const live = liveMessageWrites(standIn, ids.textChannelId, from);
      expect(live.some((w) => contentOf(w).includes('@\u200beveryone'))).toBe(true);
    } finally {
      recognizer = taggedWords;
    }
    // Every message of this file: notices, live edits, finals, transcripts and interaction replies.
    expectNoMentionsAnywhere(standIn);
  });
});
