/**
 * Why a backup or a restore of a PostgreSQL database stopped, worded for the
 * operator: the connection was lost (`DATABASE_UNREACHABLE`), a table lock
 * was waited for too long (`LOCK_HELD`, naming the sessions that hold locks,
 * read on a connection of its own), a permission is missing, or the error
 * as it was.
 *
 * @module
 */
import { explainPermission, LockstepError } from "../../errors.ts";
import { redact } from "../../redact.ts";
import type { LockHolder } from "../locks.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { connect } from "./client.ts";
import {
  isConnectionLoss,
  isLockTimeout,
  lockTimedOut,
  lostConnection,
  readLockHolders,
} from "./faults.ts";

/** The error to throw for a dump or restore of `db` that failed with `error`. */
export async function explainDumpFailure(
  db: DatabaseConfig,
  error: unknown,
  lockTimeoutMs: number | null,
): Promise<unknown> {
  if (error instanceof LockstepError) return error;
  if (isConnectionLoss(error)) return lostConnection(db.name, redact(db.url), error);
  if (isLockTimeout(error)) return lockTimedOut(db.name, lockTimeoutMs, await holdersOf(db), error);
  return explainPermission(error, `reach database "${db.name}"`);
}

/** The sessions holding locks on application tables of `db`, read on a connection of their own. */
export async function holdersOf(db: DatabaseConfig): Promise<LockHolder[]> {
  let client;
  try {
    client = await connect(db);
  } catch (error) {
    if (error instanceof LockstepError) return [];
    throw error;
  }
  try {
    return await readLockHolders(client);
  } finally {
    await client.end({ timeout: 1 });
  }
}
