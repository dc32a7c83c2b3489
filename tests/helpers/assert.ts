/**
 * Assertions for the tests, on `node:assert` (no JSR here), plus helpers
 * that assert on an error's stable `code`, never its message.
 *
 * @module
 */
import { deepStrictEqual, match, ok, throws } from "node:assert/strict";
import { LockstepError } from "../../mod.ts";

export {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
  throws as assertThrows,
};

/** Awaits `promise`, asserts it rejects with a `LockstepError`, and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<LockstepError> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof LockstepError)) throw error;
    deepStrictEqual(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  throw new Error(`expected a LockstepError ${code}, but it resolved`);
}

/** Calls `fn`, asserts it throws a `LockstepError`, and returns that error. */
export function throwsWith(fn: () => unknown, code: string): LockstepError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof LockstepError)) throw error;
    deepStrictEqual(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  throw new Error(`expected a LockstepError ${code}, but it returned`);
}
