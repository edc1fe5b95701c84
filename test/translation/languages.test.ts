import { describe, expect, it } from 'vitest';
import { languageName, MAX_LANGUAGES, parseLanguageList, isSameLanguage } from '../../src/translation/languages.ts';

describe('parseLanguageList', () => {
  it('splits on commas and spaces', () => {
    expect(parseLanguageList('es, de,ja')).toEqual({ ok: true, languages: ['es', 'de', 'ja'] });
    expect(parseLanguageList('  fr  it ')).toEqual({ ok: true, languages: ['fr', 'it'] });
  });

  it('accepts two-letter regions and normalises case and separators', () => {
    expect(parseLanguageList('PT-br, zh_tw, en-GB')).toEqual({ ok: true, languages: ['pt-BR', 'zh-TW', 'en-GB'] });
  });

  it('drops duplicates, keeping the first', () => {
    expect(parseLanguageList('es, ES, de, es, pt-br, pt-BR')).toEqual({ ok: true, languages: ['es', 'de', 'pt-BR'] });
  });

  it('names an unknown code in words fit for a Discord reply', () => {
    expect(parseLanguageList('es, xx')).toEqual({ ok: false, error: 'Unknown language code "xx". Use ISO 639-1 codes such as es, de, ja.' });
    expect(parseLanguageList('spanish')).toEqual({ ok: false, error: 'Unknown language code "spanish". Use ISO 639-1 codes such as es, de, ja.' });
  });

  it('rejects a region that is not two letters', () => {
    const result = parseLanguageList('pt-BRA');
    expect(result).toEqual({ ok: false, error: 'Unknown region in "pt-BRA": a region must be two letters, as in pt-BR or zh-TW.' });
    expect(parseLanguageList('zh-').ok).toBe(false);
    expect(parseLanguageList('es-419').ok).toBe(false);
  });

  it(`allows at most ${MAX_LANGUAGES} distinct languages`, () => {
    const ten = 'es de ja fr it pt zh ko ru ar';
    expect(parseLanguageList(ten)).toEqual({ ok: true, languages: ten.split(' ') });
    expect(parseLanguageList(`${ten} es`).ok).toBe(true);
    expect(parseLanguageList(`${ten} nl`)).toEqual({ ok: false, error: 'At most 10 languages can be translated at once (you gave 11).' });
  });

  it('asks for at least one code when given none', () => {
    expect(parseLanguageList(' , ')).toEqual({ ok: false, error: 'Give at least one language code. Use ISO 639-1 codes such as es, de, ja.' });
  });

  it('never echoes mentions or markdown from the input', () => {
    const result = parseLanguageList('es, @everyone');
    expect(result).toEqual({ ok: false, error: 'Unknown language code "everyone". Use ISO 639-1 codes such as es, de, ja.' });
    const markdown = parseLanguageList('**<@123>**');
    expect(markdown.ok).toBe(false);
    if (!markdown.ok) expect(markdown.error).not.toMatch(/[@*<>]/);
    const symbols = parseLanguageList('<>');
    expect(symbols).toEqual({ ok: false, error: 'That is not a language code. Use ISO 639-1 codes such as es, de, ja.' });
  });
});

describe('languageName', () => {
  it('gives the native name by default, capitalised', () => {
    expect(languageName('es')).toBe('Español');
    expect(languageName('de')).toBe('Deutsch');
    expect(languageName('ja')).toBe('日本語');
  });

  it('adds the region in the same language', () => {
    expect(languageName('pt-BR')).toBe('Português (Brasil)');
    expect(languageName('pt-BR', 'english')).toBe('Portuguese (Brazil)');
    expect(languageName('en-GB', 'english')).toBe('English (United Kingdom)');
  });

  it('gives the English name on request', () => {
    expect(languageName('es', 'english')).toBe('Spanish');
    expect(languageName('ja', 'english')).toBe('Japanese');
  });

  it('returns an unknown code unchanged', () => {
    expect(languageName('xx')).toBe('xx');
    expect(languageName('')).toBe('');
  });
});

describe('isSameLanguage', () => {
  it('matches a detected language to a target by language subtag, ignoring region and case', () => {
    expect(isSameLanguage('es', 'es')).toBe(true);
    expect(isSameLanguage('pt', 'pt-BR')).toBe(true);
    expect(isSameLanguage('ZH', 'zh-TW')).toBe(true);
    expect(isSameLanguage('es', 'en')).toBe(false);
    expect(isSameLanguage(undefined, 'en')).toBe(false);
    expect(isSameLanguage('', 'en')).toBe(false);
  });
});
