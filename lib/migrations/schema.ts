/**
 * Schema drift: the definition of every managed table, read from the
 * database's own catalog and normalised, recorded in `lockstep_schema` in the
 * transaction of the last migration of each run, and compared with the live
 * schema by `check` and `migrate`.
 *
 * A table's definition is canonical JSON of its items: columns, indexes,
 * constraints and triggers by name (and, on SQLite, the `CREATE TABLE` text,
 * which alone carries CHECK and FOREIGN KEY clauses). Comparing items by name
 * is what lets a report say "column users.nickname added" rather than
 * "table users changed".
 *
 * Whether the record describes what the migrations produced is decided by
 * the event log, not by clocks: the record is current when no migration was
 * applied, stamped or baselined after the last `schema-recorded` event.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { LockstepError } from "../errors.ts";
import type { Database, Sql } from "../sql/driver.ts";
import type { Connections } from "./connections.ts";
import { hasLedger, LEDGER_TABLES, recordEvent, type Stamp } from "./ledger.ts";

/** The parts of a table that drift is reported on. */
export type ItemKind = "column" | "index" | "constraint" | "trigger";

/** One table's items: kind → name → normalised definition text. */
interface TableItems {
  /** SQLite's normalised `CREATE TABLE` text (PostgreSQL has none: its items say it all). */
  definition?: string;
  column: Record<string, string>;
  index: Record<string, string>;
  constraint: Record<string, string>;
  trigger: Record<string, string>;
}

/** A table as recorded: its canonical definition and that text's SHA-256. */
export interface TableRecord {
  /** Canonical JSON of the table's items. */
  readonly definition: string;
  /** Hex SHA-256 of `definition`. */
  readonly hash: string;
}

/** One difference between the recorded and the live schema. */
export interface DriftChange {
  /** The table (`schema.table` on PostgreSQL). */
  readonly table: string;
  /**
   * `table` (the whole table was added or removed), `definition` (SQLite's
   * table text changed, and no column, index or trigger explains it), or the
   * kind of item that changed.
   */
  readonly kind: "table" | "definition" | ItemKind;
  /** The item's name (the table's, for `table` and `definition`). */
  readonly name: string;
  /** What happened to it outside migrations. */
  readonly change: "added" | "removed" | "changed";
  /** Its recorded definition, or `null` when it was added. */
  readonly recorded: string | null;
  /** Its live definition, or `null` when it was removed. */
  readonly live: string | null;
}

/**
 * How a database's live schema compares with its record: `current` (the
 * record describes what migrations produced; `changes` are drift),
 * `unrecorded` (never recorded) or `stale` (migrations ran after the last
 * record, in a run that did not finish: the next migrate records it).
 */
export interface SchemaState {
  /** The configured database name. */
  readonly database: string;
  /** See above; `changes` is empty unless this is `current`. */
  readonly record: "current" | "stale" | "unrecorded";
  /** Every difference, tables in name order. */
  readonly changes: readonly DriftChange[];
}

const KINDS: readonly ItemKind[] = ["column", "index", "constraint", "trigger"];
const LEDGER: ReadonlySet<string> = new Set(LEDGER_TABLES);

/**
 * Reads every managed table's definition: on SQLite the main database's
 * tables, on PostgreSQL the tables of `schemas`. Ledger tables are left out.
 * On PostgreSQL it must run inside a transaction (it pins `search_path` for
 * the catalog functions with `set local`, then puts it back).
 */
export async function readSchema(
  sql: Sql,
  schemas: readonly string[],
): Promise<Map<string, TableRecord>> {
  const tables = sql.dialect === "postgres"
    ? await readPostgres(sql, schemas)
    : await readSqlite(sql);
  const out = new Map<string, TableRecord>();
  for (const name of [...tables.keys()].sort()) {
    const definition = canonical(tables.get(name)!);
    out.set(name, { definition, hash: createHash("sha256").update(definition).digest("hex") });
  }
  return out;
}

