/**
 * The one wording of a feed that is refused: `Cannot accept feed "<where>":
 * <reason>. The feed saved before is kept; nothing was downloaded.`, with the
 * place and the reason (and any other facts) in `data`.
 *
 * @module
 */
import { type ErrorCode, LockstepError } from "../errors.ts";

/** The `LockstepError` for a feed index (or its signature) that is refused. */
export function feedError(
  code: ErrorCode,
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
): LockstepError {
  return new LockstepError(
    code,
    `Cannot accept feed "${where}": ${reason}. The feed saved before is kept; nothing was ` +
      `downloaded.`,
    { data: { feed: where, reason, ...data } },
  );
}

/** Throws {@link feedError}. */
export function refuseFeed(
  code: ErrorCode,
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
): never {
  throw feedError(code, where, reason, data);
}

/**
 * Untrusted text (notes, database lines, advisories) may hold no control
 * characters but line feeds and tabs, and no bidirectional overrides: signed
 * is not safe, and a terminal or a page must show it as it reads.
 */
// deno-lint-ignore no-control-regex
export const UNSAFE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
