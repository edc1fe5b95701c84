/**
 * The caption page's sink: what it keeps for scrollback and resumption, and its bounds.
 */
import { describe, expect, it } from 'vitest';
import { CaptionFeed, FeedFullError, MAX_FEED_ENTRIES, MAX_SUBSCRIBERS, type FeedMessage } from '../../src/web/caption-feed.ts';

const katie = { id: 'k', name: 'Katie' };
const final = (n: number) => ({ kind: 'final' as const, speaker: katie, text: `Line ${n}.`, turnId: `t${n}`, startMs: 0, endMs: 1 });

describe('CaptionFeed', () => {
  it('keeps finals, translations and plain notices in order with growing ids; partials only live; nothing after the end', () => {
    const feed = new CaptionFeed({ guildId: 'g', languages: () => ['es'] });
    const heard: FeedMessage[] = [];
    feed.subscribe((m) => heard.push(m));
    feed.caption({ ...final(1), kind: 'partial', text: 'Line' });
    feed.caption(final(1));
    feed.translated({ event: final(1), translations: { es: 'Línea 1.' }, failed: ['de'] });
    feed.notice({ level: 'warning', text: 'Translations are slow.' });
    feed.notice({ level: 'info', markdown: true, text: 'Captioning <#1>, started by <@2>.' });
    feed.caption({ ...final(2), kind: 'partial', text: 'Li' });
    feed.end();
    feed.caption(final(3));
    expect(feed.entriesAfter(0).map((e) => [e.seq, e.kind])).toEqual([[1, 'final'], [2, 'translation'], [3, 'translation'], [4, 'notice'], [5, 'end']]);
    // A language that failed is marked, with the original as its text.
    expect(feed.entriesAfter(2)[0]).toEqual({ seq: 3, kind: 'translation', turnId: 't1', language: 'de', text: 'Line 1.', failed: true });
    expect(feed.entriesAfter(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(heard.map((m) => m.type)).toEqual(['partial', 'entry', 'entry', 'entry', 'entry', 'partial', 'clear', 'entry']);
    expect(feed.partials()).toEqual([]);
  });

  it(`keeps at most ${MAX_FEED_ENTRIES} entries (oldest dropped) and resumes correctly past the drop; refuses listener ${MAX_SUBSCRIBERS + 1}`, () => {
    const feed = new CaptionFeed({ guildId: 'g', languages: () => [] });
    for (let n = 1; n <= MAX_FEED_ENTRIES + 10; n++) feed.caption(final(n));
    const all = feed.entriesAfter(0);
    expect(all).toHaveLength(MAX_FEED_ENTRIES);
    expect(all[0]?.seq).toBe(11);
    expect(feed.entriesAfter(MAX_FEED_ENTRIES).map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => MAX_FEED_ENTRIES + 1 + i));
    expect(feed.entriesAfter(MAX_FEED_ENTRIES + 10)).toEqual([]);
    for (let i = 0; i < MAX_SUBSCRIBERS; i++) feed.subscribe(() => {});
    expect(() => feed.subscribe(() => {})).toThrow(FeedFullError);
  });
});
