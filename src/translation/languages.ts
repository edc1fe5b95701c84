/**
 * Target languages for translation: parsing what a Discord user types (`es, de,ja`, `pt-BR`) and naming
 * languages for thread titles. Codes are ISO 639-1 (checked with the `iso-639-1` package), optionally with a
 * two-letter region subtag (BCP 47 style: `pt-BR`, `zh-TW`).
 */
import ISO6391 from 'iso-639-1';

/** Most languages a guild may translate into at once; every final caption costs one request covering them all. */
export const MAX_LANGUAGES = 10;

/** Result of {@link parseLanguageList}: normalised codes, or one sentence to show the user. */
export type LanguageListResult = { ok: true; languages: string[] } | { ok: false; error: string };

const EXAMPLE = 'Use ISO 639-1 codes such as es, de, ja.';

/**
 * Parses a list of language codes separated by commas and/or spaces.
 *
 * Each code is normalised to lower-case language and upper-case region (`PT_br` → `pt-BR`; `_` is accepted
 * for `-`); duplicates are dropped, keeping the first. Rules: at least 1 and at most {@link MAX_LANGUAGES}
 * distinct codes; the language must be in ISO 639-1; a region must be exactly two letters.
 *
 * @returns `{ok: true, languages}`, e.g. `['es', 'de', 'ja']` for `"es, de,ja"`, or `{ok: false, error}` with
 *   a sentence fit for a Discord reply (user input is echoed only as letters, digits, `-` and `_`, so it cannot
 *   carry mentions or markdown). Never throws.
 */
export function parseLanguageList(input: string): LanguageListResult {
  const tokens = input.split(/[\s,;]+/).filter((token) => token.length > 0);
  if (tokens.length === 0) return { ok: false, error: `Give at least one language code. ${EXAMPLE}` };
  const languages: string[] = [];
  for (const token of tokens) {
    const parsed = parseLanguageCode(token);
    if (!parsed.ok) return parsed;
    if (!languages.includes(parsed.code)) languages.push(parsed.code);
  }
  if (languages.length > MAX_LANGUAGES) {
    return { ok: false, error: `At most ${MAX_LANGUAGES} languages can be translated at once (you gave ${languages.length}).` };
  }
  return { ok: true, languages };
}

/** Parses one code such as `de` or `zh-tw`; see {@link parseLanguageList} for the rules. */
export function parseLanguageCode(token: string): { ok: true; code: string } | { ok: false; error: string } {
  const shown = token.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16);
  const match = /^([A-Za-z]+)(?:[-_]([A-Za-z0-9]*))?$/.exec(token);
  const language = match?.[1]?.toLowerCase();
  if (match === null || language === undefined || !ISO6391.validate(language)) {
    const error = shown === '' ? `That is not a language code. ${EXAMPLE}` : `Unknown language code "${shown}". ${EXAMPLE}`;
    return { ok: false, error };
  }
  const region = match[2];
  if (region === undefined) return { ok: true, code: language };
  if (!/^[A-Za-z]{2}$/.test(region)) {
    return { ok: false, error: `Unknown region in "${shown}": a region must be two letters, as in pt-BR or zh-TW.` };
  }
  return { ok: true, code: `${language}-${region.toUpperCase()}` };
}

/**
 * Whether a turn spoken in `spoken` (a code AssemblyAI detected, e.g. `es`) is already in `target` (a code from
 * {@link parseLanguageList}, e.g. `es` or `pt-BR`): the language subtags match, case-insensitively; the region is
 * ignored, since speech detection names no region. False when `spoken` is undefined.
 */
export function isSameLanguage(spoken: string | undefined, target: string): boolean {
  if (spoken === undefined) return false;
  const base = (code: string) => code.split(/[-_]/)[0]?.toLowerCase() ?? '';
  return base(spoken) !== '' && base(spoken) === base(target);
}

/**
 * A language's name for thread titles: the native name by default (`es` → `Español`, `pt-BR` →
 * `Português (Brasil)`), or the English one (`Spanish`, `Portuguese (Brazil)`). The region's name comes from
 * Node's ICU data (`Intl.DisplayNames`), falling back to the region code. The first letter is capitalised.
 * A code that is not ISO 639-1 is returned unchanged. Never throws.
 */
export function languageName(code: string, style: 'native' | 'english' = 'native'): string {
  const [rawLanguage = '', rawRegion] = code.split(/[-_]/);
  const language = rawLanguage.toLowerCase();
  if (!ISO6391.validate(language)) return code;
  const name = style === 'native' ? ISO6391.getNativeName(language) || ISO6391.getName(language) : ISO6391.getName(language);
  const displayLocale = style === 'native' ? language : 'en';
  const titled = capitalise(name.split(/[,;]/)[0]?.trim() || name, displayLocale);
  if (rawRegion === undefined || !/^[A-Za-z]{2}$/.test(rawRegion)) return titled;
  const region = rawRegion.toUpperCase();
  return `${titled} (${regionName(region, displayLocale)})`;
}

function regionName(region: string, locale: string): string {
  try {
    return new Intl.DisplayNames([locale, 'en'], { type: 'region', fallback: 'code' }).of(region) ?? region;
  } catch {
    return region;
  }
}

function capitalise(text: string, locale: string): string {
  const first = text.charAt(0);
  try {
    return first.toLocaleUpperCase(locale) + text.slice(1);
  } catch {
    return first.toUpperCase() + text.slice(1);
  }
}
