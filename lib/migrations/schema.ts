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
import { ledgerTable, type TableItems } from "../sql/dialect.ts";
import { dialectOf } from "../sql/dialects.ts";
import type { Database, Sql } from "../sql/driver.ts";
import type { Connections } from "./connections.ts";
import { hasLedger, recordEvent, type Stamp } from "./ledger.ts";
import { isLockstepError, LockstepError, messageOf } from "../errors.ts";
import type { CheckCache } from "../check_cache.ts";

/** The parts of a table that drift is reported on. */
export type ItemKind = "column" | "index" | "constraint" | "trigger";

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
 * `unrecorded` (never recorded), `stale` (migrations ran after the last
 * record, in a run that did not finish: the next migrate records it), or
 * `undetermined` (`check` only: reading the schema waited too long for a
 * lock another session holds; `reason` says which).
 */
export interface SchemaState {
  /** The configured database name. */
  readonly database: string;
  /** See above; `changes` is empty unless this is `current`. */
  readonly record: "current" | "stale" | "unrecorded" | "undetermined";
  /** Every difference, tables in name order. */
  readonly changes: readonly DriftChange[];
  /** Why the drift is `undetermined`: the lock waited for and the sessions holding locks. */
  readonly reason?: string;
}

/**
 * The drift of `database` could not be read: `reason` says what its read
 * waited for. Worded once, for `check`'s warning and `migrate`'s refusal.
 */
export function describeUndetermined(database: string, reason: string): string {
  return `the schema drift of database "${database}" could not be determined: reading its ` +
    `schema, ${reason}`;
}

const KINDS: readonly ItemKind[] = ["column", "index", "constraint", "trigger"];

/**
 * Reads every managed table's definition (with `only`, those it names): on
 * SQLite the main database's tables, on PostgreSQL the tables of `schemas`.
 * Ledger tables are left out.
 * On PostgreSQL it must run inside a transaction (it pins `search_path` for
 * the catalog functions with `set local`, then puts it back).
 */
export async function readSchema(
  sql: Sql,
  schemas: readonly string[],
  only?: ReadonlySet<string>,
): Promise<Map<string, TableRecord>> {
  const tables = await dialectOf(sql).readTables(sql, schemas, only);
  // Loaded here, not at start-up: `check` mostly answers from the fingerprint.
  const { createHash } = await import("node:crypto");
  const out = new Map<string, TableRecord>();
  for (const name of [...tables.keys()].sort()) {
    const definition = canonical(tables.get(name)!);
    out.set(name, { definition, hash: createHash("sha256").update(definition).digest("hex") });
  }
  return out;
}

/** The recorded hash of each table in `lockstep_schema`. */
async function recordedHashes(sql: Sql): Promise<Map<string, string>> {
  const rows = await sql.query(
    `select table_name, hash from ${ledgerTable(sql, "lockstep_schema")}`,
  );
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
      `select table_name, definition from ${ledgerTable(sql, "lockstep_schema")}
        where table_name in (select value from ${dialectOf(sql).jsonRows("$1", "text")})`,
      [JSON.stringify(differ)],
    );
    for (const r of rows) definitions.set(String(r.table_name), String(r.definition));
  }
  return new Map(
    [...hashes].map(([name, hash]) => [name, { hash, definition: definitions.get(name) ?? "" }]),
  );
}

/**
 * A database's catalog, per table, when its record matched it
 * ({@link SchemaReader.tableFingerprints}): `recordSchema` reads again only
 * the tables whose value changed since.
 */
export type TableFingerprints = ReadonlyMap<string, string>;

