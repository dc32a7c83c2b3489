/**
 * The ledger lockstep keeps in each database: which migrations were applied
 * (`lockstep_migrations`), each package's version (`lockstep_packages`), the
 * recorded schema (`lockstep_schema`) and an append-only event log
 * (`lockstep_events`). What differs between databases (the DDL, how a
 * migration's rows are written) is the dialect's `LedgerSql`.
 *
 * @module
 */
import type { Database, Sql } from "../sql/driver.ts";
import { dialectOf } from "../sql/dialects.ts";
import type { LedgerRow } from "./types.ts";

/** Creates the ledger tables when missing (call with the migration lock held). */
export async function ensureLedger(db: Database): Promise<void> {
  if (await hasLedger(db)) return;
  await db.transaction((tx) => tx.exec(dialectOf(db).ledgerDdl));
}

/** True when the database has a ledger. Reads only. */
export async function hasLedger(db: Sql): Promise<boolean> {
  return await dialectOf(db).hasLedger(db);
}

/** Every ledger row of `db`, oldest first; empty when there is no ledger. Reads only. */
export async function readLedger(db: Database): Promise<LedgerRow[]> {
  if (!(await hasLedger(db))) return [];
  return await readRows(db, db.name);
}

/** The ledger rows, read inside a transaction or on a database known to have a ledger. */
export async function readRows(sql: Sql, database: string): Promise<LedgerRow[]> {
  const rows = await sql.query(
    `select id, package, checksum, applied_at, duration_ms, action, code_version, host
       from lockstep_migrations order by applied_at, id`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    package: String(r.package),
    checksum: String(r.checksum),
    appliedAt: r.applied_at instanceof Date ? r.applied_at.toISOString() : String(r.applied_at),
    durationMs: Number(r.duration_ms),
    action: r.action as LedgerRow["action"],
    codeVersion: r.code_version === null ? null : String(r.code_version),
    host: r.host === null ? null : String(r.host),
    database,
  }));
}

/** Who and what version recorded a change. */
export interface Stamp {
  readonly codeVersion: string | null;
  readonly host: string | null;
}

/** Records one applied (or stamped, or baselined) migration and its package's version. */
export async function recordMigration(
  sql: Sql,
  row: {
    id: string;
    package: string;
    checksum: string;
    durationMs: number;
    action: LedgerRow["action"];
  },
  stamp: Stamp,
): Promise<void> {
  await dialectOf(sql).recordMigration(sql, {
    ...row,
    appliedAt: new Date().toISOString(),
    codeVersion: stamp.codeVersion,
    host: stamp.host,
    message: `${row.action} ${row.id}`,
  });
}

/** Replaces the recorded checksum of an applied migration (the operator accepted the change). */
export async function acceptChecksum(
  sql: Sql,
  id: string,
  checksum: string,
  stamp: Stamp,
): Promise<void> {
  await sql.query("update lockstep_migrations set checksum = $1 where id = $2", [checksum, id]);
  await recordEvent(sql, {
    kind: "checksum-accepted",
    migration: id,
    message: `accepted the changed file of ${id} (now ${checksum})`,
  }, stamp);
}

/**
 * Forgets every ledger row of `pkg` (its migrations and its version), after
 * its migrations were undone (`pack remove --purge`), and logs why.
 */
export async function forgetPackage(
  sql: Sql,
  pkg: string,
  event: { kind: string; message: string },
  stamp: Stamp,
): Promise<void> {
  await sql.query("delete from lockstep_migrations where package = $1", [pkg]);
  await sql.query("delete from lockstep_packages where package = $1", [pkg]);
  await recordEvent(sql, event, stamp);
}

/** Appends to `lockstep_events`. */
export async function recordEvent(
  sql: Sql,
  event: { kind: string; migration?: string; message: string },
  stamp: Stamp,
): Promise<void> {
  await sql.query(
    `insert into lockstep_events (at, kind, migration, message, code_version, host)
     values ($1, $2, $3, $4, $5, $6)`,
    [
      new Date().toISOString(),
      event.kind,
      event.migration ?? null,
      event.message,
      stamp.codeVersion,
      stamp.host,
    ],
  );
}

/** The events of `db`, oldest first (for status and tests). */
export async function readEvents(
  db: Database,
): Promise<{ at: string; kind: string; migration: string | null; message: string }[]> {
  if (!(await hasLedger(db))) return [];
  const rows = await db.query(
    "select at, kind, migration, message from lockstep_events order by id",
  );
  return rows.map((r) => ({
    at: r.at instanceof Date ? r.at.toISOString() : String(r.at),
    kind: String(r.kind),
    migration: r.migration === null ? null : String(r.migration),
    message: String(r.message),
  }));
}
