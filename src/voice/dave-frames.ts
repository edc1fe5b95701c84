/**
 * Recognising DAVE protocol frames (discord/dave-protocol `protocol.md`, "Payload Format" and "Protocol Frame
 * Check"): a media frame end-to-end encrypted by DAVE ends with its supplemental data (8-byte truncated AES-GCM
 * tag, ULEB128 nonce, ULEB128 unencrypted ranges), one byte giving that data's size including itself and the
 * marker, and the magic marker 0xFAFA.
 */

/** Smallest supplemental data: 8-byte tag, 1-byte nonce, size byte, 2-byte marker. */
const MIN_SUPPLEMENTAL_BYTES = 12;
/** The Opus silence frame, which DAVE passes through untransformed (protocol.md "Silence Packets"). */
const SILENCE_FRAME = Buffer.from([0xf8, 0xff, 0xfe]);

/**
 * Whether `frame` passes the protocol frame check: ends with 0xFAFA after a plausible supplemental size. Such a
 * frame is ciphertext plus a trailer; handed to an Opus decoder it is noise or a decode error, never speech.
 */
export function isDaveProtocolFrame(frame: Uint8Array): boolean {
  const length = frame.length;
  if (length < MIN_SUPPLEMENTAL_BYTES + 1) return false;
  if (frame[length - 1] !== 0xfa || frame[length - 2] !== 0xfa) return false;
  const supplemental = frame[length - 3] ?? 0;
  return supplemental >= MIN_SUPPLEMENTAL_BYTES && supplemental < length;
}

/** Whether `frame` is the 3-byte Opus silence frame. */
export function isSilenceFrame(frame: Uint8Array): boolean {
  return frame.length === 3 && SILENCE_FRAME.equals(frame);
}
