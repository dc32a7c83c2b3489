/**
 * lockstep's own PostgreSQL dump, for hosts where `pg_dump` may not run: a
 * gzip'ed SQL script read in one repeatable-read, read-only snapshot. Per
 * managed schema: the schema, its enums, its sequences, then each table's
 * definition and `COPY` data; after all data, sequence values, constraints
 * and indexes; last, foreign keys and views. Objects of kinds it cannot
 * carry (functions, triggers, partitioned tables, domains, ranges, policies)
 * are named in `skipped`, so a backup never claims more than it holds.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { explainPermission } from "../../errors.ts";
import { hashingSink, type Written } from "../../hashing.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { connect } from "./client.ts";
import { HEADER, TRAILER } from "./script.ts";

/** What lockstep's own dump leaves out (it covers tables, sequences, enums and views). */
export interface DumpGaps {
  /** Objects of kinds the built-in dump does not carry, as `kind name (schema s)`. */
  readonly skipped: readonly string[];
}

/** Where the script goes while it is written, and what waits for the end. */
interface Script {
  /** The snapshot it is read from. */
  readonly tx: TransactionSql;
  /** Appends text. */
  text(text: string): Promise<void>;
  /** Appends bytes as they are (`COPY` data). */
  bytes(chunk: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Statements after all data: sequence values and owners, constraints, indexes. */
  readonly later: string[];
  /** Statements after those: foreign keys, then views. */
  readonly last: string[];
  /** What the dump does not carry. */
  readonly skipped: string[];
}

interface Column {
  attname: string;
  type: string;
  attnotnull: boolean;
  def: string | null;
  attidentity: string;
  attgenerated: string;
}

/**
 * The built-in dump: one repeatable-read, read-only snapshot; the script is
 * gzip'ed on the way to `out`, and its SHA-256 taken as it is written.
 */
export async function builtInDump(db: DatabaseConfig, out: string): Promise<Written & DumpGaps> {
  const client = await connect(db).catch((error) => {
    throw explainPermission(error, `back up database "${db.name}"`);
  });
  const file = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(file);
  const gzip = new CompressionStream("gzip");
  const piping = gzip.readable.pipeTo(sink.writable);
  const writer = gzip.writable.getWriter();
  const encoder = new TextEncoder();
  const skipped: string[] = [];
  try {
    await client.begin("isolation level repeatable read read only", async (tx) => {
      await writeScript(db, {
        tx,
        text: (text) => writer.write(encoder.encode(text)),
        bytes: (chunk) => writer.write(chunk),
        later: [],
        last: [],
        skipped,
      });
    });
    await writer.close();
    await piping;
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    await piping.catch(() => undefined);
    throw error;
  } finally {
    await client.end({ timeout: 1 });
  }
  return { ...sink.done(), skipped };
}

async function writeScript(db: DatabaseConfig, script: Script): Promise<void> {
  await script.tx.unsafe("set local search_path = pg_catalog");
  await script.text(`${HEADER}\n-- database ${db.name}, ${new Date().toISOString()}\n`);
  for (const schema of db.schemas) await writeSchema(script, schema);
  for (const statement of [...script.later, ...script.last]) await script.text(`${statement}\n`);
  await script.text(`${TRAILER}\n`);
}

/** One managed schema, when it exists: every object kind in dependency order. */
async function writeSchema(script: Script, schema: string): Promise<void> {
  const { tx } = script;
  const exists = await tx.unsafe("select 1 from pg_namespace where nspname = $1", [schema]);
  if (exists.length === 0) return;
  await script.text(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)};\n`);
  script.skipped.push(...await gaps(tx, schema));
  await writeEnums(script, schema);
  await writeSequences(script, schema);
  for (
    const table of await tx.unsafe(
      `select c.oid, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind = 'r' and not c.relispartition order by c.oid`,
      [schema],
    )
  ) await writeTable(script, `${ident(schema)}.${ident(table.relname)}`, table.oid);
  await writeViews(script, schema);
}

async function writeEnums(script: Script, schema: string): Promise<void> {
  for (
    const row of await script.tx.unsafe(
      `select t.typname, json_agg(e.enumlabel order by e.enumsortorder)::text as labels
         from pg_type t join pg_enum e on e.enumtypid = t.oid
         join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = $1 group by t.oid, t.typname order by t.oid`,
      [schema],
    )
  ) {
    const labels = (JSON.parse(row.labels) as string[]).map(literal).join(", ");
    await script.text(`CREATE TYPE ${ident(schema)}.${ident(row.typname)} AS ENUM (${labels});\n`);
  }
}

/** Sequences not made by identity columns (those come with their table), their values and owners. */
async function writeSequences(script: Script, schema: string): Promise<void> {
  const { tx } = script;
  const s = ident(schema);
  for (
    const seq of await tx.unsafe(
      `select c.oid, c.relname, format_type(s.seqtypid, null) as type, s.seqstart::text,
              s.seqincrement::text, s.seqmin::text, s.seqmax::text, s.seqcache::text, s.seqcycle
         from pg_sequence s join pg_class c on c.oid = s.seqrelid
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and not exists (
          select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'i')
        order by c.oid`,
      [schema],
    )
  ) {
    const name = `${s}.${ident(seq.relname)}`;
    await script.text(
      `CREATE SEQUENCE ${name} AS ${seq.type} START ${seq.seqstart} INCREMENT ${seq.seqincrement} ` +
        `MINVALUE ${seq.seqmin} MAXVALUE ${seq.seqmax} CACHE ${seq.seqcache}` +
        `${seq.seqcycle ? " CYCLE" : ""};\n`,
    );
    const [value] = await tx.unsafe(`select last_value::text, is_called from ${name}`);
    script.later.push(
      `SELECT pg_catalog.setval(${literal(name)}, ${value!.last_value}, ${value!.is_called});`,
    );
    const [owner] = await tx.unsafe(
      `select c.relname, a.attname from pg_depend d
         join pg_class c on c.oid = d.refobjid
         join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
        where d.objid = $1 and d.deptype = 'a' and d.classid = 'pg_class'::regclass`,
      [seq.oid],
    );
    if (owner) {
      script.later.push(
        `ALTER SEQUENCE ${name} OWNED BY ${s}.${ident(owner.relname)}.${ident(owner.attname)};`,
      );
    }
  }
}

/** One table: its definition and data now; identity values, constraints and indexes later. */
async function writeTable(script: Script, name: string, oid: number): Promise<void> {
  const columns = await script.tx.unsafe<Column[]>(
    `select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull,
            pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity::text, a.attgenerated::text
       from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [oid],
  );
  const definitions = columns.map((c) => {
    let text = `${ident(c.attname)} ${c.type}`;
    if (c.attgenerated === "s") text += ` GENERATED ALWAYS AS (${c.def}) STORED`;
    else if (c.attidentity === "a") text += " GENERATED ALWAYS AS IDENTITY";
    else if (c.attidentity === "d") text += " GENERATED BY DEFAULT AS IDENTITY";
    else if (c.def !== null) text += ` DEFAULT ${c.def}`;
    return c.attnotnull ? `${text} NOT NULL` : text;
  });
  await script.text(`CREATE TABLE ${name} (\n  ${definitions.join(",\n  ")}\n);\n`);
  await writeRows(script, name, columns.filter((c) => c.attgenerated !== "s"));
  await holdIdentityValues(script, name, columns.filter((c) => c.attidentity !== ""));
  await holdConstraintsAndIndexes(script, name, oid);
}

