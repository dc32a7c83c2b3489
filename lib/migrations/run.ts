/**
 * Applying migrations: each one and its ledger row commit in one
 * transaction, under the migration lock of every database involved.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError, messageOf } from "../errors.ts";
import { undoableFiles } from "../files.ts";
import { faultHook, refuseOpenJournal } from "../journal.ts";
import { hostName, readCodeVersion } from "../host.ts";
import type { Database, Sql } from "../sql/driver.ts";
import { dialectOf } from "../sql/dialects.ts";
import { redact } from "../redact.ts";
import { discover, type Discovered } from "./discover.ts";
import type { BaselineStep } from "./baseline.ts";
import { ensureLedger, recordEvent, recordMigration, type Stamp } from "./ledger.ts";
import { type Plan, plan } from "./plan.ts";
import { Connections, releaseAll } from "./connections.ts";
import { readLedgers } from "./status.ts";
import type { Migration, MigrationContext } from "./types.ts";
import {
  acceptDrift,
  recordSchema,
  refuseDrift,
  type SchemaState,
  schemaStates,
} from "./schema.ts";

/** A migration as `migrate` shows it before running. */
export interface PlannedMigration {
  /** `<package>/<file stem>`. */
  readonly id: string;
  /** Its package. */
  readonly package: string;
  /** The database it applies to. */
  readonly database: string;
  /** What it does. */
  readonly info: string;
  /** `sql` or `ts`. */
  readonly kind: "sql" | "ts";
  /** False when it runs without a transaction. */
  readonly transaction: boolean;
  /** `.sql` migrations: the statements. */
  readonly sql?: string;
  /** Seconds, from the migration's `estimate()` when it has one (dry runs only). */
  readonly estimateSeconds?: number;
}

/** What happened, step by step, for a progress display. */
export type MigrateEvent =
  | { type: "start"; migration: PlannedMigration; index: number; total: number }
  | { type: "done"; migration: PlannedMigration; durationMs: number }
  | { type: "skipped"; migration: PlannedMigration; reason: string }
  | { type: "log"; migration: PlannedMigration; message: string }
  | { type: "progress"; migration: PlannedMigration; done: number; total: number };

/** Options for {@link migrate}. */
export interface MigrateOptions {
  /** Apply only this migration and what it depends on (default: everything pending). */
  to?: string;
  /** Plan and estimate, change nothing (default `false`). */
  dryRun?: boolean;
  /** Unattended: passed to migrations as `ctx.yes` (default `false`). */
  yes?: boolean;
  /** How long to wait for another process's lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
  /**
   * Record the live schema as the new baseline before applying, accepting
   * changes made outside migrations (logged as a `drift-accepted` event).
   * Without it, drift refuses the run with `SCHEMA_DRIFT` (default `false`).
   */
  acceptDrift?: boolean;
  /**
   * Asked with the plan (and, with `acceptDrift`, the drift to accept) before
   * anything is applied; resolve `false` to stop. Default: go ahead.
   */
  confirm?: (
    pending: readonly PlannedMigration[],
    drift: readonly SchemaState[],
  ) => Promise<boolean>;
  /** Receives each step as it happens. */
  onProgress?: (event: MigrateEvent) => void;
  /**
   * Test facility: exit the process at once after the n-th migration
   * committed (`migrate:applied[:n]`), as `LOCKSTEP_FAULT` does for install.
   */
  fault?: string;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** The plan shown (or run). */
  readonly planned: readonly PlannedMigration[];
  /** Ids applied by this run, in order. */
  readonly applied: readonly string[];
  /** True for `dryRun`. */
  readonly dryRun: boolean;
  /** False when `confirm` declined. */
  readonly confirmed: boolean;
  /** Sum of the known estimates, in seconds (dry runs). */
  readonly estimateSeconds: number;
  /**
   * With `acceptDrift`: each database whose live schema was recorded as the
   * new baseline, with the drift that was accepted (empty when the record was
   * missing or stale rather than different).
   */
  readonly acceptedDrift: readonly SchemaState[];
}

