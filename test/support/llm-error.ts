/** Awaiting an expected LLM failure in tests. */
import { expect } from 'vitest';
import { LlmError } from '../../src/llm/errors.ts';

/** Resolves with the `LlmError` the promise rejects with; fails the test if it resolves or rejects otherwise. */
export async function llmRejection(promise: Promise<unknown>): Promise<LlmError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(LlmError);
  return error as LlmError;
}
