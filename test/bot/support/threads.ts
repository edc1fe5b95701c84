/**
 * The bot's translation threads, read back from the REST requests the stand-in recorded: the threads it created
 * under a channel, and the translated captions it posted in each (`**Name:** translation` then `-# original`).
 */
import type { DiscordStandIn, RecordedRequest } from '../../fakes/discord/stand-in.ts';
import { contentOf } from './commands.ts';

/** A thread the bot created. */
export interface CreatedThread {
  id: string;
  name: string;
  request: RecordedRequest;
}

/** The threads the bot created under `channelId` since request `from` (POST /channels/:id/threads). */
export function threadsCreated(standIn: DiscordStandIn, channelId: string, from = 0): CreatedThread[] {
  return standIn.requests
    .slice(from)
    .filter((r) => r.method === 'POST' && r.route === `/channels/${channelId}/threads`)
    .map((request) => ({ id: (request.responseBody as { id: string }).id, name: (request.body as { name: string }).name, request }));
}

/**
 * The messages the bot posted in a thread since request `from`, each as the last write (its post, or the latest
 * edit: translations are appended to the thread's newest message) left it, oldest first.
 */
export function threadPosts(standIn: DiscordStandIn, threadId: string, from = 0): RecordedRequest[] {
  const latest = new Map<string, RecordedRequest>();
  for (const r of standIn.requests.slice(from)) {
    if (r.status !== 200) continue;
    const id = (r.responseBody as { id?: string } | undefined)?.id ?? '';
    if (r.method === 'POST' && r.route === `/channels/${threadId}/messages`) latest.set(id, r);
    else if (r.method === 'PATCH' && r.route === `/channels/${threadId}/messages/${id}` && latest.has(id)) latest.set(id, r);
  }
  return [...latest.values()];
}

/** Each caption posted in a thread since `from`, as its two lines: `**Name:** text` and the `-# …` line under it. */
export function threadEntries(standIn: DiscordStandIn, threadId: string, from = 0): Array<{ line: string; under: string }> {
  const lines = threadPosts(standIn, threadId, from).flatMap((r) => contentOf(r).split('\n'));
  const entries: Array<{ line: string; under: string }> = [];
  for (let i = 0; i < lines.length; i += 2) entries.push({ line: lines[i] ?? '', under: lines[i + 1] ?? '' });
  return entries;
}

/** Resolves once the thread has at least `count` captions since `from`. */
export async function waitForThreadEntries(standIn: DiscordStandIn, threadId: string, from: number, count: number, timeoutMs = 30_000): Promise<Array<{ line: string; under: string }>> {
  await standIn.waitForRequest(() => threadEntries(standIn, threadId, from).length >= count, { timeoutMs });
  return threadEntries(standIn, threadId, from);
}