/** Whether the record is current, stale or missing (see {@link SchemaState}). */
export async function recordState(sql: Sql): Promise<SchemaState["record"]> {
  const events = ledgerTable(sql, "lockstep_events");
  const [row] = await sql.query(
    `select (select max(id) from ${events} where kind = 'schema-recorded') as recorded,
            (select max(id) from ${events}
              where kind in ('applied', 'stamped', 'baseline')) as changed`,
  );
  if (row?.recorded === null || row?.recorded === undefined) return "unrecorded";
  if (row.changed !== null && Number(row.changed) > Number(row.recorded)) return "stale";
  return "current";
}

/** What a drift hint is for: the database (its URL, credentials masked) and its managed schemas. */
export function schemaHintKey(display: string, schemas: readonly string[]): string {
  return `${display} ${JSON.stringify(schemas)}`;
}

/** Where a database's drift hint is kept, for {@link schemaState}. */
export interface SchemaHints {
  readonly cache: CheckCache;
  /** The database's URL (credentials masked): a hint is for one database. */
  readonly where: string;
  /** Receives the catalog per table when the record is current and matches it. */
  readonly matched?: (tables: TableFingerprints) => void;
}

/**
 * Compares the live schema of a database that has a ledger with its record.
 * Reads only; on PostgreSQL call it inside a (read-only) transaction. With
 * `hints` (`check`), a database whose catalog fingerprint is the one it had
 * when it last matched its record is not compared table by table.
 */
export async function schemaState(
  sql: Sql,
  database: string,
  schemas: readonly string[],
  hints?: SchemaHints,
): Promise<SchemaState> {
  const record = await recordState(sql);
  const where = hints && schemaHintKey(hints.where, schemas);
  if (record !== "current") {
    hints?.cache.rememberSchema(database, where!, null);
    return { database, record, changes: [] };
  }
  const dialect = dialectOf(sql);
  const fingerprint = hints && await dialect.fingerprint(sql, schemas);
  let changes: DriftChange[] = [];
  if (!hints?.cache.schemaMatched(database, where!, fingerprint!)) {
    const live = await readSchema(sql, schemas);
    changes = diffSchema(await readRecorded(sql, live), live);
    hints?.cache.rememberSchema(database, where!, changes.length === 0 ? fingerprint! : null);
  }
  if (changes.length === 0 && hints?.matched) {
    // The catalog per table as migrate's last record left it, or read now (and kept).
    let tables = hints.cache.schemaTables(database, where!, fingerprint!);
    if (tables === undefined) {
      tables = await dialect.tableFingerprints(sql, schemas);
      hints.cache.rememberSchema(database, where!, fingerprint!, tables);
    }
    hints.matched(tables);
  }
  return { database, record, changes };
}

/**
 * The schema state of every used database that has a ledger (a SQLite file
 * that does not exist yet has nothing to compare). Reads only, with the
 * connections' lock timeout: when an application session holds a lock the
 * read needs past it, `undetermined: "report"` (for `check`) reports the
 * drift as `undetermined`, naming the session; by default the caller must not
 * go on without knowing the drift, and it throws.
 *
 * @throws {LockstepError} `LOCK_HELD` (not with `undetermined: "report"`).
 */
