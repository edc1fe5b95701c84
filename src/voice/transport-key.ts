/**
 * The voice connection's transport key as a `KeyObject`, so decrypting a received packet does not rebuild it.
 *
 * @discordjs/voice 0.19 keeps the session's secret key as a `Uint8Array` (Networking, on op 4 Session Description:
 * `connectionData.secretKey`) and calls `crypto.createDecipheriv('aes-256-gcm', secretKey, nonce)` for every
 * packet it receives (`VoiceReceiver.decrypt`, and `createCipheriv` the same way for packets it sends). Given raw
 * bytes, Node's crypto turns them into a secret key object on each call; given a `KeyObject`, it uses it as is.
 * Measured with `node --cpu-prof` on the bench's bot path (bench/README.md): building the key was about a sixth of
 * the bot's CPU with 15 speakers; a bare AES-256-GCM decipher of a 120-byte packet costs about 40 µs with a
 * `Uint8Array` key and 10 µs with a `KeyObject` on the bench machine. Both accept the same key material, so
 * decryption is unchanged (Node docs, crypto.createDecipheriv: `key` may be a `KeyObject` of type `secret`).
 *
 * Only for `aead_aes256_gcm_rtpsize`: the other mode Discord offers (`aead_xchacha20_poly1305_rtpsize`) goes through
 * libsodium-style functions that need the bytes. The receiver reads the same `connectionData` object as the
 * networking state, so replacing its `secretKey` once per Session Description covers both directions; a resumed
 * session keeps the object, and a new Session Description brings raw bytes again, so this runs on every transition
 * to Ready (as {@link ./receive-buffer.ts} does for the socket).
 */
import { createSecretKey, KeyObject } from 'node:crypto';
import type { VoiceConnection } from '@discordjs/voice';
import type { Logger } from '../log.ts';

/** The transport encryption mode whose key Node's AES-GCM takes as a `KeyObject` (Discord voice docs, "Transport Encryption Modes"). */
export const AES_GCM_MODE = 'aead_aes256_gcm_rtpsize';

interface ConnectionData {
  encryptionMode?: string;
  secretKey?: Uint8Array | KeyObject;
}

/** The Ready networking state's connection data, where @discordjs/voice keeps it. */
function connectionDataOf(connection: VoiceConnection): ConnectionData | undefined {
  const state = connection.state as { networking?: { state?: { connectionData?: ConnectionData } } };
  return state.networking?.state?.connectionData;
}

/**
 * Replaces the connection's AES-256-GCM transport key bytes with an equal `KeyObject`. Never throws: another
 * mode, no key (yet), a key already replaced, or key material Node refuses leave the connection as it is.
 *
 * @returns true when the key was replaced now.
 */
export function useKeyObjectForTransport(connection: VoiceConnection, logger: Logger): boolean {
  const data = connectionDataOf(connection);
  const key = data?.secretKey;
  if (data === undefined || data.encryptionMode !== AES_GCM_MODE || !(key instanceof Uint8Array)) return false;
  try {
    data.secretKey = createSecretKey(key);
    return true;
  } catch (error) {
    logger.debug({ err: (error as Error).message }, 'could not make the voice transport key a KeyObject');
    return false;
  }
}