/** The table's rows, streamed from `COPY … TO STDOUT` into a `COPY … FROM stdin` block. */
async function writeRows(script: Script, name: string, stored: Column[]): Promise<void> {
  const copied = stored.map((c) => ident(c.attname)).join(", ");
  await script.text(`COPY ${name} (${copied}) FROM stdin;\n`);
  const stream = await script.tx.unsafe(`COPY ${name} (${copied}) TO STDOUT`).readable();
  for await (const chunk of stream) await script.bytes(chunk as Uint8Array<ArrayBuffer>);
  resumeAfterCopy(stream);
  await script.text("\\.\n");
}

async function holdIdentityValues(script: Script, name: string, identities: Column[]) {
  for (const c of identities) {
    const [seq] = await script.tx.unsafe(
      "select pg_get_serial_sequence($1, $2) as name",
      [name, c.attname],
    );
    const [value] = await script.tx.unsafe(`select last_value::text, is_called from ${seq!.name}`);
    if (value!.is_called) {
      script.later.push(
        `SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(${literal(name)}, ${
          literal(c.attname)
        }), ${value!.last_value}, true);`,
      );
    }
  }
}

/** Constraints after the data (foreign keys last of all), and indexes no constraint made. */
async function holdConstraintsAndIndexes(script: Script, name: string, oid: number) {
  for (
    const con of await script.tx.unsafe(
      `select conname, pg_get_constraintdef(oid) as def, contype::text from pg_constraint
        where conrelid = $1 order by contype = 'f', conname`,
      [oid],
    )
  ) {
    const statement = `ALTER TABLE ONLY ${name} ADD CONSTRAINT ${ident(con.conname)} ${con.def};`;
    (con.contype === "f" ? script.last : script.later).push(statement);
  }
  for (
    const index of await script.tx.unsafe(
      `select pg_get_indexdef(i.indexrelid) as def from pg_index i
        where i.indrelid = $1 and not exists (
          select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
        order by i.indexrelid`,
      [oid],
    )
  ) script.later.push(`${index.def};`);
}

/** Views and materialized views, after every table's foreign keys. */
async function writeViews(script: Script, schema: string): Promise<void> {
  for (
    const view of await script.tx.unsafe(
      `select c.relname, c.relkind::text, pg_get_viewdef(c.oid) as def from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind in ('v', 'm') order by c.oid`,
      [schema],
    )
  ) {
    const kind = view.relkind === "m" ? "MATERIALIZED VIEW" : "VIEW";
    script.last.push(
      `CREATE ${kind} ${ident(schema)}.${ident(view.relname)} AS ${String(view.def).trim()}`
        .replace(/;?$/, ";"),
    );
  }
}

/** Objects in `schema` the built-in dump does not carry. */
async function gaps(tx: TransactionSql, schema: string): Promise<string[]> {
  const rows = await tx.unsafe(
    `select 'function ' || p.proname as what from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = $1 and not exists (
        select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     union all
     select 'trigger ' || t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid
       join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and not t.tgisinternal
     union all
     select 'partitioned table ' || c.relname from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and (c.relkind = 'p' or c.relispartition)
     union all
     select 'type ' || t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where n.nspname = $1 and t.typtype in ('d', 'r', 'm')
     union all
     select 'policy ' || p.polname from pg_policy p join pg_class c on c.oid = p.polrelid
       join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1`,
    [schema],
  );
  return rows.map((r) => `${String(r.what)} (schema ${schema})`);
}

/**
 * postgres.js pauses the socket when a COPY stream's buffer is full and
 * resumes it from the stream's `read()`; when the copy ends while paused, the
 * ended stream never asks again and the connection stays paused, so the next
 * query waits forever (seen with a 400 KB table read through gzip). Calling
 * the stream's own `read()` once it is drained resumes the socket; when it
 * was not paused this does nothing.
 */
function resumeAfterCopy(stream: unknown): void {
  (stream as { _read?: (size: number) => void })._read?.(0);
}

/** Quotes an identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
