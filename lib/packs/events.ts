/**
 * What an operator did to a pack, logged in the `lockstep_events` of the
 * pack's database (and so shown by `lockstep log`): who added it and when,
 * who removed it.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { ensureLedger, hasLedger, recordEvent } from "../migrations/ledger.ts";
import { openDatabase } from "../sql/open.ts";

/** Appends `event` to the event log of `database`, making its ledger when it has none. */
export async function recordPackEvent(
  config: Config,
  database: string,
  event: { kind: string; message: string },
  lockTimeoutMs: number,
): Promise<void> {
  const db = await openDatabase(config.databases[database]!);
  try {
    if (!(await hasLedger(db))) {
      const lock = await db.lock(lockTimeoutMs);
      try {
        await ensureLedger(db);
      } finally {
        await lock.release();
      }
    }
    const stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
    await recordEvent(db, event, stamp);
  } finally {
    await db.close();
  }
}

/** `alice (confirmed at a terminal) on host-a`: who consented, as the log records it. */
export function consentOf(by: string | undefined): string {
  const host = hostName();
  return `${by ?? "a program"}${host === null ? "" : ` on ${host}`}`;
}
