/**
 * Marking migrations applied without running them: adopting an existing
 * database, or accepting a changed file of an applied migration.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { databaseAhead, refusal } from "../problems.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { refuseOpenJournal } from "../journal.ts";
import { discover } from "./discover.ts";
import { acceptChecksum, ensureLedger, recordMigration, type Stamp } from "./ledger.ts";
import { ancestors, dependencies, plan } from "./plan.ts";
import { Connections, releaseAll } from "./connections.ts";
import { readLedgers } from "./status.ts";
import { withPacks } from "../packs/registry.ts";
import { recordSchema } from "./schema.ts";
import { ledgerTable } from "../sql/dialect.ts";

/** Options for {@link stamp}. */
export interface StampOptions {
  /** How long to wait for another process's lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
  /**
   * Asked with the ids about to be stamped (or accepted) before anything is
   * written; resolve `false` to stop. Default: go ahead.
   */
  confirm?: (ids: readonly string[]) => Promise<boolean>;
}

/** What {@link stamp} recorded. */
export interface StampResult {
  /** Ids marked applied (`stamped`), in order. */
  readonly stamped: readonly string[];
  /** Ids whose changed file was accepted (new checksum recorded). */
  readonly accepted: readonly string[];
  /** False when `confirm` declined. */
  readonly confirmed: boolean;
}

/**
 * Marks `target` (a migration id, with the unapplied migrations it depends
 * on) or, for `"all"`, every pending migration, as applied without running
 * it. A `target` that is applied but whose file changed has its new checksum
 * recorded instead. Stamping says the database already is as those
 * migrations make it, so the live schema of each database stamped in is
 * recorded as the baseline for drift detection.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 *
 * @throws {LockstepError} `MIGRATION_NOT_FOUND`, `DATABASE_AHEAD`, `LOCK_HELD`,
 * and the planning errors.
 * @example
 * ```ts ignore
 * await stamp(config, "all"); // adopt an existing database
 * ```
 */
export async function stamp(
  base: Config,
  target: string | "all",
  options: StampOptions = {},
): Promise<StampResult> {
  const { lockTimeoutMs = 30_000 } = options;
  const config = await withPacks(base);
  await refuseOpenJournal(config, "stamp");
  const discovered = await discover(Object.values(config.packages));
  const byId = new Map(discovered.migrations.map((m) => [m.id, m]));
  if (target !== "all" && !byId.has(target)) {
    throw new LockstepError(
      "MIGRATION_NOT_FOUND",
      `Cannot stamp "${target}": no package has that migration. Ids are <package>/<file stem>.`,
      { data: { id: target } },
    );
  }
  const mark: Stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
  await using connections = new Connections(config, { readOnly: false, lockTimeoutMs });
  const locks = await connections.lockAll(lockTimeoutMs);
  try {
    for (const db of connections.used()) await ensureLedger(await connections.get(db.name));
    const { rows } = await readLedgers(connections);
    const result = plan(discovered.migrations, rows);
    if (result.ahead.length > 0) throw refusal(databaseAhead(result.ahead), "stamp");
    const changed = result.changed.find((c) => c.id === target);
    if (changed) {
      if (options.confirm && !(await options.confirm([changed.id]))) {
        return { stamped: [], accepted: [], confirmed: false };
      }
      const db = await connections.get(config.packages[byId.get(target)!.package]!.database);
      await db.transaction((tx) => acceptChecksum(tx, changed.id, changed.current, mark));
      return { stamped: [], accepted: [changed.id], confirmed: true };
    }
    const wanted = target === "all"
      ? undefined
      : ancestors(target, dependencies(discovered.migrations));
    const todo = result.pending.filter((id) => wanted?.has(id) ?? true);
    if (todo.length > 0 && options.confirm && !(await options.confirm(todo))) {
      return { stamped: [], accepted: [], confirmed: false };
    }
    const databaseOf = (id: string) => config.packages[byId.get(id)!.package]!.database;
    // Stamping says the database already is as these migrations make it: the
    // live schema is recorded with the last stamp of each database.
    const lastOf = new Map(todo.map((id) => [databaseOf(id), id]));
    for (const id of todo) {
      const migration = byId.get(id)!;
      const database = databaseOf(id);
      const db = await connections.get(database);
      await db.transaction(async (tx) => {
        const found = await tx.query(
          `select 1 as found from ${ledgerTable(tx, "lockstep_migrations")} where id = $1`,
          [id],
        );
        if (found.length === 0) {
          await recordMigration(tx, {
            id,
            package: migration.package,
            checksum: migration.checksum,
            durationMs: 0,
            action: "stamped",
            phase: migration.phase ?? "expand",
          }, mark);
        }
        if (lastOf.get(database) === id) {
          await recordSchema(tx, config.databases[database]!.schemas, mark);
        }
      });
    }
    return { stamped: todo, accepted: [], confirmed: true };
  } finally {
    await releaseAll(locks);
  }
}
