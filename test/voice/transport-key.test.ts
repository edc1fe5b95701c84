/**
 * The voice transport key handed to @discordjs/voice as a KeyObject: the same packets decrypt to the same Opus
 * with @discordjs/voice's own receive decryption, and only the AES-256-GCM mode's raw key is replaced.
 */
import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { VoiceReceiver, type VoiceConnection } from '@discordjs/voice';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { AES_GCM_MODE, useKeyObjectForTransport } from '../../src/voice/transport-key.ts';
import { encryptRtpPacket, RTP_PAYLOAD_TYPE_OPUS } from '../fakes/discord/rtp.ts';

/** A connection in the Ready state as @discordjs/voice 0.19 holds it (only the fields the helper reads). */
function readyConnection(connectionData: Record<string, unknown>): VoiceConnection {
  return { state: { status: 'ready', networking: { state: { code: 4, connectionData } } } } as unknown as VoiceConnection;
}

/** @discordjs/voice's own receive decryption (VoiceReceiver.decrypt reads nothing from `this`). */
function libraryDecrypt(datagram: Buffer, key: Uint8Array | KeyObject): Buffer {
  const { decrypt } = VoiceReceiver.prototype as unknown as { decrypt: (buffer: Buffer, mode: string, nonce: Buffer, secretKey: Uint8Array | KeyObject) => Buffer };
  return decrypt.call(undefined, datagram, AES_GCM_MODE, Buffer.alloc(12), key);
}

describe('useKeyObjectForTransport', () => {
  it('replaces the AES-256-GCM key bytes with an equal KeyObject that decrypts the same packets to the same Opus', () => {
    const bytes = new Uint8Array(randomBytes(32));
    const data: Record<string, unknown> = { encryptionMode: AES_GCM_MODE, secretKey: bytes };
    expect(useKeyObjectForTransport(readyConnection(data), silentLogger())).toBe(true);
    const key = data['secretKey'];
    expect(key).toBeInstanceOf(KeyObject);
    expect((key as KeyObject).export().equals(Buffer.from(bytes))).toBe(true);
    for (let i = 0; i < 20; i++) {
      const opus = randomBytes(40 + i * 7);
      const datagram = encryptRtpPacket({ ssrc: 0x1234, sequence: i, timestamp: i * 960, marker: i === 0, payload: opus }, bytes, i);
      expect(datagram[1]! & 0x7f).toBe(RTP_PAYLOAD_TYPE_OPUS);
      expect(libraryDecrypt(datagram, key as KeyObject).equals(opus)).toBe(true);
      expect(libraryDecrypt(datagram, bytes).equals(opus)).toBe(true);
    }
  });

  it('leaves the XChaCha20 mode, a missing key and an already replaced key as they are', () => {
    const chacha = { encryptionMode: 'aead_xchacha20_poly1305_rtpsize', secretKey: new Uint8Array(32) };
    expect(useKeyObjectForTransport(readyConnection(chacha), silentLogger())).toBe(false);
    expect(chacha.secretKey).toBeInstanceOf(Uint8Array);
    expect(useKeyObjectForTransport(readyConnection({ encryptionMode: AES_GCM_MODE }), silentLogger())).toBe(false);
    const replaced = createSecretKey(randomBytes(32));
    const data = { encryptionMode: AES_GCM_MODE, secretKey: replaced };
    expect(useKeyObjectForTransport(readyConnection(data), silentLogger())).toBe(false);
    expect(data.secretKey).toBe(replaced);
    expect(useKeyObjectForTransport({ state: { status: 'signalling' } } as unknown as VoiceConnection, silentLogger())).toBe(false);
  });
});
