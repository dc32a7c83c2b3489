/**
 * PostgreSQL backups: `pg_dump -Fc` of the managed schemas when
 * `--allow-run=pg_dump` is granted and `pg_dump` is installed, otherwise
 * lockstep's own dump (`builtin_dump.ts`). Both wait for table locks only
 * as long as asked (`--lock-wait-timeout`, `lock_timeout`), then fail with
 * `LOCK_HELD` naming the sessions holding locks.
 *
 * @module
 */
import { join } from "node:path";
import { LockstepError } from "../../errors.ts";
import { hashingSink, type Written } from "../../hashing.ts";
import { redact } from "../../redact.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { builtInDump } from "./builtin_dump.ts";
import { holdersOf } from "./dump_failure.ts";
import { lockTimedOut } from "./faults.ts";
import { pgToolAllowed, toolEnv } from "./tools.ts";

/** How a PostgreSQL database was dumped. */
export type PostgresFormat = "pg_dump" | "lockstep-sql";

/** A PostgreSQL backup artifact as written. */
export interface PostgresDump extends Written {
  /** Its file name in the backup folder. */
  readonly artifact: string;
  /** How it was written. */
  readonly format: PostgresFormat;
  /** Objects the built-in dump did not carry (a partial backup), as `kind schema.name`. */
  readonly skipped: readonly string[];
}

/** Options for {@link dumpPostgres}. */
export interface PostgresDumpOptions {
  /** Use pg_dump when it may be run (default `true`). */
  readonly pgDump?: boolean;
  /** Accept a built-in dump without the objects it cannot carry (default `false`: refuse). */
  readonly partial?: boolean;
  /** How long to wait for a table lock, in ms (default: no limit). */
  readonly lockTimeoutMs?: number;
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
  options: PostgresDumpOptions = {},
): Promise<PostgresDump> {
  const { lockTimeoutMs } = options;
  if (options.pgDump !== false && pgToolAllowed("pg_dump")) {
    const artifact = `${stem}.pgdump`;
    const written = await runPgDump(db, join(folder, artifact), lockTimeoutMs);
    if (written !== undefined) return { ...written, artifact, format: "pg_dump", skipped: [] };
  }
  const artifact = `${stem}.sql.gz`;
  const { skipped, ...written } = await builtInDump(db, join(folder, artifact), {
    partial: options.partial ?? false,
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
  });
  return { ...written, artifact, format: "lockstep-sql", skipped };
}

/** Runs pg_dump into `out`; `undefined` when pg_dump is not installed. */
async function runPgDump(
  db: DatabaseConfig,
  out: string,
  lockTimeoutMs: number | undefined,
): Promise<Written | undefined> {
  const args = ["-Fc", "--no-password", `--dbname=${db.url}`];
  if (lockTimeoutMs !== undefined) args.push(`--lock-wait-timeout=${Math.max(1, lockTimeoutMs)}`);
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
  if (!status.success && /LOCK TABLE .* IN ACCESS SHARE MODE|lock timeout/.test(stderr)) {
    throw lockTimedOut(db.name, lockTimeoutMs ?? null, await holdersOf(db), redact(stderr.trim()));
  }
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
