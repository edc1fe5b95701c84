/**
 * `/optout` mid-meeting, through the real bot and the Discord stand-in: the reply is deferred at once (Discord
 * allows 3 s), and the member's audio still queued for speech-to-text is dropped without being sent.
 */
import { InteractionResponseType } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS } from '../fakes/discord/stand-in.ts';
import { startWorld, type World } from './support/world.ts';
import { startInProcessBot, type InProcessBot } from './support/in-process.ts';
import { runCommand } from './support/commands.ts';
import { twoSpeakers } from './support/audio.ts';

const ids = DEFAULT_IDS;

describe('/optout', () => {
  let world: World;
  let bot: InProcessBot;
  /** While true, AssemblyAI refuses new sessions with 3009 (too many concurrent sessions), so audio queues. */
  let refusing = false;
  let refused = Promise.withResolvers<void>();

  beforeAll(async () => {
    world = await startWorld({
      stt: {
        onConnection: () => {
          if (!refusing) return undefined;
          refused.resolve();
          return { code: 3009, error: 'Unauthorized Connection: Too many concurrent sessions' };
        },
      },
    });
    bot = await startInProcessBot(world);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('defers its reply and drops the member\'s queued audio without sending it', async () => {
    const { standIn, stt } = world;
    const { right } = await twoSpeakers();
    await runCommand(standIn, { commandName: 'join', userId: ids.katieId });
    const sessionsBefore = stt.sessions.length;
    refusing = true;
    refused = Promise.withResolvers<void>();
    // Steve speaks while no session can take his audio: it waits in his queue.
    await standIn.memberSpeak(ids.steveId, right);
    await refused.promise;

    const payload = standIn.buildCommandInteraction({ commandName: 'optout', userId: ids.steveId });
    standIn.sendInteraction(payload);
    // AssemblyAI takes sessions again: nothing of Steve's may reach one now.
    refusing = false;
    const callback = await standIn.waitForRequest((r) => r.method === 'POST' && r.route === `/interactions/${payload.id}/${payload.token}/callback`);
    expect(callback.body).toMatchObject({ type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: 64 } });
    const answer = await standIn.waitForRequest((r) => r.method === 'PATCH' && r.route === `/webhooks/${standIn.applicationId}/${payload.token}/messages/@original`);
    expect(JSON.stringify(answer.body)).toContain('will not send your audio anywhere');

    await runCommand(standIn, { commandName: 'end', userId: ids.katieId });
    const opened = stt.sessions.slice(sessionsBefore).filter((s) => s.accepted);
    for (const session of opened) expect(session.audioMs).toBe(0);
    expect(stt.violations).toEqual([]);
    await runCommand(standIn, { commandName: 'optin', userId: ids.steveId });
  });
});
