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
import type { PostgresFormat } from "./dump.ts";
import { lines, runScript } from "./script.ts";
import { refuseWithoutPgRestore } from "./tools.ts";

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
    return new LockstepError(
      "BACKUP_TOOL_FAILED",
      `Cannot restore database "${db.name}": pg_restore failed: ${
        redact(complaint)
      }. The database was left as it was.`,
      { cause: error, data: { database: db.name, tool: "pg_restore" } },
    );
  }
  if (error instanceof LockstepError) return error;
  return new LockstepError(
    "BACKUP_INVALID",
    `Cannot restore database "${db.name}": ${
      redact(messageOf(error))
    }. The database was left as it was (the restore ran in one transaction).`,
    { cause: error, data: { database: db.name } },
  );
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
