/**
 * The built-in dump's sequences and tables: sequences (their values once the
 * data is in), then each table (unlogged, storage options, collations,
 * defaults, identity and generated columns), partitioned tables before
 * their partitions (`PARTITION OF … FOR VALUES`, `PARTITION BY` at every
 * level), and each table's rows as `COPY` data. After the data: constraints
 * and indexes (a partitioned table's on it `ONLY`, each partition's own, then
 * `ATTACH PARTITION`, so every name is kept), foreign keys last.
 *
 * @module
 */
import {
  ident,
  IN_SCHEMAS,
  literal,
  notInExtension,
  qualified,
  schemasParam,
  type Script,
} from "./dump_script.ts";

interface Column {
  attname: string;
  type: string;
  attnotnull: boolean;
  def: string | null;
  attidentity: string;
  attgenerated: string;
  collation: string | null;
}

interface Table {
  oid: number;
  schema: string;
  relname: string;
  relkind: string;
  relpersistence: string;
  options: string | null;
  partkey: string | null;
  parent: string | null;
  bound: string | null;
}

/** Sequences not made by identity columns (those come with their table); values and owners later. */
export async function writeSequences(script: Script, schemas: readonly string[]): Promise<void> {
  const { tx } = script;
  for (
    const seq of await tx.unsafe(
      `select c.oid, n.nspname, c.relname, format_type(s.seqtypid, null) as type, s.seqstart::text,
              s.seqincrement::text, s.seqmin::text, s.seqmax::text, s.seqcache::text, s.seqcycle
         from pg_sequence s join pg_class c on c.oid = s.seqrelid
         join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} and ${notInExtension("c.oid")} and not exists (
          select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'i')
        order by c.oid`,
      [schemasParam(schemas)],
    )
  ) {
    const name = qualified(seq.nspname, seq.relname);
    await script.text(
      `CREATE SEQUENCE ${name} AS ${seq.type} START ${seq.seqstart} INCREMENT ${seq.seqincrement} ` +
        `MINVALUE ${seq.seqmin} MAXVALUE ${seq.seqmax} CACHE ${seq.seqcache}` +
        `${seq.seqcycle ? " CYCLE" : ""};\n`,
    );
    const [value] = await tx.unsafe(`select last_value::text, is_called from ${name}`);
    script.later(
      "afterData",
      `SELECT pg_catalog.setval(${literal(name)}, ${value!.last_value}, ${value!.is_called});`,
    );
    const [owner] = await tx.unsafe(
      `select n.nspname, c.relname, a.attname from pg_depend d
         join pg_class c on c.oid = d.refobjid join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
        where d.objid = $1 and d.deptype = 'a' and d.classid = 'pg_class'::regclass`,
      [seq.oid],
    );
    if (owner) {
      script.later(
        "afterData",
        `ALTER SEQUENCE ${name} OWNED BY ${qualified(owner.nspname, owner.relname)}.${
          ident(owner.attname)
        };`,
      );
    }
  }
}

/**
 * Every ordinary and partitioned table of `schemas`, parents before their
 * partitions, each with its rows.
 */
export async function writeTables(script: Script, schemas: readonly string[]): Promise<void> {
  const tables = await script.tx.unsafe<Table[]>(
    `with recursive tree as (
       select c.oid, 0 as depth from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} and c.relkind in ('r', 'p') and not c.relispartition
          and ${notInExtension("c.oid")}
       union all
       select i.inhrelid, t.depth + 1 from tree t join pg_inherits i on i.inhparent = t.oid
         join pg_class c on c.oid = i.inhrelid where c.relispartition)
     select c.oid, n.nspname as schema, c.relname, c.relkind::text, c.relpersistence::text,
            array_to_string(c.reloptions, ', ') as options,
            case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partkey,
            (select format('%I.%I', pn.nspname, pc.relname) from pg_inherits i
               join pg_class pc on pc.oid = i.inhparent
               join pg_namespace pn on pn.oid = pc.relnamespace
              where i.inhrelid = c.oid and c.relispartition) as parent,
            case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as bound
       from tree t join pg_class c on c.oid = t.oid join pg_namespace n on n.oid = c.relnamespace
      where ${IN_SCHEMAS}
      order by t.depth, c.oid`,
    [schemasParam(schemas)],
  );
  for (const table of tables) await writeTable(script, table);
}

