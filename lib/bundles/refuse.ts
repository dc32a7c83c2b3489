/**
 * The one wording of a bundle that cannot be used: `Cannot use bundle
 * "<file>": <reason>. Nothing was changed.`, with the file and the reason
 * (and any other facts) in `data`.
 *
 * @module
 */
import { type ErrorCode, LockstepError } from "../errors.ts";

/** The `LockstepError` for a bundle that cannot be used. */
export function bundleError(
  code: ErrorCode,
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
): LockstepError {
  return new LockstepError(code, `Cannot use bundle "${where}": ${reason}. Nothing was changed.`, {
    data: { bundle: where, reason, ...data },
  });
}

/** Throws {@link bundleError}. */
export function refuse(
  code: ErrorCode,
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
): never {
  throw bundleError(code, where, reason, data);
}
