/** Synthetic speech stand-ins for tests: tones encoded as the Opus packets a Discord client sends. */
import OpusScript from 'opusscript';

/**
 * `count` 20 ms Opus packets of a continuous tone, 48 kHz stereo (Discord's format).
 *
 * @param frequencyHz - tone frequency; default 440 Hz.
 * @param amplitude - peak sample value (of 32,767); default 8,000.
 */
export function tonePackets(count: number, frequencyHz = 440, amplitude = 8_000): Buffer[] {
  const encoder = new OpusScript(48_000, 2, OpusScript.Application.VOIP);
  const packets: Buffer[] = [];
  for (let p = 0; p < count; p++) {
    const pcm = Buffer.alloc(960 * 4);
    for (let i = 0; i < 960; i++) {
      const v = Math.round(amplitude * Math.sin((2 * Math.PI * frequencyHz * (p * 960 + i)) / 48_000));
      pcm.writeInt16LE(v, i * 4);
      pcm.writeInt16LE(v, i * 4 + 2);
    }
    packets.push(Buffer.from(encoder.encode(pcm, 960)));
  }
  encoder.delete();
  return packets;
}
