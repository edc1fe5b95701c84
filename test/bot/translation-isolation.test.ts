/**
 * Two guilds translating at once through the real bot and one shared translator: every translation request to the
 * fake LLM Gateway carries captions of one guild only, and a guild whose request is held by the gateway does not
 * hold up the other guild's translations.
 */
import { ChannelType } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, DEFAULT_IDS, defaultGuildSpec, type GuildSpec } from '../fakes/discord/stand-in.ts';
import { createGate } from '../fakes/llm-server.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { twoSpeakers, withPauses } from './support/audio.ts';
import { closedSessions, finalsOf, turnNamingRecognizer } from './support/turns.ts';
import { captionLines, textOf } from './support/messages.ts';
import { isTranslation, translatedTurns } from './support/llm.ts';

const ids = DEFAULT_IDS;

/** A second guild with its own member, voice channel and caption channel; Parley is in it too. */
const OTHER = {
  guildId: '1309000000000000800',
  botRoleId: '1309000000000000801',
  voiceChannelId: '1309000000000000802',
  textChannelId: '1309000000000000803',
  oliveId: '1309000000000000804',
} as const;

function otherGuildSpec(): GuildSpec {
  return {
    id: OTHER.guildId,
    name: 'Other Guild',
    ownerId: OTHER.oliveId,
    everyonePermissions: DEFAULT_EVERYONE_PERMISSIONS,
    botRolePermissions: DEFAULT_BOT_PERMISSIONS,
    botRoleId: OTHER.botRoleId,
    channels: [
      { id: OTHER.voiceChannelId, name: 'Lounge', type: ChannelType.GuildVoice },
      { id: OTHER.textChannelId, name: 'general', type: ChannelType.GuildText },
    ],
    members: [{ id: OTHER.oliveId, username: 'olive', globalName: 'Olive', voiceChannelId: OTHER.voiceChannelId }],
  };
}

/** The caption text of a line `**Name:** text`. */
describe('translation across guilds', () => {
  let world: World;
  let bot: InProcessBot;

  beforeAll(async () => {
    world = await startWorld({ stt: { recognizer: turnNamingRecognizer }, standIn: { guilds: [defaultGuildSpec(), otherGuildSpec()] } });
    bot = await startInProcessBot(world, { STT_IDLE_CLOSE_MS: '2000' });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('never puts two guilds’ captions in one request, and one guild’s stalled request does not hold up the other', async () => {
    const { standIn, stt, llm } = world;
    const { left, right } = await twoSpeakers();
    // The gateway holds the first translation request (whichever guild's it is) until the other guild is translated.
    const gate = createGate();
    llm.script({ hold: gate.promise });
    const from = standIn.requests.length;
    const sessionsBefore = stt.sessions.length;
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId, options: { languages: 'es,de' } });
    await runCommand(standIn, { commandName: 'join', guildId: OTHER.guildId, userId: OTHER.oliveId, options: { languages: 'fr' } });
    await Promise.all([standIn.memberSpeak(ids.katieId, withPauses(left, 800, 300)), standIn.memberSpeak(OTHER.oliveId, withPauses(right, 800, 300))]);
    const finals = (await closedSessions(stt, sessionsBefore, 2)).flatMap(finalsOf);
    expect(finals.length).toBeGreaterThanOrEqual(4);
    const home = new Set<string>();
    const other = new Set<string>();
    // Each guild's captions, as posted in its own caption channel.
    await standIn.waitForRequest(() => {
      home.clear();
      other.clear();
      for (const line of captionLines(standIn, ids.textChannelId, from)) home.add(textOf(line));
      for (const line of captionLines(standIn, OTHER.textChannelId, from)) other.add(textOf(line));
      return home.size + other.size >= finals.length;
    });
    expect(home.size).toBeGreaterThan(0);
    expect(other.size).toBeGreaterThan(0);

    // Every turn of the guild whose request is not held gets translated while the other's is still held.
    const held = llm.requests.find(isTranslation);
    expect(held?.respondedAt).toBeUndefined();
    const heldGuild = home.has(translatedTurns(held!)[0]?.text ?? '') ? home : other;
    const freeGuild = heldGuild === home ? other : home;
    await standIn.waitForRequest(() => llm.requests.filter(isTranslation).flatMap(translatedTurns).filter((turn) => freeGuild.has(turn.text)).length >= freeGuild.size);
    expect(held?.respondedAt).toBeUndefined();
    gate.open();
    await standIn.waitForRequest(() => llm.requests.filter(isTranslation).flatMap(translatedTurns).length >= finals.length);
    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    await runCommand(standIn, { commandName: 'end', guildId: OTHER.guildId, userId: OTHER.oliveId });

    const requests = llm.requests.filter(isTranslation);
    expect(requests.flatMap(translatedTurns).map((turn) => turn.text).sort()).toEqual([...finals].sort());
    for (const request of requests) {
      const texts = translatedTurns(request).map((turn) => turn.text);
      const guilds = new Set(texts.map((text) => (home.has(text) ? 'home' : other.has(text) ? 'other' : 'unknown')));
      expect(guilds.size, `request ${request.index}: ${texts.join(' | ')}`).toBe(1);
      // Nothing of the other guild anywhere in the request: not its captions, not its languages.
      const raw = JSON.stringify(request.body);
      const foreign = guilds.has('home') ? other : home;
      for (const text of foreign) expect(raw).not.toContain(text);
      for (const turn of translatedTurns(request)) expect(turn.translate_to).toEqual(guilds.has('home') ? ['es', 'de'] : ['fr']);
    }
  });
});
