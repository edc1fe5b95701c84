/**
 * Reading the requests the bot made to the fake LLM Gateway: translations (schema `caption_translations`) and
 * recaps (schema `meeting_recap`).
 */
import type { RecordedRequest } from '../../fakes/llm-server.ts';
import { translationPayload } from '../../fakes/llm-server.ts';

interface ChatBody {
  model?: string;
  messages?: Array<{ role: string; content: string }>;
  response_format?: { json_schema?: { name?: string } };
}

function chat(request: RecordedRequest): ChatBody {
  return (request.body ?? {}) as ChatBody;
}

/** The model a request asked for. */
export function modelOf(request: RecordedRequest): string {
  return chat(request).model ?? '';
}

/** True for a caption translation request. */
export function isTranslation(request: RecordedRequest): boolean {
  return chat(request).response_format?.json_schema?.name === 'caption_translations';
}

/** True for a recap request. */
export function isRecap(request: RecordedRequest): boolean {
  return chat(request).response_format?.json_schema?.name === 'meeting_recap';
}

/** The turns a translation request carried: their text and target languages. */
export function translatedTurns(request: RecordedRequest): Array<{ text: string; translate_to: string[] }> {
  return translationPayload(request.body)?.turns ?? [];
}

/** The content of the request's messages of one role, joined. */
export function messagesOf(request: RecordedRequest, role: 'system' | 'user'): string {
  return (chat(request).messages ?? []).filter((m) => m.role === role).map((m) => m.content).join('\n');
}
