/**
 * Stopping at a safe point: a changing command given an `AbortSignal`
 * (the CLI aborts it on SIGINT or SIGTERM) looks at it between its steps,
 * between migrations and before a journal is applied, and stops there:
 * the current transaction rolled back, the journal consistent, and what the
 * run changed undone as after any failure.
 *
 * @module
 */
import { LockstepError } from "./errors.ts";

/**
 * Throws `INTERRUPTED` when `signal` was aborted; `where` says where it
 * stopped (`before step install`).
 */
export function stopIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal === undefined || !signal.aborted) return;
  const what = typeof signal.reason === "string" ? signal.reason : "an interrupt";
  throw new LockstepError("INTERRUPTED", `Stopped ${where}: ${what} was received.`, {
    data: { signal: what, where },
  });
}
