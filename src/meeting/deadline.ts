/**
 * Waiting on work only until a deadline: shutdown passes one `AbortSignal` down, and each step that may wait on a
 * peer (speech-to-text, the LLM Gateway, Discord) gives up when it fires instead of holding the process past it.
 */

/**
 * Resolves with `work`'s value, or with `undefined` once `signal` aborts (at once if it already has). `work`
 * keeps running; its later rejection is swallowed here (callers that care observe `work` themselves).
 *
 * @param signal undefined: no deadline, just `work`.
 */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return undefined;
  }
  const { promise, resolve } = Promise.withResolvers<undefined>();
  const onAbort = () => resolve(undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([work, promise]);
  } finally {
    signal.removeEventListener('abort', onAbort);
    work.catch(() => {});
  }
}