/** The recorded hash of each table in `lockstep_schema`. */
async function recordedHashes(sql: Sql): Promise<Map<string, string>> {
  const rows = await sql.query("select table_name, hash from lockstep_schema");
  return new Map(rows.map((r) => [String(r.table_name), String(r.hash)]));
}

/**
 * The record as {@link diffSchema} needs it: every table's hash, and the
 * definition only of the tables whose live hash differs (at start-up that is
 * usually none, so the definitions are not read).
 */
async function readRecorded(
  sql: Sql,
  live: ReadonlyMap<string, TableRecord>,
): Promise<Map<string, TableRecord>> {
  const hashes = await recordedHashes(sql);
  const differ = [...hashes].filter(([name, hash]) => live.get(name)?.hash !== hash)
    .map(([name]) => name);
  const definitions = new Map<string, string>();
  if (differ.length > 0) {
    const rows = await sql.query(
      `select table_name, definition from lockstep_schema
        where table_name in (select value from ${jsonRows(sql, "$1", "text")})`,
      [JSON.stringify(differ)],
    );
    for (const r of rows) definitions.set(String(r.table_name), String(r.definition));
  }
  return new Map(
    [...hashes].map(([name, hash]) => [name, { hash, definition: definitions.get(name) ?? "" }]),
  );
}

/** Whether the record is current, stale or missing (see {@link SchemaState}). */
export async function recordState(sql: Sql): Promise<SchemaState["record"]> {
  const [row] = await sql.query(
    `select (select max(id) from lockstep_events where kind = 'schema-recorded') as recorded,
            (select max(id) from lockstep_events
              where kind in ('applied', 'stamped', 'baseline')) as changed`,
  );
  if (row?.recorded === null || row?.recorded === undefined) return "unrecorded";
  if (row.changed !== null && Number(row.changed) > Number(row.recorded)) return "stale";
  return "current";
}

/**
 * Compares the live schema of a database that has a ledger with its record.
 * Reads only; on PostgreSQL call it inside a (read-only) transaction.
 */
export async function schemaState(
  sql: Sql,
  database: string,
  schemas: readonly string[],
): Promise<SchemaState> {
  const record = await recordState(sql);
  if (record !== "current") return { database, record, changes: [] };
  const live = await readSchema(sql, schemas);
  const changes = diffSchema(await readRecorded(sql, live), live);
  return { database, record, changes };
}

/**
 * The schema state of every used database that has a ledger (a SQLite file
 * that does not exist yet has nothing to compare). Reads only.
 */
export async function schemaStates(connections: Connections): Promise<SchemaState[]> {
  const states: SchemaState[] = [];
  for (const config of connections.used()) {
    const db = await connections.getExisting(config.name);
    if (db === null || !(await hasLedger(db))) continue;
    states.push(await consistently(db, (sql) => schemaState(sql, config.name, config.schemas)));
  }
  return states;
}

/**
 * Runs `fn` on one snapshot, so that a migration committing meanwhile cannot
 * make the record and the live schema disagree: a repeatable-read
 * transaction on PostgreSQL, a read transaction on SQLite (which also works
 * on a read-only connection, unlike the driver's `BEGIN IMMEDIATE`).
 */
async function consistently<T>(db: Database, fn: (sql: Sql) => Promise<T>): Promise<T> {
  if (db.dialect === "postgres") {
    return await db.transaction(async (tx) => {
      await tx.query("set transaction isolation level repeatable read");
      return await fn(tx);
    });
  }
  await db.exec("begin");
  try {
    return await fn(db);
  } finally {
    await db.exec("commit");
  }
}

/**
 * Throws `SCHEMA_DRIFT` naming every changed table, column, index,
 * constraint and trigger when any database drifted.
 */
