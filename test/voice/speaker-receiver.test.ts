/**
 * SpeakerReceiver's healing, on a real @discordjs/voice VoiceReceiver and real AudioReceiveStreams: streams that die
 * (as the library destroys them on a decrypt error) are re-subscribed; repeated failures escalate to the voice
 * link's recovery; a speaker who cannot be recovered is reported; a stalled stream is detected.
 */
import { describe, expect, it } from 'vitest';
import { VoiceReceiver, type VoiceConnection } from '@discordjs/voice';
import { silentLogger } from '../../src/log.ts';
import { SpeakerReceiver } from '../../src/voice/speaker-receiver.ts';

function setup(isAllowed: (userId: string) => boolean = () => true) {
  // The receiver only reads its connection while decrypting UDP packets, which these tests do not send.
  const receiver = new VoiceReceiver({} as VoiceConnection);
  const packets: Array<[string, Buffer]> = [];
  const events: string[] = [];
  const speakers = new SpeakerReceiver(receiver, {
    logger: silentLogger(),
    isAllowed,
    onPacket: (userId, packet) => packets.push([userId, packet]),
    maxResubscribes: 2,
    maxEscalations: 1,
    maxSilentStarts: 3,
  });
  speakers.on('resubscribed', (userId, reason) => events.push(`resubscribed ${userId} ${reason}`));
  speakers.on('repeatedFailure', (userId) => events.push(`repeatedFailure ${userId}`));
  speakers.on('speakerLost', (userId) => events.push(`speakerLost ${userId}`));
  /** A speaking start, as the library emits it when a user's first packet arrives after 100 ms of quiet. */
  const startSpeaking = (userId: string) => receiver.speaking.emit('start', userId);
  const streamOf = (userId: string) => receiver.subscriptions.get(userId);
  const kill = async (userId: string) => {
    const stream = streamOf(userId);
    if (stream === undefined) throw new Error(`no stream for ${userId}`);
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.destroy(new Error('Failed to decrypt a packet'));
    await closed;
  };
  return { receiver, speakers, packets, events, startSpeaking, streamOf, kill };
}

/** Lets stream events scheduled on the next tick run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SpeakerReceiver', () => {
  it('subscribes on speaking start and hands packets on, for allowed members only', async () => {
    const { speakers, packets, startSpeaking, streamOf } = setup((userId) => userId !== 'optedOut');
    startSpeaking('katie');
    startSpeaking('optedOut');
    expect(speakers.subscribedUserIds).toEqual(['katie']);
    expect(streamOf('optedOut')).toBeUndefined();
    streamOf('katie')?.push(Buffer.from([1, 2, 3]));
    await tick();
    expect(packets).toEqual([['katie', Buffer.from([1, 2, 3])]]);
  });

  it('re-subscribes a destroyed stream, escalates repeated failures, then reports the speaker lost', async () => {
    const { events, startSpeaking, streamOf, kill } = setup();
    startSpeaking('katie');
    const first = streamOf('katie');
    await kill('katie');
    expect(streamOf('katie')).toBeDefined();
    expect(streamOf('katie')).not.toBe(first);
    await kill('katie');
    expect(events).toEqual(['resubscribed katie stream closed', 'resubscribed katie stream closed']);
    await kill('katie'); // third failure in the window: past maxResubscribes
    expect(events.at(-1)).toBe('repeatedFailure katie');
    expect(streamOf('katie')).toBeDefined(); // still listening while the link recovers
    await kill('katie');
    await kill('katie');
    await kill('katie'); // failures pile up again after the one allowed escalation
    expect(events.at(-1)).toBe('speakerLost katie');
    expect(streamOf('katie')).toBeUndefined();
    startSpeaking('katie');
    expect(streamOf('katie')).toBeUndefined(); // lost until the link resets it
  });

  it('treats a member who keeps starting to speak with no audio arriving as a stalled stream', async () => {
    const { events, packets, startSpeaking, streamOf } = setup();
    startSpeaking('steve');
    const stalled = streamOf('steve');
    startSpeaking('steve');
    startSpeaking('steve');
    expect(events).toEqual([]);
    startSpeaking('steve'); // third start in a row without a packet
    await tick();
    expect(events).toEqual(['resubscribed steve stalled']);
    const fresh = streamOf('steve');
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(stalled);
    expect(fresh?.destroyed).toBe(false);
    fresh?.push(Buffer.from([9]));
    await tick();
    expect(packets).toEqual([['steve', Buffer.from([9])]]);
    startSpeaking('steve');
    startSpeaking('steve');
    expect(events).toHaveLength(1); // a packet reset the count
  });

  it('drop() and stop() unsubscribe without healing', async () => {
    const { speakers, events, startSpeaking, streamOf, receiver } = setup();
    startSpeaking('katie');
    startSpeaking('steve');
    speakers.drop('katie');
    await tick();
    expect(streamOf('katie')).toBeUndefined();
    speakers.stop();
    await tick();
    expect(receiver.subscriptions.size).toBe(0);
    expect(receiver.speaking.listenerCount('start')).toBe(0);
    expect(events).toEqual([]);
  });
});
