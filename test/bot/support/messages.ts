/**
 * Reading the bot's channel messages back from the REST requests the stand-in recorded.
 */
import { expect } from 'vitest';
import type { DiscordStandIn, RecordedRequest } from '../../fakes/discord/stand-in.ts';
import { allowedMentionsOf, contentOf, isMessageWrite } from './commands.ts';

/** Prefix of the live caption message (partials) while someone speaks, and when nobody does. */
export const LIVE_HEADER = '🔴 **Live**';
const LIVE_IDLE = '🎙️ *Listening…*';

/** The live message's writes in one channel since `fromIndex`: its creating POST, then the PATCHes of that message. */
export function liveMessageWrites(standIn: DiscordStandIn, channelId: string, fromIndex = 0): RecordedRequest[] {
  const requests = standIn.requests.slice(fromIndex);
  const post = requests.find(
    (r) => r.method === 'POST' && r.route === `/channels/${channelId}/messages` && r.status === 200 && (contentOf(r).startsWith(LIVE_HEADER) || contentOf(r) === LIVE_IDLE),
  );
  if (post === undefined) return [];
  const id = (post.responseBody as { id: string }).id;
  return [post, ...requests.filter((r) => r.method === 'PATCH' && r.route === `/channels/${channelId}/messages/${id}`)];
}

/** When the stand-in created or last edited the message a write returned (its own clock, ms). */
export function writtenAt(request: RecordedRequest): number {
  const message = request.responseBody as { timestamp: string; edited_timestamp: string | null };
  return Date.parse(request.method === 'PATCH' ? (message.edited_timestamp ?? '') : message.timestamp);
}

/** Final caption lines (`**Name:** text`) posted in the channel since `fromIndex`, in order. */
export function captionLines(standIn: DiscordStandIn, channelId: string, fromIndex = 0): string[] {
  return standIn.requests
    .slice(fromIndex)
    .filter((r) => r.method === 'POST' && r.route === `/channels/${channelId}/messages` && r.status === 200)
    .map(contentOf)
    .filter((content) => !content.startsWith(LIVE_HEADER) && content !== LIVE_IDLE && /^\*\*[^*]+:\*\* /.test(content))
    .flatMap((content) => content.split('\n'));
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

/** Resolves with the first message POSTed to the channel after request number `since` whose content matches. */
export function waitForChannelPost(
  standIn: DiscordStandIn,
  channelId: string,
  since: number,
  matches: (content: string) => boolean,
  timeoutMs = 30_000,
): Promise<RecordedRequest> {
  return standIn.waitForRequest(
    (r) => r.method === 'POST' && r.route === `/channels/${channelId}/messages` && matches(contentOf(r)) && standIn.requests.indexOf(r) >= since,
    { timeoutMs },
  );
}