export function refuseDrift(states: readonly SchemaState[], action: string): void {
  const drifted = states.filter((s) => s.changes.length > 0);
  if (drifted.length === 0) return;
  throw new LockstepError(
    "SCHEMA_DRIFT",
    `Cannot ${action}: the schema was changed outside migrations (${
      drifted.map((s) => `database "${s.database}": ${describeDrift(s.changes)}`).join("; ")
    }). Undo the change by hand, or record the live schema as the new baseline with ` +
      `"lockstep migrate --accept-drift". Nothing was changed.`,
    { data: { drift: drifted } },
  );
}

/**
 * Records the live schema of `db` as the new baseline when it drifted or its
 * record is missing or stale, logging a `drift-accepted` event that lists the
 * changes. Returns what was accepted, or `null` when the record was current
 * and equal. Takes its own transaction; hold the migration lock.
 */
export async function acceptDrift(
  db: Database,
  schemas: readonly string[],
  stamp: Stamp,
): Promise<SchemaState | null> {
  return await db.transaction(async (tx) => {
    const state = await schemaState(tx, db.name, schemas);
    if (state.record === "current" && state.changes.length === 0) return null;
    const what = state.record === "current"
      ? describeDrift(state.changes, 50)
      : `no current record (${state.record}); the live schema becomes the baseline`;
    await recordEvent(tx, { kind: "drift-accepted", message: `accepted drift: ${what}` }, stamp);
    await recordSchema(tx, schemas, stamp);
    return state;
  });
}

/**
 * Replaces the record with the live schema (only the rows that differ are
 * written) and logs a `schema-recorded` event. Call it inside the
 * transaction that changed the schema, after its ledger rows.
 */
export async function recordSchema(
  sql: Sql,
  schemas: readonly string[],
  stamp: Stamp,
): Promise<void> {
  const live = await readSchema(sql, schemas);
  const recorded = await recordedHashes(sql);
  const gone = [...recorded.keys()].filter((name) => !live.has(name));
  const changed = [...live].filter(([name, table]) => recorded.get(name) !== table.hash)
    .map(([name, table]) => [name, table.definition, table.hash]);
  if (gone.length > 0) {
    await sql.query(
      `delete from lockstep_schema where table_name in (select value from ${
        jsonRows(sql, "$1", "text")
      })`,
      [JSON.stringify(gone)],
    );
  }
  if (changed.length > 0) {
    // One statement for any number of tables: a first record may hold thousands.
    const element = (i: number) =>
      sql.dialect === "postgres" ? `value->>${i}` : `json_extract(value, '$[${i}]')`;
    const at = sql.dialect === "postgres" ? "cast($2 as timestamptz)" : "$2";
    await sql.query(
      `insert into lockstep_schema (table_name, definition, hash, recorded_at)
       select ${element(0)}, ${element(1)}, ${element(2)}, ${at}
         from ${jsonRows(sql, "$1", "json")} where true
       on conflict (table_name) do update
         set definition = excluded.definition, hash = excluded.hash, recorded_at = excluded.recorded_at`,
      [JSON.stringify(changed), new Date().toISOString()],
    );
  }
  await recordEvent(sql, {
    kind: "schema-recorded",
    message: `recorded the schema: ${live.size} table(s), ${changed.length + gone.length} changed`,
  }, stamp);
}

/** The elements of a JSON array parameter as rows with a `value` column. */
function jsonRows(sql: Sql, param: string, as: "text" | "json"): string {
  if (sql.dialect === "sqlite") return `json_each(${param})`;
  return as === "text"
    ? `json_array_elements_text(${param}::text::json) as value`
    : `json_array_elements(${param}::text::json) as value`;
}