/**
 * Brings every database up to the code: plans, asks `confirm`, takes the
 * migration locks, and applies each pending migration in its own transaction.
 *
 * After the last migration of each database, in the same transaction, the
 * live schema is recorded for drift detection.
 *
 * @throws {LockstepError} `DATABASE_AHEAD`, `MIGRATION_CHANGED`, `SCHEMA_DRIFT`,
 * `MIGRATION_FAILED`, `LOCK_HELD`, `LOCK_LOST`, and the planning errors.
 */
export async function migrate(
  config: Config,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const { dryRun = false, yes = false, lockTimeoutMs = 30_000, onProgress } = options;
  const accepting = options.acceptDrift === true;
  const fault = faultHook(options.fault);
  if (!dryRun) await refuseOpenJournal(config, "migrate");
  const discovered = await discover(Object.values(config.packages));
  await using connections = new Connections(config, { readOnly: dryRun });
  const planOptions = {
    baselines: Object.values(discovered.baselines),
    ...(options.to === undefined ? {} : { to: options.to }),
  };
  const { rows } = await readLedgers(connections);
  const first = refuseBlocked(plan(discovered.migrations, rows, planOptions));
  const byId = stepsOf(discovered, first.baselines);
  const stamp: Stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
  const describe = (id: string) => planned(byId.get(id)!.migration, config);
  let steps = first.pending.map(describe);
  const states = await schemaStates(connections);
  // What --accept-drift would record: drift, or a record that is missing or stale.
  const toAccept = accepting
    ? states.filter((s) => s.record !== "current" || s.changes.length)
    : [];
  if (!accepting) refuseDrift(states, dryRun ? "plan the migration" : "migrate");

  if (dryRun) {
    steps = await withEstimates(steps, byId, connections, config, yes);
    const estimateSeconds = steps.reduce((sum, m) => sum + (m.estimateSeconds ?? 0), 0);
    return {
      planned: steps,
      applied: [],
      dryRun,
      confirmed: true,
      estimateSeconds,
      acceptedDrift: [],
    };
  }
  const empty = { applied: [], dryRun, estimateSeconds: 0, acceptedDrift: [] };
  if (steps.length === 0 && toAccept.length === 0) {
    return { ...empty, planned: [], confirmed: true };
  }
  if (options.confirm && !(await options.confirm(steps, toAccept))) {
    return { ...empty, planned: steps, confirmed: false };
  }

  const confirmed = new Set(first.pending);
  const locks = await connections.lockAll(lockTimeoutMs);
  const applied: string[] = [];
  const acceptedDrift: SchemaState[] = [];
  try {
    for (const db of connections.used()) await ensureLedger(await connections.get(db.name));
    if (accepting) {
      for (const db of connections.used()) {
        const accepted = await acceptDrift(await connections.get(db.name), db.schemas, stamp);
        if (accepted) acceptedDrift.push(accepted);
      }
    }
    // Another process may have applied some while we waited: plan again under the locks.
    const again = refuseBlocked(
      plan(discovered.migrations, (await readLedgers(connections)).rows, planOptions),
    );
    const todo = again.pending.filter((id) => confirmed.has(id));
    const databaseOf = (id: string) => config.packages[byId.get(id)!.migration.package]!.database;
    // Each database's schema is recorded in the transaction of its last migration of the run.
    const lastOf = new Map(todo.map((id) => [databaseOf(id), id]));
    const unrecorded = new Set<string>();
    for (const [index, id] of todo.entries()) {
      const step = byId.get(id)!;
      const shown = describe(id);
      const database = databaseOf(id);
      const db = await connections.get(database);
      const lock = locks.get(database)!;
      lock.assertHeld();
      onProgress?.({ type: "start", migration: shown, index, total: todo.length });
      const started = performance.now();
      const schemas = lastOf.get(database) === id ? config.databases[database]!.schemas : null;
      const run = { yes, shown, onProgress, exclusive: lock.exclusive, schemas };
      const ran = await applyOne(step, db, config, stamp, run, applied);
      if (!ran) {
        onProgress?.({ type: "skipped", migration: shown, reason: "applied by another process" });
        if (schemas && applied.some((done) => databaseOf(done) === database)) {
          unrecorded.add(database);
        }
        continue;
      }
      applied.push(id);
      fault("migrate:applied");
      onProgress?.({ type: "done", migration: shown, durationMs: performance.now() - started });
      await yieldNow();
    }
    for (const name of unrecorded) {
      const schemas = config.databases[name]!.schemas;
      await (await connections.get(name)).transaction((tx) => recordSchema(tx, schemas, stamp));
    }
  } finally {
    await releaseAll(locks);
  }
  return { planned: steps, applied, dryRun, confirmed: true, estimateSeconds: 0, acceptedDrift };
}

