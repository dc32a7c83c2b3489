/**
 * PostgreSQL backups and restores. A backup is `pg_dump -Fc` of the managed
 * schemas when `--allow-run=pg_dump` is granted and `pg_dump` is installed,
 * otherwise lockstep's own dump: a gzip'ed SQL script (schema definitions,
 * then `COPY` data, then constraints and indexes) read in one repeatable-read
 * snapshot. A restore empties the managed schemas and replays the script (a
 * custom-format dump is turned into one by `pg_restore -f -`) in one
 * transaction: it is all restored, or nothing changed.
 *
 * @module
 */
import { join } from "node:path";
import type { DatabaseConfig } from "../config.ts";
import type { Sql as Client, TransactionSql } from "../deps/postgres.ts";
import { explainPermission, LockstepError, messageOf } from "../errors.ts";
import { redact } from "../redact.ts";
import { clientOptions } from "../sql/postgres.ts";
import { isComplete } from "../migrations/split.ts";
import { hashingSink, type Written } from "./archive.ts";

/** How a PostgreSQL database was dumped. */
export type PostgresFormat = "pg_dump" | "lockstep-sql";

/** What lockstep's own dump leaves out (it covers tables, sequences, enums and views). */
export interface DumpGaps {
  /** Objects of kinds the built-in dump does not carry, as `kind name`. */
  readonly skipped: readonly string[];
}

const HEADER = "-- lockstep dump format 1";
const TRAILER = "-- lockstep dump complete";

async function connect(db: DatabaseConfig): Promise<Client> {
  const { default: postgres } = await import("../deps/postgres.ts");
  const options = clientOptions(db.url, {
    ...(db.password === undefined ? {} : { password: db.password }),
  });
  return postgres({ ...options, onnotice: () => {} } as never);
}

/** Whether `pg_dump` may be run (`--allow-run=pg_dump` granted). */
export function pgToolAllowed(tool: "pg_dump" | "pg_restore"): boolean {
  return Deno.permissions.querySync({ name: "run", command: tool }).state === "granted";
}

/**
 * Dumps `db` into `folder` as `<stem>.pgdump` with `pg_dump -Fc` when allowed
 * and installed (and `pgDump` is not `false`), else as `<stem>.sql.gz` with
 * the built-in dump.
 *
 * @throws {LockstepError} `BACKUP_TOOL_FAILED` when pg_dump fails,
 * `DATABASE_UNREACHABLE`.
 */
export async function dumpPostgres(
  db: DatabaseConfig,
  folder: string,
  stem: string,
  options: { pgDump?: boolean } = {},
): Promise<Written & { artifact: string; format: PostgresFormat; skipped: readonly string[] }> {
  if (options.pgDump !== false && pgToolAllowed("pg_dump")) {
    const artifact = `${stem}.pgdump`;
    const written = await runPgDump(db, join(folder, artifact));
    if (written !== undefined) return { ...written, artifact, format: "pg_dump", skipped: [] };
  }
  const artifact = `${stem}.sql.gz`;
  const { skipped, ...written } = await builtInDump(db, join(folder, artifact));
  return { ...written, artifact, format: "lockstep-sql", skipped };
}

function toolEnv(db: DatabaseConfig): Record<string, string> {
  return {
    PGAPPNAME: "lockstep",
    PGCONNECT_TIMEOUT: "10",
    ...(db.password === undefined ? {} : { PGPASSWORD: db.password }),
  };
}