/** Every difference between `recorded` and `live`, tables in name order. */
export function diffSchema(
  recorded: ReadonlyMap<string, TableRecord>,
  live: ReadonlyMap<string, TableRecord>,
): DriftChange[] {
  const changes: DriftChange[] = [];
  const names = [...new Set([...recorded.keys(), ...live.keys()])].sort();
  for (const table of names) {
    const before = recorded.get(table);
    const after = live.get(table);
    if (before?.hash === after?.hash) continue;
    if (!before || !after) {
      changes.push({
        table,
        kind: "table",
        name: table,
        change: before ? "removed" : "added",
        recorded: before?.definition ?? null,
        live: after?.definition ?? null,
      });
      continue;
    }
    changes.push(...diffTable(table, parseItems(before.definition), parseItems(after.definition)));
  }
  return changes;
}

function diffTable(table: string, before: TableItems, after: TableItems): DriftChange[] {
  const changes: DriftChange[] = [];
  for (const kind of KINDS) {
    const names = [...new Set([...Object.keys(before[kind]), ...Object.keys(after[kind])])].sort();
    for (const name of names) {
      const was = before[kind][name] ?? null;
      const is = after[kind][name] ?? null;
      if (was === is) continue;
      const change = was === null ? "added" : is === null ? "removed" : "changed";
      changes.push({ table, kind, name, change, recorded: was, live: is });
    }
  }
  // SQLite's table text changes with every column: name it only when nothing else explains it.
  if (changes.length === 0) {
    changes.push({
      table,
      kind: "definition",
      name: table,
      change: "changed",
      recorded: before.definition ?? null,
      live: after.definition ?? null,
    });
  }
  return changes;
}

/**
 * Permissions: none.
 *
 * @throws Nothing.
 * @example
 * ```ts ignore
 * console.log(describeDrift(report.schema[0].changes)); // "table users: column nickname added"
 * ```
 */
export function describeDrift(changes: readonly DriftChange[], limit = 10): string {
  const lines = changes.slice(0, limit).map((c) =>
    c.kind === "table"
      ? `table ${c.table} ${c.change}`
      : c.kind === "definition"
      ? `table ${c.table}: definition changed (constraints or options)`
      : `table ${c.table}: ${c.kind} ${c.name} ${c.change}`
  );
  if (changes.length > limit) lines.push(`… and ${changes.length - limit} more`);
  return lines.join("; ");
}

function parseItems(definition: string): TableItems {
  const parsed = JSON.parse(definition) as Partial<TableItems>;
  return {
    ...(parsed.definition === undefined ? {} : { definition: parsed.definition }),
    column: parsed.column ?? {},
    index: parsed.index ?? {},
    constraint: parsed.constraint ?? {},
    trigger: parsed.trigger ?? {},
  };
}

/** JSON with keys sorted at every level, so that equal tables hash equal. */
function canonical(items: TableItems): string {
  const sorted = (record: Record<string, string>) =>
    Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({
    column: sorted(items.column),
    constraint: sorted(items.constraint),
    ...(items.definition === undefined ? {} : { definition: items.definition }),
    index: sorted(items.index),
    trigger: sorted(items.trigger),
  });
}

function emptyItems(): TableItems {
  return { column: {}, index: {}, constraint: {}, trigger: {} };
}

