/**
 * Renders a {@link Recap} as Discord embeds (for the channel) and as Markdown (for `recap.md`).
 *
 * Everything the model wrote is user content: it was derived from what people said. It goes through the one
 * escaping helper ({@link escapeDiscordText}): mentions neutral even though the poster also sets
 * `allowedMentions`, and Markdown escaped so the text shows as written: a model cannot turn "[click](…)" into a
 * masked link or a `#` into a heading.
 */
import type { APIEmbed, APIEmbedField } from 'discord.js';
import { meetingClock } from './prompt.ts';
import { escapeDiscordText } from '../text/discord-markdown.ts';
import type { Recap } from './recap.ts';

/**
 * Discord's embed limits, in characters (Discord API docs, "Embed Limits"; "Create Message": at most 10
 * embeds). `total` counts title, description, field names and values, footer text and author name across
 * every embed of one message.
 */
export const EMBED_LIMITS = { title: 256, description: 4_096, fieldName: 256, fieldValue: 1_024, fields: 25, footer: 2_048, total: 6_000, embeds: 10 } as const;

/** Options for {@link recapToEmbeds}. */
export interface RecapEmbedOptions {
  /** Embed title, e.g. `Recap: Weekly sync`; shortened with "…" past 256 characters. */
  title: string;
  /** Length of the meeting, ms, shown in the footer. */
  meetingDurationMs: number;
  /** Display names of the participants, in the order to show them. */
  speakers: string[];
}

/** Discord blurple. */
const COLOR = 0x5865f2;
const SHORTENED_NOTE = 'Shortened to fit Discord: the full recap is in recap.md';

/** One line of user text made safe with {@link escapeDiscordText}, whitespace collapsed to single spaces. */
export function safeInline(text: string): string {
  return escapeDiscordText(text.replace(/\s+/g, ' ').trim());
}

/** The summary's paragraphs, each made safe with {@link safeInline}, separated by a blank line. */
function safeParagraphs(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map(safeInline)
    .filter((paragraph) => paragraph !== '')
    .join('\n\n');
}

/** Where `text` may be cut at or before `max` without splitting a surrogate pair or an escape (`\*`). */
function cutPoint(text: string, max: number): number {
  let cut = Math.max(0, Math.min(max, text.length));
  if (cut > 0 && cut < text.length && /[\uD800-\uDBFF]/.test(text[cut - 1] ?? '')) cut -= 1;
  let backslashes = 0;
  while (cut - backslashes > 0 && text[cut - backslashes - 1] === '\\') backslashes += 1;
  return backslashes % 2 === 1 ? cut - 1 : cut;
}

