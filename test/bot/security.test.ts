/**
 * Secrets, mentions and permissions, on the real bot process (`node src/main.ts`) logging at trace level through
 * a whole meeting with translation: no secret reaches its output or anything it sends to Discord, even when the
 * LLM Gateway echoes the key in its error; nothing it posts or edits can ping; settings that need Manage Server
 * are refused to a member without it, from the permissions Discord computed for the interaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS, defaultGuildSpec, type RecordedRequest } from '../fakes/discord/stand-in.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { isMessageWrite } from './support/commands.ts';
import { sayingRecognizer } from './support/turns.ts';
import { TEST_API_KEY } from '../support/pipeline-harness.ts';
import { TEST_DISCORD_TOKEN, startWorld, type World } from './support/world.ts';
import { startBotProcess, type BotProcess } from './support/child.ts';
import { runCommand, subcommand, type CommandReply } from './support/commands.ts';
import { expectNoMentionsAnywhere, waitForChannelPost } from './support/messages.ts';
import { twoSpeakers } from './support/audio.ts';
import { turnNamingRecognizer } from './support/turns.ts';
import { threadsCreated, waitForThreadEntries } from './support/threads.ts';

const ids = DEFAULT_IDS;
/** The LLM Gateway key, distinct from the AssemblyAI key so that each can be traced. */
const LLM_KEY = 'parley-llm-gateway-key-5f3a9c0e71';

function expectRefused(reply: CommandReply, phrase: string): void {
  expect(reply.ephemeral).toBe(true);
  expect(reply.content).toContain(phrase);
}

describe('secrets, mentions and permissions', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer } });
    bot = await startBotProcess(world, { LOG_LEVEL: 'trace', LLM_API_KEY: LLM_KEY, STT_IDLE_CLOSE_MS: '2000' });
  });

  afterAll(async () => {
    if (bot !== undefined && bot.child.exitCode === null && bot.child.signalCode === null) {
      bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await world?.close();
  });

  it('refuses /languages set and /keyterms add to a member without Manage Server; nothing is stored', async () => {
    const { standIn } = world;
    // Steve's interaction carries the permissions Discord computed from his roles: no Manage Server.
    const payload = standIn.buildCommandInteraction({ commandName: 'languages', userId: ids.steveId });
    expect(BigInt(payload.member.permissions) & (1n << 5n)).toBe(0n);

    expectRefused(await runCommand(standIn, { commandName: 'languages', userId: ids.steveId, options: subcommand('set', { codes: 'fr' }) }), 'Manage Server');
    expectRefused(await runCommand(standIn, { commandName: 'keyterms', userId: ids.steveId, options: subcommand('add', { terms: 'Siobhan' }) }), 'Manage Server');
    expectRefused(await runCommand(standIn, { commandName: 'join', userId: ids.steveId, options: { languages: 'fr' } }), 'Manage Server');

    // Anyone may list: nothing changed.
    expect((await runCommand(standIn, { commandName: 'languages', userId: ids.steveId, options: subcommand('list') })).content).toBe(
      'No translation languages. Add some with `/languages set es,de`.',
    );
    expect((await runCommand(standIn, { commandName: 'keyterms', userId: ids.katieId, options: subcommand('list') })).content).toBe(
      'No keyterms yet. Add some with `/keyterms add`.',
    );
    // Katie owns the guild: the same change is hers to make.
    expect((await runCommand(standIn, { commandName: 'languages', userId: ids.katieId, options: subcommand('set', { codes: 'es,de' }) })).content).toContain('Español (es), Deutsch (de)');
  });

  it('logs at trace level without any secret, even when the gateway echoes its key; every message it posted or edited pings no one', async () => {
    const { standIn, stt, llm } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    // The gateway fails the first translation three times, quoting the key it was sent in its error message.
    const echo = { status: 500, body: { message: `Internal error for key ${LLM_KEY}`, request_id: 'req_echo' } };
    llm.script(echo, echo, echo);

    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    await standIn.waitForRequest(() => threadsCreated(standIn, ids.textChannelId).length >= 2);
    await Promise.all(threadsCreated(standIn, ids.textChannelId).map((thread) => waitForThreadEntries(standIn, thread.id, from, 2)));
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));
    const told = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⚠️ Translations are unavailable right now'));

    // Each secret was in use, where it belongs.
    expect(llm.requests.every((r) => r.headers.authorization === LLM_KEY)).toBe(true);
    expect(stt.sessions.length).toBeGreaterThan(0);
    expect(stt.sessions.every((s) => s.headers.authorization === TEST_API_KEY)).toBe(true);
    expect(standIn.requests.some((r) => r.headers.authorization === `Bot ${TEST_DISCORD_TOKEN}`)).toBe(true);
    expect(JSON.stringify(told.body)).toContain('[redacted]');

    // The whole output, at trace level (transcript text included), holds none of them.
    const output = bot.output();
    expect(output).toContain('"msg":"caption"');
    expect(output).toContain('req_echo');
    for (const secret of [TEST_DISCORD_TOKEN, TEST_API_KEY, LLM_KEY]) {
      expect(output).not.toContain(secret);
      for (const request of standIn.requests) expect(JSON.stringify({ body: request.body, files: request.files.map((f) => f.data.toString('utf8')) })).not.toContain(secret);
      for (const request of llm.requests) expect(JSON.stringify(request.body)).not.toContain(secret);
    }
    // Notices, live edits, captions, thread translations, the report and every interaction reply.
    expectNoMentionsAnywhere(standIn);
  });
});