export async function schemaStates(
  connections: Connections,
  options: {
    undetermined?: "report" | "refuse";
    action?: string;
    hints?: CheckCache;
    /** With `hints`: receives each database's catalog per table when it matches its record. */
    matched?: Map<string, TableFingerprints>;
  } = {},
): Promise<SchemaState[]> {
  const { undetermined = "refuse", action = "migrate", hints, matched } = options;
  const states: SchemaState[] = [];
  for (const config of connections.used()) {
    const db = await connections.getExisting(config.name);
    if (db === null || !(await hasLedger(db))) continue;
    try {
      // One snapshot, so that a migration committing meanwhile cannot make the
      // record and the live schema disagree.
      states.push(
        await dialectOf(db).snapshot(db, (sql) =>
          schemaState(
            sql,
            config.name,
            config.schemas,
            hints && {
              cache: hints,
              where: db.display,
              ...(matched ? { matched: (tables) => matched.set(config.name, tables) } : {}),
            },
          )),
      );
    } catch (error) {
      if (!isLockstepError(error, "LOCK_HELD")) throw error;
      const reason = String(error.data.reason ?? messageOf(error));
      if (undetermined === "report") {
        states.push({ database: config.name, record: "undetermined", changes: [], reason });
        continue;
      }
      throw new LockstepError(
        "LOCK_HELD",
        `Cannot ${action}: ${describeUndetermined(config.name, reason)}. End that session's ` +
          `transaction (or wait for it), then run it again; --lock-timeout sets how long to ` +
          `wait. Nothing was changed.`,
        { cause: error, data: { ...error.data, database: config.name } },
      );
    }
  }
  return states;
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

/** The catalog as a record left it: what check's and migrate's hints keep. */
export interface Recorded {
  /** The catalog's fingerprint with the new record ({@link SchemaReader.fingerprint}). */
  readonly fingerprint: string;
  /** The catalog per table. */
  readonly tables: TableFingerprints;
}

/**
 * Replaces the record with the live schema (only the rows that differ are
 * written) and logs a `schema-recorded` event; returns the catalog as
 * recorded. Call it inside the transaction that changed the schema, after
 * its ledger rows. With `before` (the catalog per table when the record last
 * matched it, in this run), only the tables whose value changed since are
 * read again: the record of the others still describes them.
 */
export async function recordSchema(
  sql: Sql,
  schemas: readonly string[],
  stamp: Stamp,
  before?: TableFingerprints,
): Promise<Recorded> {
  const dialect = dialectOf(sql);
  const now = await dialect.tableFingerprints(sql, schemas);
  const only = before && changedTables(before, now);
  const live = await readSchema(sql, schemas, only);
  const recorded = await recordedHashes(sql);
  const exists = only ? (name: string) => now.has(name) : (name: string) => live.has(name);
  const gone = [...recorded.keys()].filter((name) => !exists(name));
  const changed = [...live].filter(([name, table]) => recorded.get(name) !== table.hash)
    .map(([name, table]) => [name, table.definition, table.hash]);
  if (gone.length > 0) {
    await sql.query(
      `delete from ${ledgerTable(sql, "lockstep_schema")} where table_name in (select value from ${
        dialect.jsonRows("$1", "text")
      })`,
      [JSON.stringify(gone)],
    );
  }
  if (changed.length > 0) {
    // One statement for any number of tables: a first record may hold thousands.
    const [table, definition, hash] = [0, 1, 2].map((i) => dialect.jsonElement(i));
    await sql.query(
      `insert into ${
        ledgerTable(sql, "lockstep_schema")
      } (table_name, definition, hash, recorded_at)
       select ${table}, ${definition}, ${hash}, ${dialect.timestamp("$2")}
         from ${dialect.jsonRows("$1", "json")} where true
       on conflict (table_name) do update
         set definition = excluded.definition, hash = excluded.hash, recorded_at = excluded.recorded_at`,
      [JSON.stringify(changed), new Date().toISOString()],
    );
  }
  const tables = only
    ? recorded.size - gone.length + changed.filter(([n]) => !recorded.has(n!)).length
    : live.size;
  await recordEvent(sql, {
    kind: "schema-recorded",
    message: `recorded the schema: ${tables} table(s), ${changed.length + gone.length} changed`,
  }, stamp);
  return { fingerprint: await dialect.fingerprint(sql, schemas), tables: now };
}

/**
 * The tables to read again: those whose fingerprint changed or that are new;
 * `undefined` (all of them) when what no one table owns changed.
 */
function changedTables(
  before: ReadonlyMap<string, string>,
  now: ReadonlyMap<string, string>,
): Set<string> | undefined {
  if (before.get("") !== now.get("")) return undefined;
  return new Set(
    [...now].filter(([name, value]) => name !== "" && before.get(name) !== value)
      .map(([name]) => name),
  );
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
