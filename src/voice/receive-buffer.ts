/**
 * A larger kernel receive buffer for the voice UDP socket.
 *
 * Every member's Opus packets arrive on one UDP socket, 50 a second each. Linux's default receive buffer
 * (`net.core.rmem_default`, 212,992 bytes) holds only about 270 such datagrams (each costs its kernel bookkeeping
 * besides its ~150 bytes), so with 40 members talking, the event loop pausing for about 130 ms (garbage collection,
 * a burst of decryption) overflows it and the kernel drops packets silently: measured here, about a quarter of 40
 * speakers' packets (`RcvbufErrors` in /proc/net/snmp), each a 20 ms hole in someone's speech. 4 MiB holds about
 * 2 s of 40 speakers. The kernel caps the request at `net.core.rmem_max`.
 *
 * @discordjs/voice 0.19 creates the socket itself (`VoiceUDPSocket`, a private `socket` field) and makes a new
 * one on every reconnect, so this runs on every transition to Ready.
 */
import type { Socket } from 'node:dgram';
import type { VoiceConnection } from '@discordjs/voice';
import type { Logger } from '../log.ts';

/** Requested receive buffer of the voice UDP socket, bytes. */
export const VOICE_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** The Ready state's UDP socket, where @discordjs/voice keeps it. */
function voiceSocket(connection: VoiceConnection): Socket | undefined {
  const state = connection.state as { networking?: { state?: { udp?: { socket?: Socket } } } };
  return state.networking?.state?.udp?.socket;
}

/**
 * Asks the kernel for {@link VOICE_RECEIVE_BUFFER_BYTES} on the connection's voice UDP socket. Never throws: a
 * socket that is not there (yet) or a refused size is logged at debug and the default stays.
 *
 * @returns the buffer size the kernel granted, bytes, or undefined when it could not be set.
 */
export function enlargeVoiceReceiveBuffer(connection: VoiceConnection, logger: Logger): number | undefined {
  const socket = voiceSocket(connection);
  if (socket === undefined) return undefined;
  try {
    if (socket.getRecvBufferSize() < VOICE_RECEIVE_BUFFER_BYTES) socket.setRecvBufferSize(VOICE_RECEIVE_BUFFER_BYTES);
    const granted = socket.getRecvBufferSize();
    logger.debug({ bytes: granted }, 'voice UDP receive buffer');
    return granted;
  } catch (error) {
    logger.debug({ err: (error as Error).message }, 'could not enlarge the voice UDP receive buffer');
    return undefined;
  }
}
