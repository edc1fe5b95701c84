/**
 * What the fake AssemblyAI server said, for comparing with what the bot posted: the final transcripts each
 * session sent, and waiting until the bot has posted as many caption lines as there were finals.
 */
import type { FakeAssemblyAI, FakeSession, Recognizer } from '../../fakes/assemblyai-server.ts';
import type { DiscordStandIn } from '../../fakes/discord/stand-in.ts';
import { captionLines } from './messages.ts';

/**
 * One sentence per turn, naming its session and turn: `s3turn1.` (formatted by the fake to "S3turn1."). The full
 * stop lets a U3 turn end at `min_turn_silence`, so every pause in the speech ends a turn; and every final is
 * unique, so each can be traced through the channel, the threads, the LLM requests and the stored transcript.
 */
export const turnNamingRecognizer: Recognizer = ({ session, turnOrder, startMs, endMs }) => [
  { text: `s${session.index}turn${turnOrder}.`, start: startMs, end: endMs },
];

/** Words spread evenly over a turn, ending a sentence: a recognizer that hears `sentence` in every turn. */
export function sayingRecognizer(sentence: string): Recognizer {
  const words = sentence.split(' ');
  return ({ startMs, endMs }) =>
    words.map((text, i) => ({ text, start: startMs + ((endMs - startMs) * i) / words.length, end: startMs + ((endMs - startMs) * (i + 1)) / words.length }));
}

/** The final (end_of_turn) transcripts a session sent, in order. */
export function finalsOf(session: FakeSession): string[] {
  return session.sentMessages.filter((m) => m['type'] === 'Turn' && m['end_of_turn'] === true).map((m) => String(m['transcript']));
}

/**
 * The sessions numbered `from` to `from + count - 1`, once each has closed (the bot closes an idle speaker's
 * session with Terminate, and the fake sends every final before Termination): their finals are then complete.
 */
export async function closedSessions(stt: FakeAssemblyAI, from: number, count: number): Promise<FakeSession[]> {
  const sessions: FakeSession[] = [];
  for (let i = 0; i < count; i++) {
    for (;;) {
      const session = await stt.nextSession();
      if (session.index >= from) {
        sessions.push(session);
        break;
      }
    }
  }
  await Promise.all(sessions.map((s) => s.closed));
  return sessions;
}

/** Resolves once at least `count` final caption lines have been posted in the channel since request `from`. */
export async function waitForCaptionLines(standIn: DiscordStandIn, channelId: string, from: number, count: number, timeoutMs = 30_000): Promise<string[]> {
  await standIn.waitForRequest(() => captionLines(standIn, channelId, from).length >= count, { timeoutMs });
  return captionLines(standIn, channelId, from);
}