let lastYield = performance.now();

/**
 * Lets signals and timers run between steps (SQLite work is synchronous),
 * at most every 50 ms: a timer turn costs about 2 ms, too much per migration.
 */
async function yieldNow(): Promise<void> {
  if (performance.now() - lastYield < 50) return;
  await new Promise((resolve) => setTimeout(resolve, 0));
  lastYield = performance.now();
}

/** Throws when the plan must not run: the database is ahead, or an applied file changed. */
export function refuseBlocked(result: Plan): Plan {
  if (result.ahead.length > 0) {
    const ids = result.ahead.map((row) => row.id);
    throw new LockstepError(
      "DATABASE_AHEAD",
      `Cannot migrate: the database has ${ids.length} migration(s) this code does not know ` +
        `(${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}). The database is ahead of ` +
        `the code; install the code that matches it (downgrades are not supported).`,
      { data: { ids, databases: [...new Set(result.ahead.map((r) => r.database))] } },
    );
  }
  if (result.changed.length > 0) {
    const ids = result.changed.map((c) => c.id);
    throw new LockstepError(
      "MIGRATION_CHANGED",
      `Cannot migrate: applied migration(s) changed on disk since they ran: ${ids.join(", ")}. ` +
        `Restore the original file, or accept the change with "lockstep stamp ID".`,
      { data: { changed: result.changed } },
    );
  }
  return result;
}

/** What one step of a run applies and records: a migration, or a baseline stamping those it covers. */
interface Step {
  readonly migration: Migration;
  readonly records: readonly {
    id: string;
    package: string;
    checksum: string;
    action: "applied" | "baseline";
  }[];
}

/** The steps a plan can name: every migration, and each baseline that runs. */
function stepsOf(discovered: Discovered, baselines: readonly BaselineStep[]): Map<string, Step> {
  const steps = new Map<string, Step>();
  for (const m of discovered.migrations) {
    steps.set(m.id, {
      migration: m,
      records: [{ id: m.id, package: m.package, checksum: m.checksum, action: "applied" }],
    });
  }
  for (const step of baselines) {
    const file = discovered.baselines[step.package]!;
    const covered = step.covers.map((id) => steps.get(id)!.migration);
    const migration: Migration = {
      id: step.id,
      package: step.package,
      stem: "baseline",
      timestamp: covered[0]!.timestamp,
      dependsOn: [],
      checksum: file.checksum,
      path: file.path,
      kind: file.module ? "ts" : "sql",
      info: `baseline: the schema as of ${file.covers} (stamps ${covered.length} migration(s))`,
      transaction: true,
      ...(file.up === undefined ? {} : { up: file.up }),
      ...(file.module === undefined
        ? {}
        : { module: { info: file.module.info, up: file.module.up } }),
    };
    const records = covered.map((m) => ({
      id: m.id,
      package: m.package,
      checksum: m.checksum,
      action: "baseline" as const,
    }));
    steps.set(step.id, { migration, records });
  }
  return steps;
}

function planned(migration: Migration, config: Config): PlannedMigration {
  return {
    id: migration.id,
    package: migration.package,
    database: config.packages[migration.package]!.database,
    info: migration.info,
    kind: migration.kind,
    transaction: migration.transaction,
    ...(migration.up === undefined ? {} : { sql: migration.up }),
  };
}

async function withEstimates(
  list: PlannedMigration[],
  byId: ReadonlyMap<string, Step>,
  connections: Connections,
  config: Config,
  yes: boolean,
): Promise<PlannedMigration[]> {
  const out: PlannedMigration[] = [];
  for (const item of list) {
    const estimate = byId.get(item.id)!.migration.module?.estimate;
    if (!estimate) {
      out.push(item);
      continue;
    }
    // A SQLite file that does not exist yet is fine for a dry run; anything else is an error.
    const db = await connections.get(item.database).catch((error) => {
      if (error instanceof LockstepError && error.data.missing === true) return undefined;
      throw error;
    });
    const ctx = context(db ?? noDatabase(item.database), config, {
      yes,
      onLog() {},
      onProgress() {},
    });
    out.push({ ...item, estimateSeconds: Number(await estimate(ctx.context)) || 0 });
  }
  return out;
}

