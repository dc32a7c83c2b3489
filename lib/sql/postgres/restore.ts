/**
 * Restoring a PostgreSQL database from its backup, in one transaction: the
 * managed schemas are emptied (the schemas themselves, their owners and
 * grants stay), then the dump's script runs (a custom-format dump is turned
 * into one by `pg_restore -f -`). It is all restored, or nothing changed.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { LockstepError, messageOf } from "../../errors.ts";
import { redact } from "../../redact.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { connect } from "./client.ts";
import { explainDumpFailure } from "./dump_failure.ts";
import type { PostgresFormat } from "./dump.ts";
import { lines, runScript } from "./script.ts";
import { refuseWithoutPgRestore } from "./tools.ts";

/**
 * How long the restore waits for a table an application session holds a
 * lock on (dropping it needs the table to itself), in ms.
 */
const LOCK_TIMEOUT_MS = 30_000;

/**
 * Restores `db` from a dump in one transaction: every table, view, sequence,
 * routine and type of the managed schemas is dropped, then the dump's script
 * runs. A failure anywhere rolls all of it back.
 *
 * @throws {LockstepError} `BACKUP_TOOL_FAILED` (pg_restore), `BACKUP_INVALID`
 * (a script that does not run), `PERMISSION_DENIED` (`--allow-run=pg_restore`
 * for a pg_dump archive), `DATABASE_UNREACHABLE` (the connection was lost),
 * `LOCK_HELD` (a table stayed locked by another session for 30 s).
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
  const client = await connect(db, { lockTimeoutMs: LOCK_TIMEOUT_MS });
  try {
    await client.begin(async (tx) => {
      await emptySchemas(tx, db.schemas);
      await runScript(tx, source, db.schemas);
    });
  } catch (error) {
    throw await restoreFailed(db, error, child, stderr);
  } finally {
    await client.end({ timeout: 1 });
    if (child) await child.status;
  }
  await stderr;
}

/** The error to report for a failed restore: pg_restore's own failure, or the script's. */
async function restoreFailed(
  db: DatabaseConfig,
  error: unknown,
  child: Deno.ChildProcess | undefined,
  stderr: Promise<string>,
): Promise<unknown> {
  try {
    child?.kill();
  } catch (killError) {
    // It had exited already.
    if (!(killError instanceof TypeError)) throw killError;
  }
  const status = await child?.status;
  const complaint = (await stderr).trim();
  // pg_restore's own failure, not the kill above.
  if (status && !status.success && complaint !== "") {
    const reason = `pg_restore failed: ${redact(complaint)}`;
    return new LockstepError(
      "BACKUP_TOOL_FAILED",
      `Cannot restore database "${db.name}": ${reason}. The database was left as it was.`,
      { cause: error, data: { database: db.name, tool: "pg_restore", reason } },
    );
  }
  const explained = await explainDumpFailure(db, error, LOCK_TIMEOUT_MS);
  if (explained !== error) return explained;
  const reason = `its dump does not run: ${redact(messageOf(error))}`;
  return new LockstepError(
    "BACKUP_INVALID",
    `Cannot restore database "${db.name}": ${reason}. The database was left as it was (the ` +
      `restore ran in one transaction).`,
    { cause: error, data: { database: db.name, reason } },
  );
}

/**
 * Drops what the managed schemas hold (not the schemas: their owners and
 * grants stay): relations first (a partitioned table takes its partitions
 * with it), then sequences, routines, types, collations, conversions, text
 * search configurations and dictionaries, operators and operator families
 * (with their classes), each with CASCADE. An object
 * that another one owns internally (an identity column's sequence, a range
 * type's constructor functions and multirange) goes with its owner; a
 * partitioned table's dependency on itself does not count.
 */
async function emptySchemas(tx: TransactionSql, schemas: readonly string[]): Promise<void> {
  const inSchemas = "n.nspname in (select json_array_elements_text($1::text::json))";
  const free = (oid: string) =>
    `not exists (select 1 from pg_depend d where d.objid = ${oid} and (d.deptype = 'e'
       or (d.deptype = 'i' and d.refobjid <> ${oid})))`;
  const objects = await tx.unsafe(
    `select kind, name from (
       select case c.relkind when 'S' then 2 else 1 end as rank, c.oid,
              case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW'
              when 'S' then 'SEQUENCE' when 'f' then 'FOREIGN TABLE' else 'TABLE' end as kind,
              format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${inSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and ${free("c.oid")}
       union all
       select 3, p.oid, 'ROUTINE',
              format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where ${inSchemas} and ${free("p.oid")}
       union all
       select 4, t.oid, case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end,
              format('%I.%I', n.nspname, t.typname)
         from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where ${inSchemas} and ${free("t.oid")} and (t.typtype in ('e', 'd', 'r', 'm', 'b', 'p')
           or (t.typtype = 'c' and exists (
                select 1 from pg_class c where c.oid = t.typrelid and c.relkind = 'c')))
       union all
       select 5, o.oid, 'COLLATION', format('%I.%I', n.nspname, o.collname)
         from pg_collation o join pg_namespace n on n.oid = o.collnamespace
        where ${inSchemas} and ${free("o.oid")}
       union all
       select 5, o.oid, 'CONVERSION', format('%I.%I', n.nspname, o.conname)
         from pg_conversion o join pg_namespace n on n.oid = o.connamespace
        where ${inSchemas} and ${free("o.oid")}
       union all
       select 5, o.oid, 'TEXT SEARCH CONFIGURATION', format('%I.%I', n.nspname, o.cfgname)
         from pg_ts_config o join pg_namespace n on n.oid = o.cfgnamespace
        where ${inSchemas} and ${free("o.oid")}
       union all
       select 5, o.oid, 'TEXT SEARCH DICTIONARY', format('%I.%I', n.nspname, o.dictname)
         from pg_ts_dict o join pg_namespace n on n.oid = o.dictnamespace
        where ${inSchemas} and ${free("o.oid")}
       union all
       select 5, o.oid, 'OPERATOR', format('%I.%s(%s, %s)', n.nspname, o.oprname,
              coalesce(o.oprleft::regtype::text, 'NONE'), coalesce(o.oprright::regtype::text, 'NONE'))
         from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
        where ${inSchemas} and ${free("o.oid")}
       union all
       select 6, o.oid, 'OPERATOR FAMILY', format('%I.%I USING %I', n.nspname, o.opfname, a.amname)
         from pg_opfamily o join pg_namespace n on n.oid = o.opfnamespace
         join pg_am a on a.oid = o.opfmethod
        where ${inSchemas} and ${free("o.oid")}
     ) o order by rank, oid`,
    [JSON.stringify(schemas)],
  );
  for (const { kind, name } of objects) {
    await tx.unsafe(`DROP ${kind} IF EXISTS ${name} CASCADE`);
  }
}
