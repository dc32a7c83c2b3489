/**
 * The ledger on SQLite, in the `main` database: times are ISO 8601 text,
 * event ids an autoincrement key, and recording a migration is three
 * statements (SQLite has no data-modifying `WITH`; in-process statements cost
 * no round trip). Tables are named `"main".…`, so an attached database or a
 * temporary table of the same name never takes their place.
 *
 * @module
 */
import { type LedgerSql, ledgerTable, PHASE_COLUMN, quoteIdent } from "../dialect.ts";
import { sha256Hex } from "../../sha256.ts";

const ddl = (schema: string) => `
create table if not exists ${quoteIdent(schema)}.lockstep_migrations (
  id text primary key,
  package text not null,
  checksum text not null,
  applied_at text not null,
  duration_ms integer not null,
  action text not null check (action in ('applied', 'stamped', 'baseline')),
  code_version text,
  host text,
  ${PHASE_COLUMN}
);
create table if not exists ${quoteIdent(schema)}.lockstep_packages (
  package text primary key,
  version text not null,
  updated_at text not null
);
create table if not exists ${quoteIdent(schema)}.lockstep_schema (
  table_name text primary key,
  definition text not null,
  hash text not null,
  recorded_at text not null
);
create table if not exists ${quoteIdent(schema)}.lockstep_events (
  id integer primary key autoincrement,
  at text not null,
  kind text not null,
  migration text,
  message text not null,
  code_version text,
  host text
);`;

const hostsDdl = (schema: string) => `
create table if not exists ${quoteIdent(schema)}.lockstep_hosts (
  host text primary key,
  app text not null,
  code_version text,
  packs text not null default '{}',
  lockstep_version text not null,
  state text not null check (state in ('running', 'updating', 'stopped')),
  first_seen text not null,
  version_since text not null,
  last_seen text not null
);`;

/** The SQLite side of the ledger. */
export const sqliteLedger: LedgerSql = {
  ledgerDdlIn: ddl,
  ledgerDdl: ddl("main"),
  hostsDdlIn: hostsDdl,
  async hasLedger(sql) {
    return await this.hasLedgerTable(sql, "lockstep_migrations");
  },
  async ledgerFingerprint(sql) {
    const [row] = await sql.query(
      `select count(*) as n,
              group_concat(id || char(31) || package || char(31) || checksum || char(31) ||
                           action || char(31) || applied_at || char(31) ||
                           coalesce(code_version, '') || char(31) || coalesce(host, ''),
                           char(30) order by id) as rows
         from ${ledgerTable(sql, "lockstep_migrations")}`,
    );
    return await sha256Hex(`${row?.n}\u0000${row?.rows ?? ""}`);
  },
  async hasLedgerTable(sql, table) {
    const [row] = await sql.query(
      `select count(*) as present from ${quoteIdent(sql.ledgerSchema)}.sqlite_schema
        where type = 'table' and name = $1`,
      [table],
    );
    return Number(row?.present) > 0;
  },
  async ledgerColumns(sql, table) {
    const rows = await sql.query(
      `select name from pragma_table_info($1, $2)`,
      [table, sql.ledgerSchema],
    );
    return new Set(rows.map((r) => String(r.name)));
  },
  now: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
  ageSeconds: (column) => `(julianday('now') - julianday(${column})) * 86400.0`,
  async recordMigration(sql, r) {
    await sql.query(
      `insert into ${ledgerTable(sql, "lockstep_migrations")}
         (id, package, checksum, applied_at, duration_ms, action, code_version, host, phase)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        r.id,
        r.package,
        r.checksum,
        r.appliedAt,
        r.durationMs,
        r.action,
        r.codeVersion,
        r.host,
        r.phase,
      ],
    );
    await sql.query(
      `insert into ${
        ledgerTable(sql, "lockstep_packages")
      } (package, version, updated_at) values ($1, $2, $3)
       on conflict (package) do update set version = excluded.version, updated_at = excluded.updated_at`,
      [r.package, r.id, r.appliedAt],
    );
    await sql.query(
      `insert into ${
        ledgerTable(sql, "lockstep_events")
      } (at, kind, migration, message, code_version, host)
       values ($1, $2, $3, $4, $5, $6)`,
      [r.appliedAt, r.action, r.id, r.message, r.codeVersion, r.host],
    );
  },
};
