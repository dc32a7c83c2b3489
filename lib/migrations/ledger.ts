/**
 * The ledger lockstep keeps in each database: which migrations were applied
 * (`lockstep_migrations`), each package's version (`lockstep_packages`), the
 * recorded schema (`lockstep_schema`) and an append-only event log
 * (`lockstep_events`).
 *
 * @module
 */
import type { Database, Dialect, Sql } from "../sql/driver.ts";
import type { LedgerRow } from "./types.ts";

/** The ledger table names, which lockstep never treats as application tables. */
export const LEDGER_TABLES = [
  "lockstep_migrations",
  "lockstep_packages",
  "lockstep_schema",
  "lockstep_events",
] as const;

function ddl(dialect: Dialect): string {
  const time = dialect === "postgres" ? "timestamptz" : "text";
  const serial = dialect === "postgres"
    ? "bigint generated always as identity primary key"
    : "integer primary key autoincrement";
  return `
create table if not exists lockstep_migrations (
  id text primary key,
  package text not null,
  checksum text not null,
  applied_at ${time} not null,
  duration_ms integer not null,
  action text not null check (action in ('applied', 'stamped', 'baseline')),
  code_version text,
  host text
);
create table if not exists lockstep_packages (
  package text primary key,
  version text not null,
  updated_at ${time} not null
);
create table if not exists lockstep_schema (
  table_name text primary key,
  definition text not null,
  hash text not null,
  recorded_at ${time} not null
);
create table if not exists lockstep_events (
  id ${serial},
  at ${time} not null,
  kind text not null,
  migration text,
  message text not null,
  code_version text,
  host text
);`;
}

/** Creates the ledger tables when missing (call with the migration lock held). */
export async function ensureLedger(db: Database): Promise<void> {
  if (await hasLedger(db)) return;
  await db.transaction((tx) => tx.exec(ddl(db.dialect)));
}

/** True when the database has a ledger. Reads only. */
export async function hasLedger(db: Sql): Promise<boolean> {
  const rows = db.dialect === "postgres"
    ? await db.query("select to_regclass('lockstep_migrations') is not null as present")
    : await db.query(
      "select count(*) as present from sqlite_schema where type = 'table' and name = 'lockstep_migrations'",
    );
  const present = rows[0]?.present;
  return present === true || Number(present) > 0;
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
  const now = new Date().toISOString();
  const message = `${row.action} ${row.id}`;
  const values = [
    row.id,
    row.package,
    row.checksum,
    now,
    row.durationMs,
    row.action,
    stamp.codeVersion,
    stamp.host,
  ];
  if (sql.dialect === "postgres") {
    // One round trip instead of three: this runs once per migration.
    await sql.query(
      `with m as (
         insert into lockstep_migrations
           (id, package, checksum, applied_at, duration_ms, action, code_version, host)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
       ), p as (
         insert into lockstep_packages (package, version, updated_at) values ($2, $1, $4)
         on conflict (package) do update set version = excluded.version, updated_at = excluded.updated_at
       )
       insert into lockstep_events (at, kind, migration, message, code_version, host)
       values ($4, $6, $1, $9, $7, $8)`,
      [...values, message],
    );
    return;
  }
  await sql.query(
    `insert into lockstep_migrations
       (id, package, checksum, applied_at, duration_ms, action, code_version, host)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    values,
  );
  await sql.query(
    `insert into lockstep_packages (package, version, updated_at) values ($1, $2, $3)
     on conflict (package) do update set version = excluded.version, updated_at = excluded.updated_at`,
    [row.package, row.id, now],
  );
  await recordEvent(sql, { kind: row.action, migration: row.id, message }, stamp);
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