function noDatabase(name: string): Sql {
  const fail = () =>
    Promise.reject(
      new LockstepError(
        "DATABASE_UNREACHABLE",
        `Cannot query database "${name}": it does not exist yet.`,
      ),
    );
  return { dialect: "sqlite", query: fail, exec: fail };
}

function context(
  sql: Sql,
  config: Config,
  hooks: {
    yes: boolean;
    onLog(message: string): void;
    onProgress(done: number, total: number): void;
  },
) {
  const files = undoableFiles(config.root);
  const ctx: MigrationContext = {
    sql,
    files,
    log: (message) => hooks.onLog(String(message)),
    progress: (done, total) => hooks.onProgress(done, total),
    yes: hooks.yes,
  };
  return { context: ctx, files };
}

/**
 * Applies one migration; false when another process applied it first.
 * On failure its database and file changes are undone and the failure is logged.
 */
async function applyOne(
  step: Step,
  db: Database,
  config: Config,
  stamp: Stamp,
  run: {
    yes: boolean;
    shown: PlannedMigration;
    onProgress: ((event: MigrateEvent) => void) | undefined;
    /** The lock keeps others out (no need to re-check the ledger). */
    exclusive: boolean;
    /** The last migration of its database in this run: record the schema of these schemas. */
    schemas: readonly string[] | null;
  },
  appliedSoFar: readonly string[],
): Promise<boolean> {
  const { migration, records } = step;
  const { shown, onProgress } = run;
  const started = performance.now();
  const { context: ctx, files } = context(db, config, {
    yes: run.yes,
    onLog: (message) => onProgress?.({ type: "log", migration: shown, message }),
    onProgress: (done, total) => onProgress?.({ type: "progress", migration: shown, done, total }),
  });
  const record = async (sql: Sql) => {
    const durationMs = Math.round(performance.now() - started);
    for (const row of records) await recordMigration(sql, { ...row, durationMs }, stamp);
    if (run.schemas) await recordSchema(sql, run.schemas, stamp);
  };
  const alreadyApplied = async (sql: Sql) =>
    !run.exclusive &&
    (await sql.query("select 1 as found from lockstep_migrations where id = $1", [records[0]!.id]))
        .length > 0;
  try {
    if (migration.transaction) {
      return await db.transaction(async (tx) => {
        if (await alreadyApplied(tx)) return false;
        await body(migration, { ...ctx, sql: tx });
        await record(tx);
        return true;
      });
    }
    if (await alreadyApplied(db)) return false;
    await body(migration, ctx);
    await db.transaction(record);
    return true;
  } catch (error) {
    if (error instanceof LockstepError && error.code === "LOCK_HELD") throw error;
    const changedFiles = files.changed.length;
    const undone = await files.undo().then(() => undefined, (e) => e);
    const reason = redact(messageOf(error));
    // Best effort: the migration's own error is what the operator must see.
    await recordEvent(db, { kind: "failed", migration: migration.id, message: reason }, stamp)
      .catch(() => undefined);
    throw new LockstepError(
      "MIGRATION_FAILED",
      `Cannot apply migration "${migration.id}" to database "${db.name}": ${reason}. ` +
        (migration.transaction
          ? "Its changes were rolled back"
          : "It ran without a transaction: statements before the failing one stay applied") +
        (changedFiles > 0 && undone === undefined ? " and its file changes undone" : "") +
        `; ${appliedSoFar.length} migration(s) applied earlier in this run stay applied.`,
      {
        cause: undone === undefined ? error : new AggregateError([error, undone]),
        data: { id: migration.id, database: db.name, applied: [...appliedSoFar] },
      },
    );
  }
}

async function body(migration: Migration, ctx: MigrationContext): Promise<void> {
  if (migration.module) {
    await migration.module.pre?.(ctx);
    await migration.module.up(ctx);
    await migration.module.post?.(ctx);
    return;
  }
  const text = migration.up ?? "";
  if (text === "") return;
  if (migration.transaction) await ctx.sql.exec(text);
  else await dialectOf(ctx.sql).runWithoutTransaction(ctx.sql, text);
}
