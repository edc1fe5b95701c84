import { describe, expect, it } from 'vitest';
import { escapeDiscordText } from '../../src/text/discord-markdown.ts';

describe('escapeDiscordText', () => {
  it.each([
    ['[Free Nitro](https://example.com/x)', '\\[Free Nitro]\\(https://example.com/x)'],
    ['go to [here](https://a.b) or [there](https://c.d)', 'go to \\[here]\\(https://a.b) or [there]\\(https://c.d)'],
    ['# Big heading', '\\# Big heading'],
    ['- item', '\\- item'],
    ['1. first', '1\\. first'],
    ['> quoted', '\\> quoted'],
    ['-# small print', '\\-# small print'],
    ['**bold** _it_ ||spoiler|| ~~gone~~ `code`', '\\*\\*bold\\*\\* \\_it\\_ \\|\\|spoiler\\|\\| \\~\\~gone\\~\\~ \\`code\\`'],
  ])('shows %j literally', (input, expected) => {
    expect(escapeDiscordText(input)).toBe(expected);
  });

  it('neutralises every kind of mention', () => {
    const out = escapeDiscordText('<@123> <@!45> <@&67> <#89> </ping:1> @everyone @here');
    expect(out).not.toMatch(/<(@[!&]?|#|\/)[\w-]/);
    expect(out).not.toMatch(/@(everyone|here)/);
    expect(out).toContain('@\u200beveryone');
  });

  it('leaves plain words alone', () => {
    expect(escapeDiscordText('Good morning, Steve.')).toBe('Good morning, Steve.');
  });
});
