import { describe, expect, it } from 'vitest';
import { TurnTracker } from '../../src/stt/turn-tracker.ts';
import { SessionTimeline } from '../../src/stt/session-timeline.ts';
import { parseServerMessage, type TurnMessage } from '../../src/stt/assemblyai/messages.ts';
import { PCM_FRAME_BYTES } from '../../src/audio/format.ts';
import type { CaptionEvent } from '../../src/captions/caption.ts';
import { assemblyAiSequences } from '../support/fixtures.ts';

type Entry = { from: string; message: Record<string, unknown> };

/** The documented sequence's Turn messages, parsed as the client parses them. */
function turnsOf(name: string): TurnMessage[] {
  const entries = assemblyAiSequences()[name] as Entry[];
  return entries
    .filter((e) => e.from === 'server')
    .map((e) => parseServerMessage(JSON.stringify(e.message)))
    .filter((e): e is TurnMessage => e.type === 'turn');
}

function track(turns: TurnMessage[], awaitFormatted: boolean, meetingStartMs = 60_000) {
  const timeline = new SessionTimeline();
  // 20 s of contiguous audio sent from meeting time `meetingStartMs`.
  for (let t = 0; t < 20_000; t += 50) timeline.recordSent({ pcm: Buffer.alloc(PCM_FRAME_BYTES), meetingStartMs: meetingStartMs + t, speech: true });
  const events: CaptionEvent[] = [];
  const tracker = new TurnTracker({ speaker: { id: 'u1', name: 'Sonny' }, sessionSeq: 2, timeline, awaitFormatted, emit: (e) => events.push(e) });
  for (const turn of turns) tracker.onTurn(turn);
  tracker.flush();
  return events;
}

describe('TurnTracker on the documented sequences', () => {
  it('u3-rt-pro: partials, then one formatted final with word times mapped to meeting time', () => {
    const events = track(turnsOf('u3_rt_pro'), false);
    expect(events.map((e) => [e.kind, e.text])).toEqual([
      ['partial', 'My name is—'],
      ['final', 'My name is Parley.'],
    ]);
    expect(events[1]).toMatchObject({ turnId: 'u1:2:0', startMs: 60_000 + 1216, endMs: 60_000 + 4155, speaker: { name: 'Sonny' } });
  });

  it('format_turns on an older model: each turn is final once, with the formatted text', () => {
    const turns = turnsOf('universal_streaming_legacy_with_format_message');
    const events = track(turns, true);
    const finals = events.filter((e) => e.kind === 'final');
    const documentedFinals = turns.filter((t) => t.endOfTurn && t.turnIsFormatted).map((t) => t.transcript);
    expect(finals.map((e) => e.text)).toEqual(documentedFinals);
    expect(new Set(finals.map((e) => e.turnId)).size).toBe(finals.length);
    expect(finals.at(-1)?.text).toBe('I am a caption bot.');
  });

  it('an unformatted final is still emitted if its formatted copy never comes', () => {
    const turns = turnsOf('universal_streaming_legacy_with_format_message').filter((t) => !(t.endOfTurn && t.turnIsFormatted));
    const finals = track(turns, true).filter((e) => e.kind === 'final');
    expect(finals.map((e) => e.text)).toEqual(turns.filter((t) => t.endOfTurn).map((t) => t.transcript));
  });
});