/** Markdown a member controls: display names and speech. */
const LINK_NICK = '[Nitro](https://x.co/a)';
const HEADING_NICK = '# Boss __vip__';
const SPOKEN = '[Free Nitro](https://evil.example/claim) ## now';

/** A masked link Discord would render: `[text](` with neither bracket escaped. */
const MASKED_LINK = /(?<!\\)\[[^\]\n]*(?<!\\)\]\(/;

/** Every text Parley wrote: message contents (channels, threads, interaction replies), embeds, and Markdown files. */
function writtenTexts(requests: readonly RecordedRequest[]): Array<{ where: string; text: string }> {
  const texts: Array<{ where: string; text: string }> = [];
  for (const request of requests.filter(isMessageWrite)) {
    const body = (request.body ?? {}) as { content?: string; embeds?: unknown[]; data?: { content?: string; embeds?: unknown[] } };
    const message = request.route.startsWith('/interactions/') ? (body.data ?? {}) : body;
    if (message.content !== undefined) texts.push({ where: request.route, text: message.content });
    for (const embed of message.embeds ?? []) texts.push({ where: `${request.route} embed`, text: JSON.stringify(embed) });
    for (const file of request.files.filter((f) => f.name.endsWith('.md'))) texts.push({ where: file.name, text: file.data.toString('utf8') });
  }
  return texts;
}

describe('names and speech made of Markdown and link syntax', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    const guild = defaultGuildSpec();
    guild.members = (guild.members ?? []).map((m) => ({ ...m, nick: m.id === ids.steveId ? LINK_NICK : HEADING_NICK }));
    world = await startWorld({ standIn: { guilds: [guild] }, stt: { recognizer: sayingRecognizer(SPOKEN) } });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('posts them as text: no masked link, heading or mention in captions, live edits, threads, /status, the report and its files', async () => {
    const { standIn } = world;
    const { left, right } = await twoSpeakers();
    const from = standIn.requests.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es' } });
    await Promise.all([standIn.memberSpeak(ids.katieId, left), standIn.memberSpeak(ids.steveId, right)]);
    const caption = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.includes('Free Nitro'));
    const status = await runCommand(standIn, { commandName: 'status', userId: ids.katieId });
    await standIn.waitForRequest(() => threadsCreated(standIn, ids.textChannelId, from).length >= 1);
    await waitForThreadEntries(standIn, threadsCreated(standIn, ids.textChannelId, from)[0]!.id, from, 1);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const report = await waitForChannelPost(standIn, ids.textChannelId, from, (c) => c.startsWith('⏹️ Captioning has ended.'));

    // What was said and who said it is all there, shown literally.
    expect(caption.responseBody).toMatchObject({ mentions: [] });
    expect(status.content).toContain('Nitro');
    expect(status.content).toContain('Boss');
    expect(report.files.map((f) => f.name)).toEqual(expect.arrayContaining(['transcript.md', 'transcript.es.md']));
    const texts = writtenTexts(standIn.requests.slice(from));
    expect(texts.some((t) => t.text.includes('Free Nitro'))).toBe(true);
    expect(texts.some((t) => t.text.includes('x.co/a'))).toBe(true);
    for (const { where, text } of texts) {
      expect({ where, link: MASKED_LINK.exec(text)?.[0] }).toEqual({ where, link: undefined });
      expect({ where, heading: /^#{1,3} (Boss|now)/m.exec(text)?.[0] }).toEqual({ where, heading: undefined });
    }
    expectNoMentionsAnywhere(standIn);
  });
});
