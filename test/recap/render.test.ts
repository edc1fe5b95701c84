import type { APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import type { Recap } from '../../src/recap/recap.ts';
import { DEFAULT_HEADINGS, recapTemplate } from '../../src/recap/templates.ts';
import { EMBED_LIMITS, embedsLength, recapToEmbeds, recapToMarkdown } from '../../src/recap/render.ts';

const SMALL: Recap = {
  summary: 'The team agreed to ship version 2 on Friday.\n\nMarketing joins next week.',
  keyPoints: ['Version 2 is ready.', 'Release notes are missing.'],
  decisions: [],
  actionItems: [{ task: 'Write the release notes.', owner: 'Bob' }, { task: 'Tell the customers.' }],
  openQuestions: ['Who announces it?'],
  model: 'claude-sonnet-4-6',
  parts: 1,
  headings: DEFAULT_HEADINGS,
};

const OPTIONS = { title: 'Recap: Weekly sync', meetingDurationMs: 3_725_000, speakers: ['Alice', 'Bob'] };

/** Every limit of EMBED_LIMITS, checked one by one so a failure names the limit. */
function expectWithinLimits(embeds: APIEmbed[]): void {
  expect(embeds.length).toBeGreaterThan(0);
  expect(embeds.length).toBeLessThanOrEqual(EMBED_LIMITS.embeds);
  expect(embedsLength(embeds)).toBeLessThanOrEqual(EMBED_LIMITS.total);
  for (const embed of embeds) {
    expect(embed.title?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.title);
    expect(embed.description?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.description);
    expect(embed.footer?.text.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.footer);
    expect(embed.fields?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.fields);
    for (const field of embed.fields ?? []) {
      expect(field.name.length).toBeGreaterThan(0);
      expect(field.name.length).toBeLessThanOrEqual(EMBED_LIMITS.fieldName);
      expect(field.value.length).toBeGreaterThan(0);
      expect(field.value.length).toBeLessThanOrEqual(EMBED_LIMITS.fieldValue);
    }
  }
}

/** Independent count of what Discord counts toward the 6,000 characters. */
function countByHand(embeds: APIEmbed[]): number {
  let total = 0;
  for (const embed of embeds) {
    total += (embed.title ?? '').length + (embed.description ?? '').length + (embed.footer?.text ?? '').length;
    for (const field of embed.fields ?? []) total += field.name.length + field.value.length;
  }
  return total;
}

function fields(embeds: APIEmbed[]): Array<{ name: string; value: string }> {
  return embeds.flatMap((embed) => embed.fields ?? []);
}

function sentences(count: number, length: number, label: string): string[] {
  return Array.from({ length: count }, (_, i) => `${label} ${i}: ${'lorem ipsum dolor sit amet '.repeat(Math.ceil(length / 27))}`.slice(0, length));
}

describe('recapToEmbeds', () => {
  it('puts the summary in the description and each section in a field', () => {
    const embeds = recapToEmbeds(SMALL, OPTIONS);
    expectWithinLimits(embeds);
    expect(embeds).toHaveLength(1);
    const [embed] = embeds;
    expect(embed?.title).toBe('Recap: Weekly sync');
    expect(embed?.description).toBe(SMALL.summary);
    expect(fields(embeds)).toEqual([
      { name: 'Key points', value: '• Version 2 is ready.\n• Release notes are missing.' },
      { name: 'Decisions', value: 'None' },
      { name: 'Action items', value: '• Write the release notes. — **Bob**\n• Tell the customers.' },
      { name: 'Open questions', value: '• Who announces it?' },
      { name: 'Participants (2)', value: 'Alice, Bob' },
    ]);
    expect(embed?.footer?.text).toBe('Meeting length 1:02:05 · recap by claude-sonnet-4-6');
    expect(embedsLength(embeds)).toBe(countByHand(embeds));
  });

  it('splits a section longer than one field across fields without cutting anything while the message fits', () => {
    const keyPoints = sentences(12, 150, 'Point');
    const longTask = `Prepare the migration plan: ${'step after step, '.repeat(80)}done.`;
    const recap: Recap = { ...SMALL, keyPoints, actionItems: [{ task: longTask, owner: 'Alice' }] };
    const embeds = recapToEmbeds(recap, OPTIONS);
    expectWithinLimits(embeds);
    const all = fields(embeds);
    const keyFields = all.filter((field) => field.name.startsWith('Key points'));
    expect(keyFields.map((field) => field.name)).toEqual(['Key points', 'Key points (cont.)']);
    expect(keyFields.map((field) => field.value).join('\n')).toBe(keyPoints.map((point) => `• ${point.trim()}`).join('\n'));
    const actionFields = all.filter((field) => field.name.startsWith('Action items'));
    expect(actionFields.length).toBe(2);
    expect(actionFields.map((field) => field.value).join(' ')).toBe(`• ${longTask.trim()} — **Alice**`);
    expect(JSON.stringify(embeds)).not.toContain('…');
    expect(embeds.at(-1)?.footer?.text).not.toContain('recap.md');
  });

  it('stays within every Discord limit for a huge recap, cutting only what does not fit', () => {
    const huge: Recap = {
      summary: 'A very long meeting. '.repeat(600),
      keyPoints: sentences(200, 300, 'Point'),
      decisions: sentences(80, 200, 'Decision'),
      actionItems: sentences(150, 250, 'Task').map((task, i) => (i % 2 === 0 ? { task, owner: `Person ${i}` } : { task })),
      openQuestions: [`${'Why '.repeat(600)}?`, ...sentences(50, 100, 'Question')],
      model: 'claude-sonnet-4-6',
      parts: 4,
      headings: DEFAULT_HEADINGS,
    };
    const speakers = Array.from({ length: 300 }, (_, i) => `Participant number ${i}`);
    const embeds = recapToEmbeds(huge, { title: 'T'.repeat(400), meetingDurationMs: 10_800_000, speakers });
    expectWithinLimits(embeds);
    expect(countByHand(embeds)).toBeLessThanOrEqual(6_000);
    // Nothing was dropped wholesale: every section is there, with a pointer to the rest.
    const names = fields(embeds).map((field) => field.name);
    for (const section of ['Key points', 'Decisions', 'Action items', 'Open questions', 'Participants (300)']) expect(names).toContain(section);
    expect(fields(embeds).find((field) => field.name === 'Key points')?.value).toMatch(/…and \d+ more in recap\.md$/);
    expect(embeds[0]?.title).toMatch(/^T+…$/);
    expect(embeds[0]?.description).toMatch(/…$/);
    expect(embeds.at(-1)?.footer?.text).toContain('Shortened to fit Discord: the full recap is in recap.md');
    expect(embeds.at(-1)?.footer?.text).toContain('from 4 parts');
    // The space is used: more than a token amount of the summary and the lists survives.
    expect(embedsLength(embeds)).toBeGreaterThan(5_000);
  });

  it('neutralises mentions and escapes Markdown in everything the model wrote', () => {
    const hostile: Recap = {
      summary: 'Ping @everyone and @here, then <@123456789012345678> and <@&987654321098765432>.',
      keyPoints: ['Click [here](https://evil.example) for **free** stuff', '# Heading attempt'],
      decisions: ['<@!42> decides'],
      actionItems: [{ task: 'Notify <#111222333444555666>', owner: '@everyone' }],
      openQuestions: ['- not a list item'],
      model: 'claude-sonnet-4-6',
      parts: 1,
      headings: DEFAULT_HEADINGS,
    };
    const embeds = recapToEmbeds(hostile, { ...OPTIONS, title: 'Recap @here', speakers: ['@everyone', '<@1234>'] });
    const text = embeds.flatMap((embed) => [embed.title ?? '', embed.description ?? '', embed.footer?.text ?? '', ...(embed.fields ?? []).flatMap((field) => [field.name, field.value])]).join('\n');
    const markdown = recapToMarkdown(hostile, 'Recap @here');
    for (const output of [text, markdown]) {
      expect(output).not.toMatch(/@(everyone|here)/);
      expect(output).not.toMatch(/<(@[!&]?|#)\d+>/);
      expect(output).toContain('@\u200beveryone');
      expect(output).not.toMatch(/(^|[^\\])\[here\]/);
      expect(output).toContain('\\[here]\\(https://evil.example)');
      expect(output).toContain('\\*\\*free\\*\\*');
    }
    expect(fields(embeds).find((field) => field.name === 'Key points')?.value).toContain('• \\# Heading attempt');
    expect(markdown).toContain('- \\- not a list item');
    expect(markdown).not.toMatch(/^# Heading attempt/m);
  });
});

describe('recapToMarkdown', () => {
  it('has every section, in order, even the empty ones', () => {
    const markdown = recapToMarkdown({ ...SMALL, parts: 3 }, 'Recap: Weekly sync');
    expect(markdown).toBe(
      [
        '# Recap: Weekly sync',
        '',
        '## Summary',
        '',
        'The team agreed to ship version 2 on Friday.',
        '',
        'Marketing joins next week.',
        '',
        '## Key points',
        '',
        '- Version 2 is ready.',
        '- Release notes are missing.',
        '',
        '## Decisions',
        '',
        'None.',
        '',
        '## Action items',
        '',
        '- Write the release notes. — **Bob**',
        '- Tell the customers.',
        '',
        '## Open questions',
        '',
        '- Who announces it?',
        '',
        '_Recap by claude-sonnet-4-6, from 3 parts of the transcript._',
        '',
      ].join('\n'),
    );
  });

  it('never shortens a huge recap', () => {
    const keyPoints = sentences(300, 200, 'Point');
    const markdown = recapToMarkdown({ ...SMALL, keyPoints }, 'Long');
    for (const point of keyPoints) expect(markdown).toContain(`- ${point.trim()}\n`);
    expect(markdown).not.toContain('…');
  });
});

describe('recap headings follow the template', () => {
  it('titles the embed fields and recap.md sections with the template\'s headings', () => {
    const coached: Recap = { ...SMALL, headings: recapTemplate('coach').headings };
    const fields = recapToEmbeds(coached, OPTIONS).flatMap((embed) => embed.fields ?? []).map((field) => field.name);
    expect(fields).toEqual(expect.arrayContaining(['Strengths', 'Areas to improve', 'To practise', 'To reflect on']));
    expect(fields).not.toContain('Key points');
    const markdown = recapToMarkdown(coached, 'Coaching');
    expect(markdown).toContain('## Strengths');
    expect(markdown).toContain('## Areas to improve');
    expect(markdown).not.toContain('## Key points');
  });
});
