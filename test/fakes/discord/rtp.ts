/**
 * RTP packets as Discord's SFU forwards them to a receiving client, transport-encrypted with
 * `aead_aes256_gcm_rtpsize` (discord-api-docs Voice "Transport Encryption Modes", "Voice Packet Structure").
 *
 * Derived from @discordjs/voice 0.19.2's VoiceReceiver.decrypt / parsePacket (node_modules/@discordjs/voice/dist/index.js):
 * - the unencrypted header is 12 bytes, plus 4 when the X bit (0x10 of byte 0) is set: the RTP header extension
 *   preamble (0xBEDE + length in 32-bit words) is part of the header and of the AAD ("rtpsize", as in SRTP);
 * - the extension body (length × 4 bytes) is encrypted together with the Opus payload, and the library strips it
 *   after decryption;
 * - the packet ends with the 16-byte GCM tag and then a 4-byte nonce suffix; the 12-byte GCM nonce is those 4 bytes
 *   followed by 8 zero bytes (the library copies them to the start of a zeroed 12-byte buffer);
 * - the payload type must be 0x78 (120) and the RTP version 2.
 */
import { createCipheriv } from 'node:crypto';

/** RTP payload type of Opus on Discord. */
export const RTP_PAYLOAD_TYPE_OPUS = 0x78;
/** The Opus silence frame clients send five times before they stop (discord-api-docs Voice "Voice Data Interpolation"). */
export const SILENCE_FRAME: Buffer = Buffer.from([0xf8, 0xff, 0xfe]);
/** The only transport mode the stand-in implements. */
export const AES_GCM_RTPSIZE = 'aead_aes256_gcm_rtpsize';

/** One RTP packet before encryption. */
export interface RtpPacketInit {
  ssrc: number;
  /** 16-bit sequence number. */
  sequence: number;
  /** 32-bit timestamp at 48 kHz (+960 per 20 ms frame). */
  timestamp: number;
  /** The marker bit: first packet of a talkspurt. */
  marker?: boolean;
  /** One-byte-header extension elements (RFC 8285), without the 0xBEDE preamble; padded to 32-bit words. */
  extension?: Buffer;
  /** The Opus packet. */
  payload: Buffer;
}

/**
 * A header extension body like the one clients attach: element id 1 (ssrc-audio-level, RFC 6464), one byte
 * (voice-activity bit set, level 30 dBov), padded to a 32-bit word.
 */
export function audioLevelExtension(): Buffer {
  return Buffer.from([0x10, 0x80 | 30, 0x00, 0x00]);
}

/** The unencrypted header: 12 fixed bytes (version 2, no padding, no CSRC) plus the extension preamble if any. */
export function rtpHeader(init: RtpPacketInit): Buffer {
  const extension = init.extension && init.extension.length > 0 ? padToWords(init.extension) : undefined;
  const header = Buffer.alloc(extension ? 16 : 12);
  header[0] = 0x80 | (extension ? 0x10 : 0);
  header[1] = (init.marker ? 0x80 : 0) | RTP_PAYLOAD_TYPE_OPUS;
  header.writeUInt16BE(init.sequence & 0xffff, 2);
  header.writeUInt32BE(init.timestamp >>> 0, 4);
  header.writeUInt32BE(init.ssrc >>> 0, 8);
  if (extension) {
    header.writeUInt16BE(0xbede, 12);
    header.writeUInt16BE(extension.length / 4, 14);
  }
  return header;
}

/**
 * Encrypts one packet with AES-256-GCM: `header ‖ ciphertext(extension body ‖ opus) ‖ tag(16) ‖ nonce(4, big-endian)`,
 * AAD = the header, nonce = the 32-bit counter big-endian followed by 8 zero bytes.
 */
export function encryptRtpPacket(init: RtpPacketInit, secretKey: Uint8Array, nonceCounter: number): Buffer {
  const header = rtpHeader(init);
  const extension = init.extension && init.extension.length > 0 ? padToWords(init.extension) : Buffer.alloc(0);
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(nonceCounter >>> 0, 0);
  const cipher = createCipheriv('aes-256-gcm', secretKey, nonce);
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(Buffer.concat([extension, init.payload])), cipher.final()]);
  return Buffer.concat([header, ciphertext, cipher.getAuthTag(), nonce.subarray(0, 4)]);
}

function padToWords(buffer: Buffer): Buffer {
  const padding = (4 - (buffer.length % 4)) % 4;
  return padding === 0 ? buffer : Buffer.concat([buffer, Buffer.alloc(padding)]);
}

/** IP discovery response (discord-api-docs Voice "IP Discovery"): type 2, length 70, SSRC, address (NUL-padded 64 bytes), port. */
export function ipDiscoveryResponse(ssrc: number, address: string, port: number): Buffer {
  const packet = Buffer.alloc(74);
  packet.writeUInt16BE(2, 0);
  packet.writeUInt16BE(70, 2);
  packet.writeUInt32BE(ssrc >>> 0, 4);
  packet.write(address, 8, 63, 'utf8');
  packet.writeUInt16BE(port, 72);
  return packet;
}

/** Parses an IP discovery request (type 1, length 70); returns its SSRC, or undefined for other packets. */
export function parseIpDiscoveryRequest(packet: Buffer): number | undefined {
  if (packet.length !== 74 || packet.readUInt16BE(0) !== 1 || packet.readUInt16BE(2) !== 70) return undefined;
  return packet.readUInt32BE(4);
}
