/**
 * Reading the bot's channel messages back from the REST requests the stand-in recorded.
 */
import { expect } from 'vitest';
import type { DiscordStandIn, RecordedRequest } from '../../fakes/discord/stand-in.ts';
import { allowedMentionsOf, contentOf, isMessageWrite } from './commands.ts';

/** Prefix of a partial (in-progress) line in the rolling live message; finals are `**Name:** text` lines above. */
export const PARTIAL_MARK = '🔴';
/** The live message's text while nobody speaks and it holds no final. */
export const LIVE_IDLE = '🎙️ *Listening…*';
/** What an idle live message says once captioning ended. */
export const LIVE_ENDED = '⏹️ *Captioning has ended.*';

/** Successful message creations (POST) and edits (PATCH) in one channel since `fromIndex`, in the order answered. */
export function channelWrites(standIn: DiscordStandIn, channelId: string, fromIndex = 0): RecordedRequest[] {
  const posts = `/channels/${channelId}/messages`;
  return standIn.requests
    .slice(fromIndex)
    .filter((r) => r.status === 200 && ((r.method === 'POST' && r.route === posts) || (r.method === 'PATCH' && r.route.startsWith(`${posts}/`))));
}

/** The id of the message a write created or edited. */
export function messageIdOf(write: RecordedRequest): string {
  return (write.responseBody as { id: string }).id;
}

/** Whether a message's content is (or shows) live text: a partial line, or the idle/ended live text. */
export function isLiveContent(content: string): boolean {
  return content === LIVE_IDLE || content === LIVE_ENDED || content.split('\n').some((line) => line.startsWith(PARTIAL_MARK));
}

/** The writes since `fromIndex` that showed live text (partials, or the idle live text). */
export function liveMessageWrites(standIn: DiscordStandIn, channelId: string, fromIndex = 0): RecordedRequest[] {
  return channelWrites(standIn, channelId, fromIndex).filter((w) => isLiveContent(contentOf(w)));
}

/** When the stand-in created or last edited the message a write returned (its own clock, ms). */
export function writtenAt(request: RecordedRequest): number {
  const message = request.responseBody as { timestamp: string; edited_timestamp: string | null };
  return Date.parse(request.method === 'PATCH' ? (message.edited_timestamp ?? '') : message.timestamp);
}

/** The messages created in the channel since `fromIndex` as their last write left them, oldest first. */
export function channelMessagesNow(standIn: DiscordStandIn, channelId: string, fromIndex = 0): Array<{ id: string; content: string }> {
  const messages = new Map<string, string>();
  for (const write of channelWrites(standIn, channelId, fromIndex)) {
    const id = messageIdOf(write);
    if (write.method === 'POST' || messages.has(id)) messages.set(id, contentOf(write));
  }
  return [...messages].map(([id, content]) => ({ id, content }));
}

/** A caption line's spoken text, without its `**Name:** ` prefix. */
export function textOf(line: string): string {
  return line.replace(/^\*\*[^*]+:\*\* /, '');
}

/**
 * Final caption lines (`**Name:** text`) in the messages posted in the channel since `fromIndex`, as the bot's
 * last write of each left them, in order. Partial lines (`🔴 …`) are not finals.
 */
export function captionLines(standIn: DiscordStandIn, channelId: string, fromIndex = 0): string[] {
  return channelMessagesNow(standIn, channelId, fromIndex)
    .flatMap(({ content }) => content.split('\n'))
    .filter((line) => /^\*\*[^*]+:\*\* /.test(line));
}

/**
 * Every message the bot created or edited (channel messages, interaction replies, their edits and follow-ups)
 * carried `allowed_mentions: { parse: [] }`, and the stand-in resolved no mention in any of them.
 */
export function expectNoMentionsAnywhere(standIn: DiscordStandIn): void {
  const writes = standIn.requests.filter(isMessageWrite);
  expect(writes.length).toBeGreaterThan(0);
  for (const write of writes) {
    expect({ route: write.route, allowed: allowedMentionsOf(write) }).toEqual({ route: write.route, allowed: { parse: [] } });
    const mentions = (write.responseBody as { mentions?: unknown[] } | undefined)?.mentions;
    if (mentions !== undefined) expect(mentions).toEqual([]);
  }
}

/** A message's content from each of its lines on: a final appended to the rolling message starts one of them. */
function fromAnyLine(content: string): string[] {
  const lines = content.split('\n');
  return lines.map((_, i) => lines.slice(i).join('\n'));
}

/**
 * Resolves with the first message write (a post, or an edit of the rolling caption message, which is where final
 * captions are appended) in the channel after request number `since` whose content, from any of its lines on, matches.
 */
export function waitForChannelPost(
  standIn: DiscordStandIn,
  channelId: string,
  since: number,
  matches: (content: string) => boolean,
  timeoutMs = 30_000,
): Promise<RecordedRequest> {
  return standIn.waitForRequest(
    (r) =>
      r.status === 200 &&
      ((r.method === 'POST' && r.route === `/channels/${channelId}/messages`) || (r.method === 'PATCH' && r.route.startsWith(`/channels/${channelId}/messages/`))) &&
      fromAnyLine(contentOf(r)).some(matches) &&
      standIn.requests.indexOf(r) >= since,
    { timeoutMs },
  );
}
