/** Test helper: the ModelMoraError a promise rejects with (fails the test on anything else). */
import { ModelMoraError } from "../../src/errors.ts";

export async function rejection(promise: Promise<unknown>): Promise<ModelMoraError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ModelMoraError)) throw new Error(`expected a ModelMoraError, got ${String(error)}`);
  return error;
}
