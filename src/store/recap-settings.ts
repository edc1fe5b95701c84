/**
 * Each guild's recap style: the built-in template (`recap/templates.ts`) and an optional custom prompt, set with
 * `/recap-template` and used at `/end` and by `/recap`. One row per guild that changed the default; a guild
 * without a row gets meeting notes. Reads go to the database each time: they happen once per recap.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { DEFAULT_RECAP_TEMPLATE, isRecapTemplateId, type RecapStyle, type RecapTemplateId } from '../recap/templates.ts';
import { optionalText, text } from './database.ts';

/** The guild's recap template and custom prompt, in table `guild_recap_style`. */
export class RecapSettingsStore {
  readonly #select: StatementSync;
  readonly #setTemplate: StatementSync;
  readonly #setPrompt: StatementSync;
  readonly #clearPrompt: StatementSync;

  /** @param db a connection from `openDatabase` (schema already migrated). */
  constructor(db: DatabaseSync) {
    this.#select = db.prepare('SELECT template, custom_prompt FROM guild_recap_style WHERE guild_id = ?');
    this.#setTemplate = db.prepare(
      'INSERT INTO guild_recap_style (guild_id, template) VALUES (?, ?) ON CONFLICT (guild_id) DO UPDATE SET template = excluded.template',
    );
    this.#setPrompt = db.prepare(
      'INSERT INTO guild_recap_style (guild_id, template, custom_prompt) VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET custom_prompt = excluded.custom_prompt',
    );
    this.#clearPrompt = db.prepare('UPDATE guild_recap_style SET custom_prompt = NULL WHERE guild_id = ? AND custom_prompt IS NOT NULL');
  }

  /** The guild's recap style; meeting notes with no custom prompt when it set none. */
  recapStyle(guildId: string): RecapStyle {
    const row = this.#select.get(guildId);
    if (row === undefined) return { template: DEFAULT_RECAP_TEMPLATE };
    const stored = text(row, 'template');
    const template: RecapTemplateId = isRecapTemplateId(stored) ? stored : DEFAULT_RECAP_TEMPLATE;
    const customPrompt = optionalText(row, 'custom_prompt');
    return customPrompt === undefined ? { template } : { template, customPrompt };
  }

  /** Sets the guild's template; its custom prompt, if any, stays. */
  setTemplate(guildId: string, template: RecapTemplateId): void {
    this.#setTemplate.run(guildId, template);
  }

  /**
   * Stores the guild's custom prompt, already validated (`validateCustomPrompt`); the template stays.
   *
   * @throws the database's error if the write fails.
   */
  setCustomPrompt(guildId: string, prompt: string): void {
    this.#setPrompt.run(guildId, DEFAULT_RECAP_TEMPLATE, prompt);
  }

  /** Removes the guild's custom prompt. @returns whether it had one. */
  clearCustomPrompt(guildId: string): boolean {
    return Number(this.#clearPrompt.run(guildId).changes) > 0;
  }
}