/** One table: its definition and data now; identity values, constraints and indexes later. */
async function writeTable(script: Script, table: Table): Promise<void> {
  const name = qualified(table.schema, table.relname);
  const columns = await script.tx.unsafe<Column[]>(
    `select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull,
            pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity::text, a.attgenerated::text,
            case when a.attcollation <> 0 and a.attcollation <> t.typcollation
                 then a.attcollation::regcollation::text end as collation
       from pg_attribute a join pg_type t on t.oid = a.atttypid
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [table.oid],
  );
  const unlogged = table.relpersistence === "u" ? "UNLOGGED " : "";
  const options = table.options ? ` WITH (${table.options})` : "";
  const partitioned = table.partkey ? ` PARTITION BY ${table.partkey}` : "";
  if (table.parent !== null) {
    // Columns, their types and NOT NULL come from the parent.
    await script.text(
      `CREATE ${unlogged}TABLE ${name} PARTITION OF ${table.parent} ${table.bound}` +
        `${partitioned}${options};\n`,
    );
  } else {
    const definitions = columns.map((c) => {
      let text = `${ident(c.attname)} ${c.type}`;
      if (c.collation) text += ` COLLATE ${c.collation}`;
      if (c.attgenerated === "s") text += ` GENERATED ALWAYS AS (${c.def}) STORED`;
      else if (c.attidentity === "a") text += " GENERATED ALWAYS AS IDENTITY";
      else if (c.attidentity === "d") text += " GENERATED BY DEFAULT AS IDENTITY";
      else if (c.def !== null) text += ` DEFAULT ${c.def}`;
      return c.attnotnull ? `${text} NOT NULL` : text;
    });
    await script.text(
      `CREATE ${unlogged}TABLE ${name} (\n  ${
        definitions.join(",\n  ")
      }\n)${partitioned}${options};\n`,
    );
  }
  // A partitioned table holds no rows itself: its partitions do.
  if (table.relkind === "r") {
    await writeRows(script, name, columns.filter((c) => c.attgenerated !== "s"));
  }
  await holdIdentityValues(script, name, columns.filter((c) => c.attidentity !== ""));
  await holdConstraintsAndIndexes(script, table.schema, name, table.oid);
}

/** Rows handed to the script (and its gzip stream) at a time. */
const ROWS_BATCH = 256 * 1024;

/**
 * The table's rows, streamed from `COPY … TO STDOUT` into a `COPY … FROM
 * stdin` block, a batch of up to 256 KiB at a time: postgres.js gives one
 * chunk per row, and a stream write per row cost 13 s for a million rows.
 */
async function writeRows(script: Script, name: string, stored: Column[]): Promise<void> {
  const copied = stored.map((c) => ident(c.attname)).join(", ");
  await script.text(`COPY ${name} (${copied}) FROM stdin;\n`);
  const stream = await script.tx.unsafe(`COPY ${name} (${copied}) TO STDOUT`).readable();
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = async () => {
    if (size === 0) return;
    const joined = new Uint8Array(size);
    let at = 0;
    for (const chunk of batch) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    batch = [];
    size = 0;
    await script.bytes(joined);
  };
  for await (const chunk of stream) {
    batch.push(chunk as Uint8Array);
    size += (chunk as Uint8Array).length;
    if (size >= ROWS_BATCH) await flush();
  }
  await flush();
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
      script.later(
        "afterData",
        `SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(${literal(name)}, ${
          literal(c.attname)
        }), ${value!.last_value}, true);`,
      );
    }
  }
}

/**
 * Constraints and indexes after the data, foreign keys last of all. Those a
 * partition inherited are not repeated: a partitioned table's constraints and
 * indexes are made on it `ONLY`, each partition's own index (its name kept)
 * is made on the partition and attached; a foreign key made on the parent
 * reaches every partition by itself.
 */
async function holdConstraintsAndIndexes(
  script: Script,
  schema: string,
  name: string,
  oid: number,
) {
  for (
    const con of await script.tx.unsafe(
      `select c.conname, pg_get_constraintdef(c.oid) as def, c.contype::text,
              (select format('%I.%I', pn.nspname, pi.relname) from pg_inherits i
                 join pg_class pi on pi.oid = i.inhparent
                 join pg_namespace pn on pn.oid = pi.relnamespace
                where i.inhrelid = c.conindid) as parent_index
         from pg_constraint c
        where c.conrelid = $1 and c.contype <> 't'
          and (c.conislocal or c.contype in ('p', 'u', 'x'))
          and not (c.contype = 'f' and c.conparentid <> 0)
        order by c.contype = 'f', c.conname`,
      [oid],
    )
  ) {
    // An index-backed constraint of a partitioned table is made on it alone, then each
    // partition's is attached; a check or a foreign key reaches the partitions by itself.
    const only = ["p", "u", "x"].includes(con.contype) ? "ONLY " : "";
    const statement = `ALTER TABLE ${only}${name} ADD CONSTRAINT ${ident(con.conname)} ${con.def};`;
    script.later(con.contype === "f" ? "relations" : "afterData", statement);
    if (con.parent_index) attach(script, con.parent_index, schema, con.conname);
  }
  for (
    const index of await script.tx.unsafe(
      `select pg_get_indexdef(i.indexrelid) as def, c.relname,
              (select format('%I.%I', pn.nspname, pi.relname) from pg_inherits h
                 join pg_class pi on pi.oid = h.inhparent
                 join pg_namespace pn on pn.oid = pi.relnamespace
                where h.inhrelid = i.indexrelid) as parent_index
         from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = $1 and not exists (
          select 1 from pg_constraint k where k.conindid = i.indexrelid and k.conrelid = i.indrelid)
        order by i.indexrelid`,
      [oid],
    )
  ) {
    script.later("afterData", `${index.def};`);
    if (index.parent_index) attach(script, index.parent_index, schema, index.relname);
  }
}

/** `ALTER INDEX parent ATTACH PARTITION child` (an index lives in its table's schema). */
function attach(script: Script, parent: string, schema: string, child: string): void {
  script.later("afterData", `ALTER INDEX ${parent} ATTACH PARTITION ${qualified(schema, child)};`);
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
