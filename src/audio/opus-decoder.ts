/**
 * Decodes one speaker's Opus packets straight to 16 kHz mono PCM with libopus (opusscript, the decoder prism-media
 * loads). libopus resamples and downmixes inside the decoder (RFC 6716 §4: any Opus stream decodes at 8–48 kHz,
 * mono or stereo), so Parley does no DSP of its own.
 *
 * prism-media's `opus.Decoder` stream is not used on this path: a corrupt packet makes it emit an error and end
 * the pipe (prism-media 1.3.5 `src/opus/Opus.js`), and a stream hop would separate each packet from its arrival time. Calling the
 * same libopus binding directly, once per packet, lets a corrupt packet be skipped and counted.
 */
import OpusScript from 'opusscript';
import { STT_SAMPLE_RATE } from './format.ts';

/** Decodes Opus packets of one speaker; keeps the decoder state between packets, as Opus requires. */
export class OpusPacketDecoder {
  #opus: OpusScript | null = new OpusScript(STT_SAMPLE_RATE, 1, OpusScript.Application.AUDIO);
  /** Packets that failed to decode (corrupt, truncated, or still encrypted) and were skipped. */
  corruptPackets = 0;
  /** Packets decoded. */
  decodedPackets = 0;

  /**
   * Decodes one Opus packet.
   *
   * @returns 16 kHz s16le mono PCM (640 bytes for a 20 ms packet), or `null` if the packet is corrupt; a corrupt
   *   packet is counted in {@link corruptPackets} and never throws.
   * @throws {Error} if called after {@link destroy}.
   */
  decode(packet: Buffer): Buffer | null {
    if (this.#opus === null) throw new Error('OpusPacketDecoder used after destroy()');
    if (packet.length === 0) {
      this.corruptPackets++;
      return null;
    }
    try {
      const pcm = this.#opus.decode(packet);
      this.decodedPackets++;
      return pcm;
    } catch {
      this.corruptPackets++;
      return null;
    }
  }

  /** Frees libopus memory. Idempotent. */
  destroy(): void {
    this.#opus?.delete();
    this.#opus = null;
  }
}
