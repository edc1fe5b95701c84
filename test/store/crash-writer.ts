/**
 * Child process for the crash-durability test: opens the database in a data directory, starts a meeting and
 * records turns, printing a line to stdout after each write returns, then stays alive with the database open
 * until it is killed (the test sends SIGKILL, so nothing is closed or checkpointed cleanly).
 *
 * Usage: `node test/store/crash-writer.ts <dataDir> <guildId> <turnCount>`
 *
 * Lines printed: `meeting <id>` after the meeting is recorded, then `turn <n>` after turn n (1-based) is recorded.
 * Turn n: id `t<n>`, speaker `u<n % 2>`, start `n * 1000` ms, end `n * 1000 + 500` ms, text `turn <n>`.
 */
import { openDatabase } from '../../src/store/database.ts';
import { MeetingStore } from '../../src/store/meeting-store.ts';

const [dataDir, guildId, countArg] = process.argv.slice(2);
const turnCount = Number(countArg);
if (dataDir === undefined || guildId === undefined || !Number.isSafeInteger(turnCount) || turnCount < 1) {
  process.stderr.write('usage: crash-writer.ts <dataDir> <guildId> <turnCount>\n');
  process.exit(2);
}

const store = new MeetingStore(openDatabase(dataDir));
const meetingId = store.startMeeting({
  guildId,
  voiceChannelId: 'voice-1',
  captionChannelId: 'text-1',
  startedBy: 'u0',
  startedAtMs: 1_700_000_000_000,
});
process.stdout.write(`meeting ${meetingId}\n`);
for (let n = 1; n <= turnCount; n++) {
  const speaker = { id: `u${n % 2}`, name: `Speaker ${n % 2}` };
  store.recordTurn(meetingId, { turnId: `t${n}`, speaker, startMs: n * 1000, endMs: n * 1000 + 500, text: `turn ${n}` });
  process.stdout.write(`turn ${n}\n`);
}

// Keep the database open until killed. If the test process dies instead, stdin closes: exit rather than linger.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
