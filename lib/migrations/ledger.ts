/**
 * The ledger lockstep keeps in each database: which migrations were applied
 * (`lockstep_migrations`), each package's version (`lockstep_packages`), the
 * recorded schema (`lockstep_schema`) and an append-only event log
 * (`lockstep_events`). What differs between databases (the DDL, how a
 * migration's rows are written) is the dialect's `LedgerSql`. Every statement
 * names its table with `ledgerTable()` (schema-qualified), so what a
 * migration does to the session's `search_path` never changes its meaning.
 *
 * @module
 */
import { ledgerTable, PHASE_COLUMN } from "../sql/dialect.ts";
import type { Database, Sql } from "../sql/driver.ts";
import { dialectOf } from "../sql/dialects.ts";
import type { LedgerRow, Phase } from "./types.ts";

/**
 * Creates the ledger tables when missing, and brings a ledger an older
 * lockstep made up to date (the `phase` column); call with the migration
 * lock held. The host registry is made by the first host that registers.
 */
export async function ensureLedger(db: Database): Promise<void> {
  const dialect = dialectOf(db);
  if (!(await hasLedger(db))) {
    await db.transaction((tx) => tx.exec(dialect.ledgerDdlIn(db.ledgerSchema)));
    return;
  }
  if (!(await dialect.ledgerColumns(db, "lockstep_migrations")).has("phase")) {
    await db.transaction((tx) =>
      tx.exec(`alter table ${ledgerTable(db, "lockstep_migrations")} add column ${PHASE_COLUMN}`)
    );
  }
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

/**
 * The ledger rows, read inside a transaction or on a database known to have
 * a ledger. A ledger from before phases were recorded reads as `expand`.
 */
export async function readRows(sql: Sql, database: string): Promise<LedgerRow[]> {
  // `*`: a ledger an older lockstep made has no phase column until the next migrate.
  const rows = await sql.query(
    `select * from ${ledgerTable(sql, "lockstep_migrations")} order by applied_at, id`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    package: String(r.package),
    checksum: String(r.checksum),
    appliedAt: r.applied_at instanceof Date ? r.applied_at.toISOString() : String(r.applied_at),
    durationMs: Number(r.duration_ms),
    action: r.action as LedgerRow["action"],
    phase: r.phase === "contract" ? "contract" : "expand",
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
    phase: Phase;
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
  await sql.query(
    `update ${ledgerTable(sql, "lockstep_migrations")} set checksum = $1 where id = $2`,
    [checksum, id],
  );
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
    `insert into ${ledgerTable(sql, "lockstep_events")}
       (at, kind, migration, message, code_version, host)
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
    `select at, kind, migration, message from ${ledgerTable(db, "lockstep_events")} order by id`,
  );
  return rows.map((r) => ({
    at: r.at instanceof Date ? r.at.toISOString() : String(r.at),
    kind: String(r.kind),
    migration: r.migration === null ? null : String(r.migration),
    message: String(r.message),
  }));
}
