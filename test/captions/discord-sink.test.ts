/**
 * DiscordSink's message limits, over a CaptionChannel that records what would be sent (the channel is Parley's
 * boundary to Discord; the bot tests cover the same sink over discord.js and the Discord stand-in).
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { DiscordSink, MESSAGE_CONTENT_LIMIT, type CaptionChannel, type OutgoingMessage } from '../../src/captions/discord-sink.ts';

function recordingChannel() {
  const sent: OutgoingMessage[] = [];
  const channel: CaptionChannel = {
    send: async (message) => {
      sent.push(message);
      return { id: String(sent.length) };
    },
    edit: async () => {},
  };
  return { sent, channel };
}

describe('DiscordSink', () => {
  it('posts a long notice and a long caption whole, across messages within the content limit', async () => {
    const { sent, channel } = recordingChannel();
    const sink = new DiscordSink({ channel, clock: new VirtualClock(), logger: silentLogger() });
    const words = (n: number, w: string) => Array.from({ length: n }, (_, i) => `${w}${i}`).join(' ');
    const noticeText = words(600, 'reason');
    sink.notice({ level: 'error', text: noticeText });
    const captionText = words(700, 'said');
    sink.caption({ kind: 'final', speaker: { id: 'u', name: 'Katie' }, turnId: 't', startMs: 0, endMs: 1, text: captionText });
    await sink.close();
    expect(sent.every((m) => m.content.length <= MESSAGE_CONTENT_LIMIT && m.allowedMentions.parse.length === 0)).toBe(true);
    const all = sent.map((m) => m.content).join(' ');
    for (const word of [...noticeText.split(' '), ...captionText.split(' ')]) expect(all).toContain(word);
    expect(sent.length).toBeGreaterThanOrEqual(4);
  });
});
