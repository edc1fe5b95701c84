/**
 * How a recording reaches the channel: attached in messages that respect Discord's limits, else linked, else the
 * folder named; and when Discord refuses the upload, the channel still learns where the recording is.
 */
import { describe, expect, it } from 'vitest';
import type { RecordedTrack } from '../../src/recording/meeting-recorder.ts';
import { postRecording, recordingReadme, type RecordingMessage } from '../../src/recording/recording-report.ts';

const MiB = 1024 * 1024;

function tracks(count: number, bytes: number): RecordedTrack[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(2, '0');
    const id = `13090000000000003${n}`;
    return { speaker: { id, name: `Member ${n}` }, path: `/data/recordings/1/2/${n}-Member_${n}-${id}.ogg`, fileName: `${n}-Member_${n}-${id}.ogg`, bytes, failed: false };
  });
}

/** A channel that keeps what it was sent; `refuseFiles` makes it answer uploads as Discord does past the limit. */
function channel(refuseFiles = false): { sent: RecordingMessage[]; send: (m: RecordingMessage) => Promise<unknown> } {
  const sent: RecordingMessage[] = [];
  return {
    sent,
    send: async (message) => {
      if (refuseFiles && (message.files?.length ?? 0) > 0) throw Object.assign(new Error('Request entity too large'), { status: 413, code: 40005 });
      sent.push(message);
      return {};
    },
  };
}

const common = { keptIn: 'recordings/1/2/', keptFor: 'for 30 days after the meeting' };

describe('postRecording', () => {
  it('attaches the tracks and README in messages of at most 10 files and at most the limit in all', async () => {
    const target = channel();
    const all = tracks(12, 4 * MiB);
    const readme = recordingReadme({ meetingId: 2, startedAtMs: Date.UTC(2026, 11, 1, 5, 30), tracks: all });
    expect(await postRecording({ target, tracks: all, readme, attachmentLimitBytes: 10 * MiB, ...common })).toBe('attached');
    const sizes = new Map(all.map((t) => [t.fileName, t.bytes]));
    const names = target.sent.flatMap((m) => (m.files ?? []).map((f) => f.name ?? ''));
    expect(names.sort()).toEqual(['README.txt', ...all.map((t) => t.fileName)].sort());
    for (const message of target.sent) {
      expect(message.files!.length).toBeLessThanOrEqual(10);
      const total = message.files!.reduce((n, f) => n + (sizes.get(f.name ?? '') ?? Buffer.byteLength(readme)), 0);
      expect(total).toBeLessThanOrEqual(10 * MiB);
      expect(message.allowedMentions).toEqual({ parse: [] });
    }
    expect(target.sent[0]!.content).toContain('12 tracks');
    expect(readme).toContain('started 2026-12-01 05:30 UTC');
    expect(readme).toContain('"Member 01=01-Member_01-1309000000000000301.ogg"');
  });

  it('links the recording when a track is over the limit and the caption page is on; names the folder when it is off', async () => {
    const big = tracks(2, 11 * MiB);
    const linked = channel();
    expect(await postRecording({ target: linked, tracks: big, readme: 'r', link: 'https://captions.example.org/recordings/1/t/', ...common })).toBe('linked');
    expect(linked.sent).toHaveLength(1);
    expect(linked.sent[0]!.content).toContain('https://captions.example.org/recordings/1/t/');
    expect(linked.sent[0]!.files).toBeUndefined();

    const kept = channel();
    expect(await postRecording({ target: kept, tracks: big, readme: 'r', ...common })).toBe('kept');
    expect(kept.sent[0]!.content).toContain('`recordings/1/2/`');
    expect(kept.sent[0]!.content).toContain('10 MiB');
  });

  it('still tells the channel where the recording is when Discord refuses the upload', async () => {
    const target = channel(true);
    expect(await postRecording({ target, tracks: tracks(1, 1_000), readme: 'r', ...common })).toBe('kept');
    expect(target.sent).toHaveLength(1);
    expect(target.sent[0]!.content).toContain('Discord refused the upload');
    expect(target.sent[0]!.content).toContain('`recordings/1/2/`');
  });

  it('escapes speaker names in the channel text', async () => {
    const target = channel();
    const [track] = tracks(1, 1_000);
    track!.speaker.name = '@everyone [x](https://evil.example)';
    await postRecording({ target, tracks: [track!], readme: 'r', ...common });
    expect(target.sent[0]!.content).not.toContain('[x](https://evil.example)');
  });
});
