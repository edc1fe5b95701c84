import { randomBytes } from 'node:crypto';
import { VoiceReceiver } from '@discordjs/voice';
import { describe, expect, it } from 'vitest';
import { audioLevelExtension, encryptRtpPacket, ipDiscoveryResponse, parseIpDiscoveryRequest, rtpHeader } from './rtp.ts';

/**
 * Runs @discordjs/voice 0.19.2's own VoiceReceiver.parsePacket (decrypt, strip padding and header extension) on a
 * packet, with a receiver whose connection is not Ready so that no DAVE step applies.
 */
function libraryParse(packet: Buffer, secretKey: Uint8Array): Buffer {
  // parsePacket is private in the typings; it is the library's real code path for every received packet.
  const receiver = Object.create(VoiceReceiver.prototype) as {
    voiceConnection: unknown;
    parsePacket(buffer: Buffer, mode: string, nonce: Buffer, key: Uint8Array, userId: string): Buffer;
  };
  receiver.voiceConnection = { state: { status: 'signalling' } };
  return receiver.parsePacket(packet, 'aead_aes256_gcm_rtpsize', Buffer.alloc(12), secretKey, '1');
}

describe('RTP packets for aead_aes256_gcm_rtpsize', () => {
  const key = randomBytes(32);
  const opus = Buffer.from([0xfc, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x05]);

  it('decrypt with the library to the Opus payload, with a header extension', () => {
    const packet = encryptRtpPacket({ ssrc: 0x1234, sequence: 7, timestamp: 960, marker: true, extension: audioLevelExtension(), payload: opus }, key, 1);
    expect(packet.subarray(12, 14)).toEqual(Buffer.from([0xbe, 0xde]));
    expect(packet[0]).toBe(0x90);
    expect(packet[1]).toBe(0xf8);
    expect(packet.readUInt32BE(8)).toBe(0x1234);
    expect(libraryParse(packet, key)).toEqual(opus);
  });

  it('decrypt with the library to the Opus payload, without a header extension', () => {
    const packet = encryptRtpPacket({ ssrc: 99, sequence: 65535, timestamp: 2 ** 32 - 1, payload: opus }, key, 2 ** 32 - 1);
    expect(packet.length).toBe(12 + opus.length + 16 + 4);
    expect(packet.subarray(-4)).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(libraryParse(packet, key)).toEqual(opus);
  });

  it('fail authentication in the library when the header is altered (the header is the AAD)', () => {
    const packet = encryptRtpPacket({ ssrc: 5, sequence: 1, timestamp: 0, extension: audioLevelExtension(), payload: opus }, key, 3);
    packet[15] = (packet[15] ?? 0) ^ 0x01;
    expect(() => libraryParse(packet, key)).toThrow();
  });

  it('pad extension bodies to 32-bit words and count them in the preamble', () => {
    const header = rtpHeader({ ssrc: 1, sequence: 1, timestamp: 1, extension: Buffer.from([0x10, 0x01, 0x20, 0x02, 0x03]), payload: opus });
    expect(header.length).toBe(16);
    expect(header.readUInt16BE(14)).toBe(2);
  });
});

describe('IP discovery', () => {
  it('parses the 74-byte request and builds the response the library parses', () => {
    const request = Buffer.alloc(74);
    request.writeUInt16BE(1, 0);
    request.writeUInt16BE(70, 2);
    request.writeUInt32BE(4242, 4);
    expect(parseIpDiscoveryRequest(request)).toBe(4242);
    expect(parseIpDiscoveryRequest(Buffer.alloc(8))).toBeUndefined();
    const response = ipDiscoveryResponse(4242, '127.0.0.1', 50_123);
    expect(response.readUInt16BE(0)).toBe(2);
    expect(response.subarray(8, response.indexOf(0, 8)).toString()).toBe('127.0.0.1');
    expect(response.readUInt16BE(response.length - 2)).toBe(50_123);
  });
});