/** Runs pg_dump into `out`; `undefined` when pg_dump is not installed. */
async function runPgDump(db: DatabaseConfig, out: string): Promise<Written | undefined> {
  const args = ["-Fc", "--no-password", `--dbname=${db.url}`];
  for (const schema of db.schemas) args.push(`--schema=${schema}`);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("pg_dump", {
      args,
      env: toolEnv(db),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const file = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(file);
  const [, stderr, status] = await Promise.all([
    child.stdout.pipeTo(sink.writable),
    new Response(child.stderr).text(),
    child.status,
  ]);
  if (!status.success) {
    throw new LockstepError(
      "BACKUP_TOOL_FAILED",
      `Cannot back up database "${db.name}" (${redact(db.url)}): pg_dump exited with ` +
        `${status.code}: ${redact(stderr.trim())}. Without --allow-run=pg_dump lockstep uses ` +
        `its built-in dump instead.`,
      { data: { database: db.name, tool: "pg_dump", code: status.code } },
    );
  }
  return sink.done();
}

/** Quotes an identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
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
async function builtInDump(db: DatabaseConfig, out: string): Promise<Written & DumpGaps> {
  const client = await connect(db).catch((error) => {
    throw explainPermission(error, `back up database "${db.name}"`);
  });
  const file = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(file);
  const gzip = new CompressionStream("gzip");
  const piping = gzip.readable.pipeTo(sink.writable);
  const writer = gzip.writable.getWriter();
  const encoder = new TextEncoder();
  const write = (text: string) => writer.write(encoder.encode(text));
  const skipped: string[] = [];
  try {
    await client.begin("isolation level repeatable read read only", async (tx) => {
      await tx.unsafe("set local search_path = pg_catalog");
      await write(`${HEADER}\n-- database ${db.name}, ${new Date().toISOString()}\n`);
      const later: string[] = [];
      const foreignKeys: string[] = [];
      for (const schema of db.schemas) {
        const exists = await tx.unsafe("select 1 from pg_namespace where nspname = $1", [schema]);
        if (exists.length === 0) continue;
        const s = ident(schema);
        await write(`CREATE SCHEMA IF NOT EXISTS ${s};\n`);
        skipped.push(...await gaps(tx, schema));
        for (
          const row of await tx.unsafe(
            `select t.typname, json_agg(e.enumlabel order by e.enumsortorder)::text as labels
               from pg_type t join pg_enum e on e.enumtypid = t.oid
               join pg_namespace n on n.oid = t.typnamespace
              where n.nspname = $1 group by t.oid, t.typname order by t.oid`,
            [schema],
          )
        ) {
          const labels = (JSON.parse(row.labels) as string[]).map(literal).join(", ");
          await write(`CREATE TYPE ${s}.${ident(row.typname)} AS ENUM (${labels});\n`);
        }
        // Sequences not made by identity columns (those come with their table).
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
          await write(
            `CREATE SEQUENCE ${name} AS ${seq.type} START ${seq.seqstart} INCREMENT ${seq.seqincrement} ` +
              `MINVALUE ${seq.seqmin} MAXVALUE ${seq.seqmax} CACHE ${seq.seqcache}` +
              `${seq.seqcycle ? " CYCLE" : ""};\n`,
          );
          const [value] = await tx.unsafe(`select last_value::text, is_called from ${name}`);
          later.push(
            `SELECT pg_catalog.setval(${literal(name)}, ${value!.last_value}, ${
              value!.is_called
            });`,
          );
          const [owner] = await tx.unsafe(
            `select c.relname, a.attname from pg_depend d
               join pg_class c on c.oid = d.refobjid
               join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
              where d.objid = $1 and d.deptype = 'a' and d.classid = 'pg_class'::regclass`,
            [seq.oid],
          );
          if (owner) {
            later.push(
              `ALTER SEQUENCE ${name} OWNED BY ${s}.${ident(owner.relname)}.${
                ident(owner.attname)
              };`,
            );
          }
        }
        for (
          const table of await tx.unsafe(
            `select c.oid, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = $1 and c.relkind = 'r' and not c.relispartition order by c.oid`,
            [schema],
          )
        ) {
          const name = `${s}.${ident(table.relname)}`;
          const columns = await tx.unsafe<Column[]>(
            `select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity::text, a.attgenerated::text
               from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
            [table.oid],
          );
          const definitions = columns.map((c) => {
            let text = `${ident(c.attname)} ${c.type}`;
            if (c.attgenerated === "s") text += ` GENERATED ALWAYS AS (${c.def}) STORED`;
            else if (c.attidentity === "a") text += " GENERATED ALWAYS AS IDENTITY";
            else if (c.attidentity === "d") text += " GENERATED BY DEFAULT AS IDENTITY";
            else if (c.def !== null) text += ` DEFAULT ${c.def}`;
            return c.attnotnull ? `${text} NOT NULL` : text;
          });
          await write(`CREATE TABLE ${name} (\n  ${definitions.join(",\n  ")}\n);\n`);
          const copied = columns.filter((c) => c.attgenerated !== "s").map((c) => ident(c.attname));
          await write(`COPY ${name} (${copied.join(", ")}) FROM stdin;\n`);
          const stream = await tx.unsafe(`COPY ${name} (${copied.join(", ")}) TO STDOUT`)
            .readable();
          for await (const chunk of stream) await writer.write(chunk as Uint8Array<ArrayBuffer>);
          resumeAfterCopy(stream);
          await write("\\.\n");
          for (const c of columns.filter((c) => c.attidentity !== "")) {
            const [seq] = await tx.unsafe(
              "select pg_get_serial_sequence($1, $2) as name",
              [name, c.attname],
            );
            const [value] = await tx.unsafe(`select last_value::text, is_called from ${seq!.name}`);
            if (value!.is_called) {
              later.push(
                `SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(${literal(name)}, ${
                  literal(c.attname)
                }), ${value!.last_value}, true);`,
              );
            }
          }
          for (
            const con of await tx.unsafe(
              `select conname, pg_get_constraintdef(oid) as def, contype::text from pg_constraint
                where conrelid = $1 order by contype = 'f', conname`,
              [table.oid],
            )
          ) {
            const statement = `ALTER TABLE ONLY ${name} ADD CONSTRAINT ${
              ident(con.conname)
            } ${con.def};`;
            (con.contype === "f" ? foreignKeys : later).push(statement);
          }
          for (
            const index of await tx.unsafe(
              `select pg_get_indexdef(i.indexrelid) as def from pg_index i
                where i.indrelid = $1 and not exists (
                  select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
                order by i.indexrelid`,
              [table.oid],
            )
          ) later.push(`${index.def};`);
        }
        for (
          const view of await tx.unsafe(
            `select c.relname, c.relkind::text, pg_get_viewdef(c.oid) as def from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = $1 and c.relkind in ('v', 'm') order by c.oid`,
            [schema],
          )
        ) {
          const kind = view.relkind === "m" ? "MATERIALIZED VIEW" : "VIEW";
          foreignKeys.push(
            `CREATE ${kind} ${s}.${ident(view.relname)} AS ${String(view.def).trim()}`.replace(
              /;?$/,
              ";",
            ),
          );
        }
      }
      for (const statement of [...later, ...foreignKeys]) await write(`${statement}\n`);
      await write(`${TRAILER}\n`);
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
 * Checks a dump without a database: the built-in one must decompress and end
 * with its trailer; a custom-format one must start with pg_dump's signature
 * (and is listed by `pg_restore -l` when that may be run).
 *
 * @returns Why it is unusable, or `undefined`.
 */
export async function checkDump(path: string, format: PostgresFormat): Promise<string | undefined> {
  if (format === "pg_dump") {
    const file = await Deno.open(path, { read: true });
    const head = new Uint8Array(5);
    const n = await file.read(head);
    file.close();
    if (n !== 5 || new TextDecoder().decode(head) !== "PGDMP") {
      return "it is not a pg_dump custom-format archive";
    }
    if (!pgToolAllowed("pg_restore")) return undefined;
    const out = await new Deno.Command("pg_restore", {
      args: ["-l", path],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output().catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (out && !out.success) {
      return `pg_restore cannot read it: ${new TextDecoder().decode(out.stderr).trim()}`;
    }
    return undefined;
  }
  let last = "";
  try {
    for await (const line of lines((await Deno.open(path)).readable, true)) last = line;
  } catch (error) {
    return `it does not decompress (${messageOf(error)})`;
  }
  return last === TRAILER ? undefined : "it is cut short (no end marker)";
}

/** The lines of a stream (without their `\n`), gunzip'ed first when asked. */
async function* lines(
  stream: ReadableStream<Uint8Array>,
  gunzip: boolean,
): AsyncGenerator<string> {
  const source = gunzip
    ? stream.pipeThrough<Uint8Array>(new DecompressionStream("gzip") as never)
    : stream;
  const text = source.pipeThrough(new TextDecoderStream("utf-8", { fatal: true }));
  let rest = "";
  for await (const chunk of text) {
    rest += chunk;
    let newline: number;
    let start = 0;
    while ((newline = rest.indexOf("\n", start)) !== -1) {
      yield rest.slice(start, newline);
      start = newline + 1;
    }
    rest = rest.slice(start);
  }
  if (rest !== "") yield rest;
}

/**
 * Refuses to go on when a pg_dump archive must be read and `pg_restore` may
 * not be run.
 *
 * @throws {LockstepError} `PERMISSION_DENIED` naming `--allow-run=pg_restore`.
 */
export function refuseWithoutPgRestore(database: string): void {
  if (pgToolAllowed("pg_restore")) return;
  throw new LockstepError(
    "PERMISSION_DENIED",
    `Cannot restore database "${database}": its backup was made by pg_dump, and reading it ` +
      `needs pg_restore. Grant it with --allow-run=pg_restore. Nothing was changed.`,
    { data: { database, permission: "run pg_restore" } },
  );
}

/**
 * Restores `db` from a dump in one transaction: every table, view, sequence,
 * routine and type of the managed schemas is dropped, then the dump's script
 * runs. A failure anywhere rolls all of it back.
 *
 * @throws {LockstepError} `BACKUP_TOOL_FAILED` (pg_restore), `BACKUP_INVALID`
 * (a script that does not run), `PERMISSION_DENIED` (`--allow-run=pg_restore`
 * for a pg_dump archive).
 */
export async function restorePostgres(
  db: DatabaseConfig,
  path: string,
  format: PostgresFormat,
): Promise<void> {
  let child: Deno.ChildProcess | undefined;
  let source: AsyncGenerator<string>;
  if (format === "pg_dump") {
    refuseWithoutPgRestore(db.name);
    child = new Deno.Command("pg_restore", {
      args: ["--no-owner", "--no-privileges", "-f", "-", path],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    source = lines(child.stdout, false);
  } else {
    source = lines((await Deno.open(path, { read: true })).readable, true);
  }
  const stderr = child ? new Response(child.stderr).text() : Promise.resolve("");
  const client = await connect(db);
  try {
    await client.begin(async (tx) => {
      await emptySchemas(tx, db.schemas);
      await runScript(tx, source, db.schemas);
    });
  } catch (error) {
    try {
      child?.kill();
    } catch {
      // It had exited already.
    }
    const status = await child?.status;
    const complaint = (await stderr).trim();
    // pg_restore's own failure, not the kill above.
    if (status && !status.success && complaint !== "") {
      throw new LockstepError(
        "BACKUP_TOOL_FAILED",
        `Cannot restore database "${db.name}": pg_restore failed: ${
          redact(complaint)
        }. The database was left as it was.`,
        { cause: error, data: { database: db.name, tool: "pg_restore" } },
      );
    }
    if (error instanceof LockstepError) throw error;
    throw new LockstepError(
      "BACKUP_INVALID",
      `Cannot restore database "${db.name}": ${
        redact(messageOf(error))
      }. The database was left as it was (the restore ran in one transaction).`,
      { cause: error, data: { database: db.name } },
    );
  } finally {
    await client.end({ timeout: 1 });
    if (child) await child.status;
  }
  await stderr;
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

/** Drops what the managed schemas hold (not the schemas: their owners and grants stay). */
async function emptySchemas(tx: TransactionSql, schemas: readonly string[]): Promise<void> {
  const notExtension = (oid: string) =>
    `not exists (select 1 from pg_depend d where d.objid = ${oid} and d.deptype = 'e')`;
  const objects = await tx.unsafe(
    `select kind, name from (
       select case c.relkind when 'S' then 2 else 1 end as rank,
              case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW'
              when 'S' then 'SEQUENCE' when 'f' then 'FOREIGN TABLE' else 'TABLE' end as kind,
              format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in (select json_array_elements_text($1::text::json))
          and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and ${notExtension("c.oid")}
          -- An identity column's sequence goes with its table.
          and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'i')
       union all
       select 3, 'ROUTINE', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in (select json_array_elements_text($1::text::json)) and ${
      notExtension("p.oid")
    }
       union all
       select 4, case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end, format('%I.%I', n.nspname, t.typname)
         from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where n.nspname in (select json_array_elements_text($1::text::json)) and t.typtype in ('e', 'd', 'r', 'm')
           or (n.nspname in (select json_array_elements_text($1::text::json)) and t.typtype = 'c' and exists (
                select 1 from pg_class c where c.oid = t.typrelid and c.relkind = 'c'))
     ) o order by rank`,
    [JSON.stringify(schemas)],
  );
  for (const { kind, name } of objects) {
    await tx.unsafe(`DROP ${kind} IF EXISTS ${name} CASCADE`);
  }
}

/**
 * Runs a dump script: statements end at a top-level `;` at the end of a line;
 * `COPY … FROM stdin;` streams the lines up to `\.`; psql's `\restrict` and
 * `\unrestrict` (newer pg_dump output) are skipped; any other meta-command is
 * refused.
 */
async function runScript(
  tx: TransactionSql,
  source: AsyncGenerator<string>,
  schemas: readonly string[],
): Promise<void> {
  let statement = "";
  for await (const line of source) {
    // Blank lines and comments between statements.
    if (statement === "" && (line.trim() === "" || line.trimStart().startsWith("--"))) continue;
    if (statement === "" && /^\\(un)?restrict\b/.test(line)) continue;
    if (statement === "" && line.startsWith("\\")) {
      throw new Error(`the dump holds a psql command lockstep does not run: ${line.slice(0, 40)}`);
    }
    statement += `${line}\n`;
    if (!line.trimEnd().endsWith(";") || !isComplete(statement)) continue;
    const text = statement.trim();
    statement = "";
    if (/^COPY\s.+\sFROM\s+stdin;$/is.test(text)) {
      await copyIn(tx, text.slice(0, -1), source);
      continue;
    }
    // The schemas were kept (with their owners and grants): do not make them again.
    const create = /^CREATE SCHEMA ("?)([^";\s]+)\1;$/i.exec(text);
    if (create && schemas.includes(create[2]!)) continue;
    await tx.unsafe(text);
  }
  if (statement.trim() !== "" && !/^(\s*--[^\n]*\n)*\s*$/.test(statement)) {
    throw new Error("the dump ends in the middle of a statement");
  }
}

async function copyIn(
  tx: TransactionSql,
  command: string,
  source: AsyncGenerator<string>,
): Promise<void> {
  const writable = await tx.unsafe(command).writable();
  const encoder = new TextEncoder();
  let batch = "";
  const flush = async () => {
    if (batch === "") return;
    const chunk = encoder.encode(batch);
    batch = "";
    if (!writable.write(chunk)) {
      await new Promise<void>((resolve) => writable.once("drain", () => resolve()));
    }
  };
  // next() by hand: breaking out of a for-await would close the shared generator.
  let ended = false;
  for (let next = await source.next(); !next.done; next = await source.next()) {
    if (next.value === "\\.") {
      ended = true;
      break;
    }
    batch += `${next.value}\n`;
    if (batch.length > 256 * 1024) await flush();
  }
  await flush();
  if (!ended) throw new Error("the dump ends in the middle of COPY data");
  await new Promise<void>((resolve, reject) => {
    writable.once("error", reject);
    writable.once("finish", () => resolve());
    writable.end();
  });
}
