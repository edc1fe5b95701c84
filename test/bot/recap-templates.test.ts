/**
 * Recap templates through the real bot: `/recap-template` (Manage Server) picks the guild's template or stores a
 * custom prompt; `/end` writes the recap in it; `/recap template:` writes a past meeting's recap anew. The fake
 * gateway answers the coaching template as a model following it would, quoting lines word for word, so the
 * posted recap's quotes can be checked against the transcript.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand, subcommand } from './support/commands.ts';
import { waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { sayingRecognizer } from './support/turns.ts';
import { isRecap, messagesOf } from './support/llm.ts';

const ids = DEFAULT_IDS;

describe('recap templates through the bot', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: sayingRecognizer('Um so I think we maybe should ship it on Friday') } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('only Manage Server may change the template; a custom prompt is bounded and shown back escaped', async () => {
    const { standIn } = world;
    const refused = await runCommand(standIn, { commandName: 'recap-template', userId: ids.steveId, options: subcommand('set', { template: 'coach' }) });
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toMatch(/needs the Manage Server permission/);

    const tooLong = await runCommand(standIn, { commandName: 'recap-template', userId: ids.katieId, options: subcommand('custom', { prompt: 'x'.repeat(1_501) }) });
    expect(tooLong.ephemeral).toBe(true);
    expect(tooLong.content).toMatch(/1501 characters; at most 1500/);

    const saved = await runCommand(standIn, { commandName: 'recap-template', userId: ids.katieId, options: subcommand('custom', { prompt: 'Be kind. [click](https://evil.example) @everyone' }) });
    expect(saved.content).toMatch(/^Saved\./);
    const shown = await runCommand(standIn, { commandName: 'recap-template', userId: ids.katieId, options: subcommand('show') });
    expect(shown.content).toContain('Template: **Meeting notes**.');
    expect(shown.content).toContain('Be kind. \\[click]\\(https://evil.example) @\u200beveryone');
    const cleared = await runCommand(standIn, { commandName: 'recap-template', userId: ids.katieId, options: subcommand('clear-custom') });
    expect(cleared.content).toBe('The custom instructions are removed.');
  });

  it('with the coaching template, /end posts feedback whose quotes are words from the transcript', async () => {
    const { standIn, llm } = world;
    const set = await runCommand(standIn, { commandName: 'recap-template', userId: ids.katieId, options: subcommand('set', { template: 'coach' }) });
    expect(set.content).toContain('**Coaching feedback**');

    const from = standIn.requests.length;
    const llmFrom = llm.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.steveId });
    const { right } = await twoSpeakers();
    await standIn.memberSpeak(ids.steveId, right);
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('**Steve:** Um so I think'));
    await runCommand(standIn, { commandName: 'end', userId: ids.steveId });
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));

    const recapRequest = llm.requests.slice(llmFrom).find(isRecap);
    expect(messagesOf(recapRequest!, 'system')).toMatch(/^You are a helpful coach/);
    const files = new Map(report.files.map((f) => [f.name, f.data.toString('utf8')]));
    const recapMd = files.get('recap.md') ?? '';
    expect(recapMd).toContain('## Strengths');
    expect(recapMd).toContain('## Areas to improve');
    const transcript = JSON.parse(files.get('transcript.json') ?? '{}') as { turns: Array<{ text: string }> };
    const quotes = [...recapMd.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    expect(quotes.length).toBeGreaterThan(0);
    for (const quote of quotes) expect(transcript.turns.map((t) => t.text)).toContain(quote);
    const fields = ((report.body as { embeds?: Array<{ fields?: Array<{ name: string }> }> }).embeds ?? []).flatMap((e) => e.fields ?? []).map((f) => f.name);
    expect(fields).toContain('Strengths');
  });

  it('/recap template: writes the past meeting anew in that template', async () => {
    const { standIn, llm } = world;
    const from = standIn.requests.length;
    const llmFrom = llm.requests.length;
    const reply = await runCommand(standIn, {
      commandName: 'recap',
      userId: ids.katieId,
      options: [{ type: ApplicationCommandOptionType.String, name: 'template', value: 'standup' }],
    });
    expect(reply.content).toMatch(/^Posted the recap of meeting #\d+\.$/);
    const recapRequest = llm.requests.slice(llmFrom).find(isRecap);
    expect(messagesOf(recapRequest!, 'system')).toMatch(/^You write the digest of a team stand-up/);
    const posted = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('📝 Recap of meeting'));
    const recapMd = new Map(posted.files.map((f) => [f.name, f.data.toString('utf8')])).get('recap.md') ?? '';
    expect(recapMd).toContain('## Done');
    expect(recapMd).toContain('## Blockers');
  });
});
