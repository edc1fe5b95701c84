/**
 * Audio formats on Parley's data path.
 *
 * Discord delivers Opus packets of 20 ms at 48 kHz stereo (Discord voice docs). AssemblyAI Streaming v3 takes
 * raw PCM, signed 16-bit little-endian, mono, at the `sample_rate` we declare, in binary frames of 50–1000 ms
 * (AssemblyAI Streaming v3 API reference). libopus decodes straight to 16 kHz mono, so no resampling is done here.
 */

/** Sample rate sent to AssemblyAI, Hz. */
export const STT_SAMPLE_RATE = 16_000;
/** Bytes per sample of pcm_s16le mono. */
export const BYTES_PER_SAMPLE = 2;
/** Duration of one Discord Opus packet, ms. */
export const OPUS_PACKET_MS = 20;
/** Duration of one PCM frame sent to AssemblyAI, ms: the protocol's minimum, for the lowest added latency. */
export const PCM_FRAME_MS = 50;
/** Bytes in one {@link PCM_FRAME_MS} frame at {@link STT_SAMPLE_RATE}: 1,600. */
export const PCM_FRAME_BYTES = (STT_SAMPLE_RATE / 1000) * PCM_FRAME_MS * BYTES_PER_SAMPLE;

/** Converts a byte count of 16 kHz s16le mono PCM to ms. */
export function pcmBytesToMs(bytes: number): number {
  return (bytes / BYTES_PER_SAMPLE / STT_SAMPLE_RATE) * 1000;
}

/** Converts ms of 16 kHz s16le mono PCM to a whole, even byte count. */
export function msToPcmBytes(ms: number): number {
  return Math.round((ms * STT_SAMPLE_RATE) / 1000) * BYTES_PER_SAMPLE;
}

/**
 * One PCM frame on its way to speech-to-text: {@link PCM_FRAME_BYTES} bytes of 16 kHz s16le mono.
 */
export interface PcmFrame {
  /** Exactly {@link PCM_FRAME_BYTES} bytes. */
  pcm: Buffer;
  /** Meeting time of the frame's first sample, ms. */
  meetingStartMs: number;
  /** True when any of it came from the speaker's packets; false for silence filled in by Parley. */
  speech: boolean;
}
