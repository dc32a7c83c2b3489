/**
 * Reading a SQLite schema for drift, from `sqlite_schema` and
 * `pragma_table_xinfo`: each table's normalised `CREATE TABLE` text (which
 * alone carries CHECK and FOREIGN KEY clauses), its columns, and the indexes
 * and triggers that have text of their own. And the JSON spellings the drift
 * record needs (`json_each`, `json_extract`).
 *
 * @module
 */
import { LEDGER_TABLES, ledgerTable, type SchemaReader, type TableItems } from "../dialect.ts";
import { sha256Hex } from "../../sha256.ts";
import type { Sql } from "../driver.ts";

const LEDGER: ReadonlySet<string> = new Set(LEDGER_TABLES);

/** How SQLite reads its schema, and spells JSON arrays and times. */
export const sqliteSchema: SchemaReader = {
  readTables: (sql, _schemas, only) => readSqliteTables(sql, only),
  fingerprint: sqliteFingerprint,
  tableFingerprints: sqliteTableFingerprints,
  jsonRows: (param) => `json_each(${param})`,
  jsonElement: (index) => `json_extract(value, '$[${index}]')`,
  // Times are ISO 8601 text already.
  timestamp: (param) => param,
};

/** Collapses whitespace outside quotes, so that re-indenting is not drift. */
function normaliseSql(text: string): string {
  return text.replace(
    /('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])|\s+/g,
    (all, quoted) => quoted === undefined ? " " : all,
  ).trim();
}

/**
 * The text of every `sqlite_schema` row (each table's columns, checks,
 * indexes and triggers are all read from it) and the drift record's hashes,
 * hashed. Two concatenated columns in one statement: one row to read.
 */
async function sqliteFingerprint(sql: Sql): Promise<string> {
  const [row] = await sql.query(
    `select (select group_concat(type || char(31) || name || char(31) || tbl_name || char(31) ||
                                 coalesce(sql, ''), char(30) order by type, name)
               from sqlite_schema) as catalog,
            (select group_concat(table_name || char(31) || hash, char(30) order by table_name)
               from ${ledgerTable(sql, "lockstep_schema")}) as record`,
  );
  return await sha256Hex(`${row?.catalog ?? ""}\u0000${row?.record ?? ""}`);
}

/**
 * Each table's `sqlite_schema` rows (its own, its indexes' and triggers':
 * its columns, checks, indexes and triggers are all read from them), as
 * text; under `""` the rows of no table (views and their triggers). One
 * statement.
 */
async function sqliteTableFingerprints(sql: Sql): Promise<Map<string, string>> {
  const rows = await sql.query(
    `with item as (
       select s.tbl_name in (select name from sqlite_schema where type = 'table') as owned,
              s.tbl_name, s.type, s.name,
              s.type || char(31) || s.name || char(31) || coalesce(s.sql, '') as text
         from sqlite_schema s)
     select case when owned then tbl_name else '' end as tbl,
            group_concat(text, char(30) order by type, name) as fingerprint
       from item group by 1`,
  );
  return new Map(rows.map((r) => [String(r.tbl), String(r.fingerprint)]));
}

/** Every table of the main database (or those `only` names) but SQLite's own and the ledger's. */
async function readSqliteTables(
  sql: Sql,
  only?: ReadonlySet<string>,
): Promise<Map<string, TableItems>> {
  const tables = new Map<string, TableItems>();
  const rows = await sql.query(
    `select name, sql from sqlite_schema
      where type = 'table' and name not like 'sqlite\\_%' escape '\\'`,
  );
  for (const row of rows) {
    const name = String(row.name);
    if (LEDGER.has(name) || (only && !only.has(name))) continue;
    tables.set(name, {
      definition: normaliseSql(String(row.sql ?? "")),
      column: {},
      index: {},
      constraint: {},
      trigger: {},
    });
  }
  await readColumns(sql, tables, only);
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

async function readColumns(
  sql: Sql,
  tables: Map<string, TableItems>,
  only?: ReadonlySet<string>,
): Promise<void> {
  const columns = await sql.query(
    `select m.name as tbl, c.name, c.type, c."notnull" as not_null, c.dflt_value, c.pk, c.hidden
       from sqlite_schema m join pragma_table_xinfo(m.name) c
      where m.type = 'table'${only ? " and m.name in (select value from json_each($1))" : ""}`,
    only ? [JSON.stringify([...only])] : [],
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
}