/** `text` if it fits in `max`, else cut (at a space when one is near the end) and ended with "…". */
function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 2) return '…';
  let cut = cutPoint(text, max - 1);
  const space = text.lastIndexOf(' ', cut);
  if (space > cut * 0.8) cut = space;
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** Splits a line longer than a field value into pieces of at most `max`, at spaces where possible. */
function splitLong(line: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = line;
  while (rest.length > max) {
    let cut = cutPoint(rest, max);
    const space = rest.lastIndexOf(' ', cut);
    if (space > max / 2) cut = space;
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}

/** Packs lines into field values of at most 1,024 characters, one line per row. */
function toFieldValues(lines: readonly string[]): string[] {
  const values: string[] = [];
  let value = '';
  for (const line of lines.flatMap((entry) => splitLong(entry, EMBED_LIMITS.fieldValue))) {
    if (value !== '' && value.length + 1 + line.length > EMBED_LIMITS.fieldValue) {
      values.push(value);
      value = '';
    }
    value = value === '' ? line : `${value}\n${line}`;
  }
  if (value !== '') values.push(value);
  return values;
}

/** The first lines of `lines` that fit in `cap` characters, then a note counting the rest. */
function capLines(lines: readonly string[], cap: number): { lines: string[]; shortened: boolean } {
  const kept: string[] = [];
  let used = 0;
  for (const line of lines) {
    const cost = line.length + (kept.length > 0 ? 1 : 0);
    if (used + cost > cap) break;
    kept.push(line);
    used += cost;
  }
  const first = lines[0];
  if (kept.length === 0 && first !== undefined && cap >= 40) kept.push(shorten(first, cap));
  const omitted = lines.length - kept.length;
  if (omitted > 0) kept.push(`…and ${omitted} more in recap.md`);
  return { lines: kept, shortened: omitted > 0 || kept[0] !== first };
}

/** As many whole names as fit in `max` characters, then "and N more" (or "N people" when none fits). */
function fitNames(names: readonly string[], max: number): { value: string; shortened: boolean } {
  const all = names.join(', ');
  if (all.length <= max) return { value: all, shortened: false };
  const kept: string[] = [];
  let used = 0;
  for (const name of names) {
    const cost = name.length + (kept.length > 0 ? 2 : 0);
    if (used + cost > max - 20) break;
    kept.push(name);
    used += cost;
  }
  const value = kept.length === 0 ? `${names.length} people` : `${kept.join(', ')} and ${names.length - kept.length} more`;
  return { value, shortened: true };
}

interface Section {
  name: string;
  lines: string[];
}

function bullet(text: string): string {
  return `• ${safeInline(text)}`;
}

function sections(recap: Recap): Section[] {
  return [
    { name: recap.headings.keyPoints, lines: recap.keyPoints.map(bullet) },
    { name: recap.headings.decisions, lines: recap.decisions.map(bullet) },
    { name: recap.headings.actionItems, lines: recap.actionItems.map((action) => `${bullet(action.task)}${action.owner === undefined ? '' : ` — **${safeInline(action.owner)}**`}`) },
    { name: recap.headings.openQuestions, lines: recap.openQuestions.map(bullet) },
  ];
}

/** Total characters Discord counts across a message's embeds. */
export function embedsLength(embeds: readonly APIEmbed[]): number {
  return embeds.reduce(
    (sum, embed) =>
      sum +
      (embed.title?.length ?? 0) +
      (embed.description?.length ?? 0) +
      (embed.footer?.text.length ?? 0) +
      (embed.author?.name.length ?? 0) +
      (embed.fields ?? []).reduce((fieldSum, field) => fieldSum + field.name.length + field.value.length, 0),
    0,
  );
}

function withinLimits(embeds: readonly APIEmbed[]): boolean {
  const L = EMBED_LIMITS;
  return (
    embeds.length <= L.embeds &&
    embedsLength(embeds) <= L.total &&
    embeds.every(
      (embed) =>
        (embed.title?.length ?? 0) <= L.title &&
        (embed.description?.length ?? 0) <= L.description &&
        (embed.footer?.text.length ?? 0) <= L.footer &&
        (embed.fields ?? []).length <= L.fields &&
        (embed.fields ?? []).every((field) => field.name.length <= L.fieldName && field.value.length <= L.fieldValue && field.value.length > 0),
    )
  );
}

/**
 * Renders the recap as the embeds of one message: title, the summary as the description, then one field per
 * section (long sections continue in further fields, "Key points (cont.)", and fields past 25 in further
 * embeds), the participants, and a footer with the meeting length and the model.
 *
 * Stays within {@link EMBED_LIMITS}. Nothing is cut while everything fits; otherwise every block (summary,
 * each section, participants) is limited to the same number of characters, the largest that fits, and what is
 * left out is replaced by "…" or "…and N more in recap.md", with a footer note pointing to `recap.md`.
 */
export function recapToEmbeds(recap: Recap, options: RecapEmbedOptions): APIEmbed[] {
  const summary = safeParagraphs(recap.summary);
  const blocks = sections(recap);
  const names = options.speakers.map(safeInline).filter((name) => name !== '');
  const title = shorten(safeInline(options.title) || 'Meeting recap', EMBED_LIMITS.title);
  const model = shorten(safeInline(recap.model), 100);
  const about = [`Meeting length ${meetingClock(options.meetingDurationMs)}`, ...(model === '' ? [] : [`recap by ${model}${recap.parts > 1 ? ` from ${recap.parts} parts` : ''}`])].join(' · ');

  const build = (cap: number): { embeds: APIEmbed[]; shortened: boolean } => {
    const description = shorten(summary, Math.min(cap, EMBED_LIMITS.description));
    let shortened = description !== summary;
    const fields: APIEmbedField[] = [];
    for (const block of blocks) {
      const capped = capLines(block.lines, cap);
      shortened ||= capped.shortened;
      const values = block.lines.length === 0 ? ['None'] : toFieldValues(capped.lines);
      values.forEach((value, index) => fields.push({ name: index === 0 ? block.name : `${block.name} (cont.)`, value }));
    }
    if (names.length > 0) {
      const people = fitNames(names, Math.min(cap, EMBED_LIMITS.fieldValue));
      shortened ||= people.shortened;
      fields.push({ name: `Participants (${names.length})`, value: people.value });
    }
    const embeds: APIEmbed[] = [{ title, description: description || '…', color: COLOR, fields: [] }];
    for (const field of fields) {
      let last = embeds.at(-1);
      if (last === undefined || (last.fields ?? []).length >= EMBED_LIMITS.fields) {
        last = { color: COLOR, fields: [] };
        embeds.push(last);
      }
      (last.fields ??= []).push(field);
    }
    const footer = shortened ? `${about} · ${SHORTENED_NOTE}` : about;
    const lastEmbed = embeds.at(-1);
    if (lastEmbed !== undefined) lastEmbed.footer = { text: footer };
    return { embeds, shortened };
  };

  const full = build(Number.MAX_SAFE_INTEGER);
  if (withinLimits(full.embeds)) return full.embeds;
  // Binary search for the largest per-block cap that fits. Cap 0 leaves only the title, "…", the notes
  // and the footer, far below the limits.
  let low = 0;
  let high = EMBED_LIMITS.total;
  let best = build(0).embeds;
  if (!withinLimits(best)) throw new Error('The recap does not fit Discord embeds even when cut to its headings.');
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    const attempt = build(middle).embeds;
    if (withinLimits(attempt)) {
      low = middle;
      best = attempt;
    } else high = middle - 1;
  }
  return best;
}