/** Collapses whitespace outside quotes, so that re-indenting is not drift. */
function normaliseSql(text: string): string {
  return text.replace(
    /('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])|\s+/g,
    (all, quoted) => quoted === undefined ? " " : all,
  ).trim();
}

async function readSqlite(sql: Sql): Promise<Map<string, TableItems>> {
  const tables = new Map<string, TableItems>();
  const rows = await sql.query(
    `select name, sql from sqlite_schema
      where type = 'table' and name not like 'sqlite\\_%' escape '\\'`,
  );
  for (const row of rows) {
    const name = String(row.name);
    if (LEDGER.has(name)) continue;
    tables.set(name, { ...emptyItems(), definition: normaliseSql(String(row.sql ?? "")) });
  }
  const columns = await sql.query(
    `select m.name as tbl, c.name, c.type, c."notnull" as not_null, c.dflt_value, c.pk, c.hidden
       from sqlite_schema m join pragma_table_xinfo(m.name) c
      where m.type = 'table'`,
  );
  for (const c of columns) {
    const table = tables.get(String(c.tbl));
    if (!table) continue;
    const hidden = Number(c.hidden);
    table.column[String(c.name)] = [
      String(c.type ?? "").toLowerCase() || "(no type)",
      Number(c.not_null) ? "not null" : "",
      c.dflt_value === null ? "" : `default ${normaliseSql(String(c.dflt_value))}`,
      Number(c.pk) > 0 ? `primary key ${c.pk}` : "",
      hidden === 2
        ? "generated virtual"
        : hidden === 3
        ? "generated stored"
        : hidden
        ? "hidden"
        : "",
    ].filter(Boolean).join(" ");
  }
  // Indexes made by UNIQUE and PRIMARY KEY clauses have no text: the table's text covers them.
  const others = await sql.query(
    `select type, name, tbl_name, sql from sqlite_schema
      where type in ('index', 'trigger') and sql is not null`,
  );
  for (const o of others) {
    const table = tables.get(String(o.tbl_name));
    if (!table) continue;
    table[o.type === "index" ? "index" : "trigger"][String(o.name)] = normaliseSql(String(o.sql));
  }
  return tables;
}

async function readPostgres(
  sql: Sql,
  schemas: readonly string[],
): Promise<Map<string, TableItems>> {
  // The catalog functions qualify names that are not on the search path: pin
  // it, so that a definition does not depend on the session that read it.
  const [current] = await sql.query("select current_setting('search_path') as path");
  const path = String(current!.path);
  await sql.query("select set_config('search_path', 'pg_catalog', true)");
  let rows;
  try {
    rows = await sql.query(
      `select n.nspname as schema, c.relname as name,
        (select coalesce(json_agg(json_build_array(a.attname,
            format_type(a.atttypid, a.atttypmod)
            || case when a.attnotnull then ' not null' else '' end
            || case a.attidentity when 'a' then ' generated always as identity'
                                  when 'd' then ' generated by default as identity' else '' end
            || case when a.attgenerated = 's'
                      then ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
                    when d.adbin is not null then ' default ' || pg_get_expr(d.adbin, d.adrelid)
                    else '' end
            || case when a.attcollation <> t.typcollation
                      then ' collate ' || quote_ident(co.collname) else '' end)), '[]')::text
           from pg_attribute a
           join pg_type t on t.oid = a.atttypid
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
           left join pg_collation co on co.oid = a.attcollation
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
        (select coalesce(json_agg(json_build_array(x.conname, pg_get_constraintdef(x.oid, true))),
                '[]')::text
           from pg_constraint x where x.conrelid = c.oid) as constraints,
        (select coalesce(json_agg(json_build_array(i.relname, pg_get_indexdef(i.oid))), '[]')::text
           from pg_index ix join pg_class i on i.oid = ix.indexrelid
          where ix.indrelid = c.oid) as indexes,
        (select coalesce(json_agg(json_build_array(g.tgname, pg_get_triggerdef(g.oid, true))),
                '[]')::text
           from pg_trigger g where g.tgrelid = c.oid and not g.tgisinternal) as triggers
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p')
        and n.nspname in (select json_array_elements_text($1::text::json))`,
      [JSON.stringify(schemas)],
    );
  } finally {
    await sql.query("select set_config('search_path', $1, true)", [path]);
  }
  const tables = new Map<string, TableItems>();
  const pairs = (text: unknown) => JSON.parse(String(text)) as [string, string][];
  for (const row of rows) {
    if (LEDGER.has(String(row.name))) continue;
    const items = emptyItems();
    for (const [name, text] of pairs(row.columns)) items.column[name] = text;
    for (const [name, text] of pairs(row.constraints)) items.constraint[name] = text;
    for (const [name, text] of pairs(row.indexes)) items.index[name] = text;
    for (const [name, text] of pairs(row.triggers)) items.trigger[name] = text;
    tables.set(`${row.schema}.${row.name}`, items);
  }
  return tables;
}
