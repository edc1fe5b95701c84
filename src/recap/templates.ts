/**
 * Recap templates: what the recap is for (meeting notes, coaching feedback, a study session, a tabletop session,
 * a stand-up) and how its five answer fields are titled and filled. Every template answers with the same JSON
 * shape ({@link RECAP_JSON_SCHEMA} in `prompt.ts`), so validation, storage and rendering stay one code path; a
 * template only changes what the model is asked to put in each field and the headings readers see.
 *
 * A guild may instead store a custom prompt (at most {@link CUSTOM_PROMPT_MAX_CHARS} characters). It is placed
 * in the system prompt as the server's wishes, *before* the fixed rules on fencing, the JSON answer and plain
 * text, so it can change emphasis, tone and language but cannot remove the fence or the output limits.
 *
 * The coaching template follows AssemblyAI's tutorial "LLM Gateway after streaming" (a helpful coach: what went
 * well and areas to improve, each with exact quotes).
 */

/** Ids of the built-in templates. */
export const RECAP_TEMPLATE_IDS = ['notes', 'coach', 'study', 'tabletop', 'standup'] as const;

/** A built-in template id. */
export type RecapTemplateId = (typeof RECAP_TEMPLATE_IDS)[number];

/** The template used when a guild has chosen none: today's meeting notes. */
export const DEFAULT_RECAP_TEMPLATE: RecapTemplateId = 'notes';

/** Longest custom recap prompt, characters: room for a paragraph of wishes, not a second system prompt. */
export const CUSTOM_PROMPT_MAX_CHARS = 1_500;

/** Headings of the four list sections, as shown in the embeds and `recap.md`. */
export interface RecapHeadings {
  keyPoints: string;
  decisions: string;
  actionItems: string;
  openQuestions: string;
}

/** One recap template. */
export interface RecapTemplate {
  id: RecapTemplateId;
  /** Shown in `/recap-template show` and the command's choices. */
  name: string;
  /** One sentence on what the recap is for, the first line of the system prompt's task. */
  task: string;
  /** What the model puts in each answer field, in the field order of the JSON schema. */
  fields: { summary: string; key_points: string; decisions: string; action_items: string; open_questions: string };
  headings: RecapHeadings;
}

/** The headings of meeting notes; also used for any recap made before templates existed. */
export const DEFAULT_HEADINGS: RecapHeadings = { keyPoints: 'Key points', decisions: 'Decisions', actionItems: 'Action items', openQuestions: 'Open questions' };

const TEMPLATES: Record<RecapTemplateId, RecapTemplate> = {
  notes: {
    id: 'notes',
    name: 'Meeting notes',
    task: 'You write the recap of a voice meeting from its transcript.',
    fields: {
      summary: 'what the meeting was about and how it went, at most about 150 words.',
      key_points: 'the main points discussed, one short sentence each.',
      decisions: 'what was agreed or decided; an empty list when nothing was.',
      action_items: 'tasks someone is to do after the meeting.',
      open_questions: 'questions raised and left unanswered.',
    },
    headings: DEFAULT_HEADINGS,
  },
  coach: {
    id: 'coach',
    name: 'Coaching feedback',
    task: 'You are a helpful coach. From the transcript of a voice conversation, give each speaker feedback on how they communicated: what went well and the areas to improve, each backed by an exact quote.',
    fields: {
      summary: 'an overall impression of the conversation and how each speaker came across, at most about 150 words.',
      key_points: 'strengths: what a speaker did well, each as "Name: the strength — \\"exact quote\\"" with the quote copied word for word from the transcript.',
      decisions: 'areas to improve: each as "Name: what to improve — \\"exact quote\\"" with the quote copied word for word from the transcript, and how to say it better.',
      action_items: 'concrete exercises or habits to practise next time; the owner is the speaker it is for.',
      open_questions: 'questions a speaker could reflect on.',
    },
    headings: { keyPoints: 'Strengths', decisions: 'Areas to improve', actionItems: 'To practise', openQuestions: 'To reflect on' },
  },
  study: {
    id: 'study',
    name: 'Study session',
    task: 'You write study notes from the transcript of a study group\'s voice session.',
    fields: {
      summary: 'what was studied and how far the group got, at most about 150 words.',
      key_points: 'the concepts, definitions and facts explained, one short sentence each, as a student would revise them.',
      decisions: 'answers the group agreed on (exercises solved, how a problem is approached); an empty list when none.',
      action_items: 'what to review or practise before the next session; the owner only when someone took it on by name.',
      open_questions: 'questions the group could not answer and should ask a teacher or look up.',
    },
    headings: { keyPoints: 'Concepts', decisions: 'Answers agreed', actionItems: 'To review', openQuestions: 'Still unclear' },
  },
  tabletop: {
    id: 'tabletop',
    name: 'Tabletop session recap',
    task: 'You write the "previously on…" recap of a tabletop role-playing session from the transcript of the players\' voice chat.',
    fields: {
      summary: 'the story of the session in the past tense, as the game master would retell it, at most about 150 words.',
      key_points: 'the key events, encounters and discoveries, in order.',
      decisions: 'choices the party made that will matter later.',
      action_items: 'loose threads and what the party plans to do next session; the owner is the character or player who took it on, when named.',
      open_questions: 'mysteries and unanswered questions in the story.',
    },
    headings: { keyPoints: 'Key events', decisions: 'Choices made', actionItems: 'Next session', openQuestions: 'Mysteries' },
  },
  standup: {
    id: 'standup',
    name: 'Stand-up digest',
    task: 'You write the digest of a team stand-up from its transcript.',
    fields: {
      summary: 'the state of the team\'s work in two or three sentences.',
      key_points: 'what each person finished or progressed, as "Name: progress".',
      decisions: 'what each person plans next, as "Name: plan".',
      action_items: 'follow-ups someone took on during the stand-up.',
      open_questions: 'blockers and risks raised, as "Name: blocker".',
    },
    headings: { keyPoints: 'Done', decisions: 'Next', actionItems: 'Follow-ups', openQuestions: 'Blockers' },
  },
};

/** The built-in template of `id`. */
export function recapTemplate(id: RecapTemplateId): RecapTemplate {
  return TEMPLATES[id];
}

/** True if `value` names a built-in template. */
export function isRecapTemplateId(value: string): value is RecapTemplateId {
  return (RECAP_TEMPLATE_IDS as readonly string[]).includes(value);
}

/** What a recap is asked for: a built-in template, and optionally the guild's own wishes on top of it. */
export interface RecapStyle {
  template: RecapTemplateId;
  /** The guild's custom prompt, at most {@link CUSTOM_PROMPT_MAX_CHARS} characters; placed before the fixed rules. */
  customPrompt?: string;
}

/**
 * Checks a custom prompt as a guild typed it.
 *
 * @returns the prompt with whitespace tidied, or a plain-words reason it cannot be used.
 */
export function validateCustomPrompt(text: string): { ok: true; prompt: string } | { ok: false; reason: string } {
  const prompt = text.replace(/\r\n?/g, '\n').replace(/[ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();
  if (prompt === '') return { ok: false, reason: 'The prompt is empty.' };
  if (prompt.length > CUSTOM_PROMPT_MAX_CHARS) {
    return { ok: false, reason: `The prompt has ${prompt.length} characters; at most ${CUSTOM_PROMPT_MAX_CHARS} are allowed.` };
  }
  return { ok: true, prompt };
}
