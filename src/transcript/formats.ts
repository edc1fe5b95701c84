/**
 * Transcript files: JSON, Markdown, SubRip (SRT) and WebVTT. Subtitle cues are written by the `subtitle` library.
 */
import { stringifySync, type NodeList } from 'subtitle';
import type { TranscriptTurn } from './transcript.ts';
import type { Speaker } from '../captions/caption.ts';
import { escapeDiscordText } from '../text/discord-markdown.ts';
import { isSameLanguage } from '../translation/languages.ts';

/** The `transcript.json` document. Times are meeting time, ms. */
export interface TranscriptJson {
  speakers: Array<{ id: string; name: string }>;
  /** `language`: the code AssemblyAI detected for the turn, when detection is on. */
  turns: Array<{ speaker: string; start_ms: number; end_ms: number; text: string; language?: string; translations?: Record<string, string> }>;
}

/** Formats ms as `mm:ss.s` (or `h:mm:ss.s` past an hour), as shown in console captions. */
export function formatClock(ms: number): string {
  const tenths = Math.max(0, Math.round(ms / 100));
  const hours = Math.floor(tenths / 36_000);
  const minutes = Math.floor((tenths % 36_000) / 600);
  const seconds = ((tenths % 600) / 10).toFixed(1).padStart(4, '0');
  const mm = String(minutes).padStart(2, '0');
  return hours > 0 ? `${hours}:${mm}:${seconds}` : `${mm}:${seconds}`;
}

/** Builds `transcript.json`: speakers, then turns ordered by `start_ms`. */
export function toTranscriptJson(speakers: readonly Speaker[], turns: readonly TranscriptTurn[]): TranscriptJson {
  return {
    speakers: speakers.map((s) => ({ id: s.id, name: s.name })),
    turns: [...turns]
      .sort((a, b) => a.startMs - b.startMs)
      .map((t) => ({
        speaker: t.speaker.name,
        start_ms: t.startMs,
        end_ms: t.endMs,
        text: t.text,
        ...(t.languageCode === undefined ? {} : { language: t.languageCode }),
        ...(t.translations === undefined ? {} : { translations: t.translations }),
      })),
  };
}

/** Markdown: one line per turn, `**[mm:ss.s] Name:** text`, with translations indented beneath. */
export function toMarkdown(title: string, turns: readonly TranscriptTurn[]): string {
  const lines = [`# ${title}`, ''];
  for (const t of turns) {
    lines.push(`**[${formatClock(t.startMs)}] ${escapeDiscordText(t.speaker.name)}:** ${escapeDiscordText(t.text)}`);
    for (const [language, text] of Object.entries(t.translations ?? {})) lines.push(`  - _${language}:_ ${escapeDiscordText(text)}`);
    lines.push('');
  }
  return lines.join('\n');
}

function cues(turns: readonly TranscriptTurn[]): NodeList {
  return turns.map((t) => ({
    type: 'cue' as const,
    data: { start: t.startMs, end: Math.max(t.endMs, t.startMs + 1), text: `${t.speaker.name}: ${t.text}` },
  }));
}

/** SubRip subtitles, one cue per turn, `Name: text`. */
export function toSrt(turns: readonly TranscriptTurn[]): string {
  return stringifySync(cues(turns), { format: 'SRT' });
}

/** WebVTT subtitles, one cue per turn, `Name: text`. */
export function toVtt(turns: readonly TranscriptTurn[]): string {
  return stringifySync(cues(turns), { format: 'WebVTT' });
}

/**
 * Markdown of one language's translations: each turn's translation, its original when it was spoken in that
 * language, or its original marked as untranslated.
 */
export function toTranslatedMarkdown(title: string, language: string, turns: readonly TranscriptTurn[]): string {
  const lines = [`# ${title} (${language})`, ''];
  for (const t of turns) {
    const translated = t.translations?.[language];
    const original = escapeDiscordText(t.text);
    const text = translated !== undefined ? escapeDiscordText(translated) : isSameLanguage(t.languageCode, language) ? original : `${original} _(untranslated)_`;
    lines.push(`**[${formatClock(t.startMs)}] ${escapeDiscordText(t.speaker.name)}:** ${text}`, '');
  }
  return lines.join('\n');
}
