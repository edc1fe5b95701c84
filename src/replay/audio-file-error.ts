/**
 * The one error replay's audio input throws: a recording that cannot be replayed, with a one-line message that
 * names the file.
 */

/** Why a file could not be read; `AudioFileError.reason`. */
export type AudioFileErrorReason = 'not-found' | 'unreadable' | 'unsupported' | 'truncated' | 'empty';

/**
 * A recording that cannot be replayed. `message` is one line that names the file, e.g.
 * `cannot read "x.wav": file not found`, `cannot read "x.mp3": unsupported format (expected WAV,
 * FLAC or Ogg Opus)`, `cannot read "x.flac": truncated or corrupt audio (decoded 1000 samples per
 * channel, header promises 485100)`. A library's own error, if any, is kept in `cause`, never in
 * the message.
 */
export class AudioFileError extends Error {
  override name = 'AudioFileError';
  /** The path as given to `openAudioFile`. */
  readonly path: string;
  /** Machine-readable category of the failure. */
  readonly reason: AudioFileErrorReason;

  /**
   * @param path - file path as given by the caller
   * @param reason - failure category
   * @param problem - the human-readable part after `cannot read "<path>": `
   * @param options - `cause`: the underlying error, kept for debugging
   */
  constructor(path: string, reason: AudioFileErrorReason, problem: string, options?: ErrorOptions) {
    super(`cannot read "${path}": ${problem}`, options);
    this.path = path;
    this.reason = reason;
  }
}

/** The start of every "truncated" message. */
export const CORRUPT = 'truncated or corrupt audio';

/** An open/read error as an {@link AudioFileError}. */
export function ioError(path: string, error: unknown): AudioFileError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new AudioFileError(path, 'not-found', 'file not found', { cause: error });
  if (code === 'EISDIR') return new AudioFileError(path, 'unreadable', 'is a directory, not an audio file', { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return new AudioFileError(path, 'unreadable', 'permission denied', { cause: error });
  return new AudioFileError(path, 'unreadable', `cannot open the file (${code ?? 'unknown error'})`, { cause: error });
}

