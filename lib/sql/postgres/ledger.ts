/**
 * The ledger on PostgreSQL, in the first managed schema: times are
 * `timestamptz`, event ids an identity column, and recording a migration is
 * one round trip (three inserts in one statement, through data-modifying
 * `WITH`): it runs once per migration. Every table is named qualified, so a
 * migration's `search_path` never changes which table a statement reaches.
 *
 * @module
 */
import { type LedgerSql, ledgerTable, PHASE_COLUMN, quoteIdent } from "../dialect.ts";

function ddl(schema: string): string {
  const s = quoteIdent(schema);
  const literal = `'${s.replaceAll("'", "''")}'`;
  return `
do $lockstep$ begin
  -- The first managed schema may be made by a later migration: make it now.
  if to_regnamespace(${literal}) is null then create schema ${s}; end if;
end $lockstep$;
create table if not exists ${s}.lockstep_migrations (
  id text primary key,
  package text not null,
  checksum text not null,
  applied_at timestamptz not null,
  duration_ms integer not null,
  action text not null check (action in ('applied', 'stamped', 'baseline')),
  code_version text,
  host text,
  ${PHASE_COLUMN}
);
create table if not exists ${s}.lockstep_packages (
  package text primary key,
  version text not null,
  updated_at timestamptz not null
);
create table if not exists ${s}.lockstep_schema (
  table_name text primary key,
  definition text not null,
  hash text not null,
  recorded_at timestamptz not null
);
create table if not exists ${s}.lockstep_events (
  id bigint generated always as identity primary key,
  at timestamptz not null,
  kind text not null,
  migration text,
  message text not null,
  code_version text,
  host text
);`;
}

function hostsDdl(schema: string): string {
  return `
create table if not exists ${quoteIdent(schema)}.lockstep_hosts (
  host text primary key,
  app text not null,
  code_version text,
  packs text not null default '{}',
  lockstep_version text not null,
  state text not null check (state in ('running', 'updating', 'stopped')),
  first_seen timestamptz not null,
  version_since timestamptz not null,
  last_seen timestamptz not null
);`;
}

/** The PostgreSQL side of the ledger. */
export const postgresLedger: LedgerSql = {
  ledgerDdlIn: ddl,
  ledgerDdl: ddl("public"),
  hostsDdlIn: hostsDdl,
  async hasLedger(sql) {
    return await this.hasLedgerTable(sql, "lockstep_migrations");
  },
  async ledgerFingerprint(sql) {
    const [row] = await sql.query(
      `select count(*) as n,
              md5(string_agg(id || chr(31) || package || chr(31) || checksum || chr(31) ||
                             action || chr(31) || applied_at::text || chr(31) ||
                             coalesce(code_version, '') || chr(31) || coalesce(host, ''),
                             chr(30) order by id)) as rows
         from ${ledgerTable(sql, "lockstep_migrations")}`,
    );
    return `${row?.n}:${row?.rows ?? ""}`;
  },
  async hasLedgerTable(sql, table) {
    const [row] = await sql.query(
      "select pg_catalog.to_regclass($1) is not null as present",
      [ledgerTable(sql, table)],
    );
    return row?.present === true;
  },
  async ledgerColumns(sql, table) {
    const rows = await sql.query(
      `select attname from pg_catalog.pg_attribute
        where attrelid = pg_catalog.to_regclass($1) and attnum > 0 and not attisdropped`,
      [ledgerTable(sql, table)],
    );
    return new Set(rows.map((r) => String(r.attname)));
  },
  now: "pg_catalog.now()",
  ageSeconds: (column) => `extract(epoch from (pg_catalog.now() - ${column}))::float8`,
  async recordMigration(sql, r) {
    await sql.query(
      `with m as (
         insert into ${ledgerTable(sql, "lockstep_migrations")}
           (id, package, checksum, applied_at, duration_ms, action, code_version, host, phase)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $10)
       ), p as (
         insert into ${
        ledgerTable(sql, "lockstep_packages")
      } (package, version, updated_at) values ($2, $1, $4)
         on conflict (package) do update set version = excluded.version, updated_at = excluded.updated_at
       )
       insert into ${ledgerTable(sql, "lockstep_events")}
         (at, kind, migration, message, code_version, host)
       values ($4, $6, $1, $9, $7, $8)`,
      [
        r.id,
        r.package,
        r.checksum,
        r.appliedAt,
        r.durationMs,
        r.action,
        r.codeVersion,
        r.host,
        r.message,
        r.phase,
      ],
    );
  },
};
