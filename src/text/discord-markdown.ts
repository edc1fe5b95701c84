/**
 * The one escaping helper for text Parley posts to Discord or writes as Markdown: captions, speaker names,
 * translation lines, notices, recap embeds and the Markdown transcript all go through {@link escapeDiscordText}.
 *
 * discord.js `escapeMarkdown` leaves masked links, headings and lists alone by default (../README "Security";
 * Discord's markdown: https://support.discord.com/hc/en-us/articles/210298617), so a display name or spoken text
 * like `[Free Nitro](https://…)` would become a clickable link in Parley's own message. Every option is switched
 * on here, and mention syntax is neutralised as text as well: `allowedMentions: { parse: [] }` already stops
 * pings, and this stops `<@id>`, `<#id>`, `<@&id>` and `@everyone` from rendering as mentions at all.
 */
import { escapeMarkdown } from 'discord.js';

/** Zero-width space: breaks `@everyone`/`@here` without changing what a reader sees. */
const ZWSP = '\u200b';

/**
 * Escapes `text` so Discord renders it literally: no bold, italics, code, spoilers, strikethrough, headings,
 * lists, block quotes or masked links, and no mention of a user, role, channel, `@everyone` or `@here`.
 * Plain URLs stay as text Discord may still auto-link; masked links (`[text](url)`) never become links.
 *
 * @param text - untrusted text (speech, a display name, an LLM answer)
 * @returns the text to place inside Parley's own Markdown
 */
export function escapeDiscordText(text: string): string {
  const escaped = escapeMarkdown(text, {
    heading: true,
    bulletedList: true,
    numberedList: true,
    maskedLink: true,
  });
  return escaped
    // `<@123>`, `<@!123>`, `<@&123>`, `<#123>`, `</cmd:1>`: a zero-width space after the sigil shows it as text,
    // in Discord and in CommonMark (recap.md) alike.
    .replace(/<(@[!&]?|#|\/)(?=[\w-])/g, `<$1${ZWSP}`)
    .replace(/@(everyone|here)\b/gi, `@${ZWSP}$1`)
    // A line starting with `>` would become a block quote; one starting with `-#` small text.
    .replace(/^(\s*)>/gm, '$1\\>')
    .replace(/^(\s*)-#/gm, '$1\\-#')
    // A masked link inside a line (escapeMaskedLink only catches one spanning from the first `[`).
    .replace(/\]\(/g, ']\\(');
}