/**
 * Renders the recap as Discord-flavoured Markdown for `recap.md` (and for the meeting store): a `#` title,
 * then `##` sections Summary and the template's four list headings (meeting notes: Key points, Decisions, Action
 * items with `**owner**` where named, Open questions), each present even when empty ("None."), then a line naming the model. Never shortened.
 */
export function recapToMarkdown(recap: Recap, title: string): string {
  const list = (items: readonly string[]): string[] => (items.length === 0 ? ['None.'] : items.map((text) => `- ${safeInline(text)}`));
  const actions = recap.actionItems.map((action) => `- ${safeInline(action.task)}${action.owner === undefined ? '' : ` — **${safeInline(action.owner)}**`}`);
  const lines = [
    `# ${safeInline(title)}`,
    '',
    '## Summary',
    '',
    safeParagraphs(recap.summary),
    '',
    `## ${recap.headings.keyPoints}`,
    '',
    ...list(recap.keyPoints),
    '',
    `## ${recap.headings.decisions}`,
    '',
    ...list(recap.decisions),
    '',
    `## ${recap.headings.actionItems}`,
    '',
    ...(actions.length === 0 ? ['None.'] : actions),
    '',
    `## ${recap.headings.openQuestions}`,
    '',
    ...list(recap.openQuestions),
    '',
  ];
  if (recap.model !== '') lines.push(`_Recap by ${safeInline(recap.model)}${recap.parts > 1 ? `, from ${recap.parts} parts of the transcript` : ''}._`, '');
  return lines.join('\n');
}
