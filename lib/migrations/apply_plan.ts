/**
 * Applying a confirmed migration plan: under the operation lock and every
 * database's migration lock, with the files of interrupted migrations put
 * back first, the plan made again (another process may have applied some),
 * then each pending migration run: on each database whose migrations can all
 * run in a transaction, the whole run is one transaction committed only when
 * every database succeeded; elsewhere each migration commits on its own. A
 * failure rolls back what did not commit and undoes the file changes.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isLockstepError, LockstepError, lockstepError } from "../errors.ts";
import { fault } from "../fault.ts";
import { type UndoableFiles, undoableFiles } from "../files.ts";
import type { Flow } from "../flow.ts";
import { readCodeVersion } from "../host.ts";
import { stopIfAborted } from "../interrupt.ts";
import { takeOperationLock } from "../oplock.ts";
import { databaseAhead, migrationChanged, refusal } from "../problems.ts";
import type { Database, Lock, Sql } from "../sql/driver.ts";
import {
  applyAndCommit,
  applyIn,
  type MigrateEvent,
  type MigrationStep,
  planned,
  type PlannedMigration,
  recordFailure,
  yieldNow,
} from "./apply.ts";
import { Connections, releaseAll } from "./connections.ts";
import type { Discovered } from "./discover.ts";
import { FileJournal, openMigrationFiles, recoverMigrationFiles } from "./file_journal.ts";
import { explainFailure } from "./located.ts";
import { redact } from "../redact.ts";
import { ensureLedger, type Stamp } from "./ledger.ts";
import { type Plan, plan as planMigrations } from "./plan.ts";
import {
  acceptDrift,
  type Recorded,
  recordSchema,
  schemaHintKey,
  type SchemaState,
  type TableFingerprints,
} from "./schema.ts";
import type { CheckCache } from "../check_cache.ts";
import { readLedgers } from "./status.ts";
import { type HeldContract, planFor, readFleetFacts } from "../fleet/hold.ts";
import { backUpShared, type SharedBackup } from "../fleet/backup.ts";
import { ledgerHost, sharedDatabases } from "../fleet/registry.ts";

/** How a migrate run applies its plan. */
export interface RunOptions {
  /** Apply only this migration and what it depends on (default: everything pending). */
  to?: string;
  /** Unattended: passed to migrations as `ctx.yes` (default `false`). */
  yes?: boolean;
  /** How long to wait for another process's lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
  /**
   * `run` (default): on each database whose pending migrations can all run in
   * a transaction, the whole run is one transaction, committed only when every
   * database's migrations succeeded, so a failure leaves nothing to restore.
   * `per-migration`: each migration commits on its own (long runs).
   */
  transaction?: "run" | "per-migration";
  /**
   * Record the live schema as the new baseline before applying, accepting
   * changes made outside migrations (logged as a `drift-accepted` event).
   * Without it, drift refuses the run with `SCHEMA_DRIFT` (default `false`).
   */
  acceptDrift?: boolean;
  /** Receives each step as it happens. */
  onProgress?: (event: MigrateEvent) => void;
  /** Stop at the next safe point (between migrations) once it aborts. */
  signal?: AbortSignal;
  /**
   * In a fleet: each shared database's backup before this run migrated it,
   * taken here or (for the same release) by an earlier run on any host.
   */
  onSharedBackup?: (backup: SharedBackup) => void;
}

/** Which databases run their pending migrations in one transaction, and which one by one. */
export interface TransactionModes {
  /** Databases whose whole run is one transaction. */
  readonly whole: readonly string[];
  /** Databases whose migrations commit one by one. */
  readonly perMigration: readonly string[];
}

/** What migrate judged before changing anything. */
export interface MigratePlan {
  readonly discovered: Discovered;
  readonly first: Plan;
  readonly byId: ReadonlyMap<string, MigrationStep>;
  readonly pending: PlannedMigration[];
  /** What `acceptDrift` records: drift, or a record that is missing or stale. */
  readonly toAccept: readonly SchemaState[];
  /** In a fleet: contract migrations held back for hosts with older code. */
  readonly held: readonly HeldContract[];
  /** check's hints, read when judging: the run adds each recorded schema's fingerprint. */
  readonly hints: CheckCache;
  /** Each database whose record was current and matched its catalog when judged: that catalog. */
  readonly matched: ReadonlyMap<string, TableFingerprints>;
}

/** What one run applies, and how: the state the loop below shares. */
interface Run {
  readonly config: Config;
  readonly connections: Connections;
  readonly byId: ReadonlyMap<string, MigrationStep>;
  readonly todo: readonly string[];
  readonly stamp: Stamp;
  readonly locks: ReadonlyMap<string, Lock>;
  /** Databases whose whole run is one transaction. */
  readonly whole: ReadonlySet<string>;
  readonly options: Pick<RunOptions, "yes" | "onProgress" | "signal">;
  /** Ids applied and committed one by one (per-migration databases). */
  readonly committed: string[];
  /** Ids applied inside a whole-run transaction, not committed yet. */
  readonly pending: string[];
  /** Where file changes are saved before they happen, so that a crash can be undone. */
  readonly journal: FileJournal;
  /** File changes of the whole-run migrations: undone when the run fails. */
  readonly files: UndoableFiles;
  /** Each database's catalog as its schema was recorded in this run. */
  readonly recorded: Map<string, Recorded>;
  /** Each database's catalog when its record last matched it (none after accepting drift). */
  readonly matched: ReadonlyMap<string, TableFingerprints>;
}

/**
 * Takes the locks, accepts drift when asked, plans again and applies what
 * is still pending: on each database whose pending migrations can all run
 * in a transaction (and unless `transaction: "per-migration"`), the whole
 * run is one transaction, committed only when every database's migrations
 * succeeded; elsewhere each migration commits on its own.
 */
export async function applyPlan(
  config: Config,
  connections: Connections,
  plan: MigratePlan & {
    options: Pick<
      RunOptions,
      | "yes"
      | "lockTimeoutMs"
      | "onProgress"
      | "acceptDrift"
      | "to"
      | "transaction"
      | "signal"
      | "onSharedBackup"
    >;
    applied: string[];
    acceptedDrift: SchemaState[];
    flow: Flow;
    /** In a fleet: back up each shared database before migrating it (once per release). */
    backupShared: boolean;
  },
): Promise<void> {
  const { options, flow } = plan;
  const stamp: Stamp = {
    codeVersion: await readCodeVersion(config),
    host: await ledgerHost(config),
  };
  // One lockstep at a time changes the app's files (ctx.files and their journal).
  using _files = await takeOperationLock(config, "migrate", options.lockTimeoutMs ?? 30_000);
  const locks = await connections.lockAll(options.lockTimeoutMs ?? 30_000);
  try {
    await recoverFiles(config, connections);
    for (const db of connections.used()) await ensureLedger(await connections.get(db.name));
    if (options.acceptDrift === true) {
      for (const db of connections.used()) {
        const accepted = await acceptDrift(await connections.get(db.name), db.schemas, stamp);
        if (accepted) {
          flow.changed(`database:${db.name}`);
          plan.acceptedDrift.push(accepted);
        }
      }
    }
    // Another process may have applied some while we waited, and in a fleet hosts may have
    // changed: plan again under the locks (a contract migration runs only if still free to).
    const fleet = await readFleetFacts(config, connections, stamp.codeVersion);
    const planning = planFor(config, fleet, plan.discovered.migrations);
    const again = refuseBlocked(
      planMigrations(plan.discovered.migrations, (await readLedgers(connections)).rows, {
        baselines: Object.values(plan.discovered.baselines),
        ...(options.to === undefined ? {} : { to: options.to }),
        hold: planning.hold,
        tolerate: planning.tolerate,
      }),
    );
    const confirmed = new Set(plan.first.pending);
    const todo = again.pending.filter((id) => confirmed.has(id));
    if (plan.backupShared) {
      // In a fleet the host that migrates a shared database backs it up, once per release.
      const shared = new Set(sharedDatabases(config).map((db) => db.name));
      const migrating = [...new Set(todo.map((id) => databaseOf(config, plan.byId, id)))]
        .filter((name) => shared.has(name));
      const taken = await backUpShared(
        config,
        connections,
        migrating,
        stamp,
        options.lockTimeoutMs ?? 30_000,
      );
      for (const made of taken) options.onSharedBackup?.(made);
    }
    const journal = new FileJournal(config);
    const run: Run = {
      config,
      connections,
      byId: plan.byId,
      todo,
      stamp,
      locks,
      whole: new Set(transactionModes(config, plan.byId, todo, options.transaction).whole),
      options,
      committed: [],
      pending: [],
      journal,
      files: undoableFiles(config.root, { onRemember: (path, was) => journal.remember(path, was) }),
      recorded: new Map(),
      matched: options.acceptDrift === true ? new Map() : plan.matched,
    };
    try {
      await runAll(run, flow);
    } finally {
      plan.applied.push(...run.committed);
    }
    // Committed: each recorded schema matches its catalog as fingerprinted in that transaction.
    for (const [name, recorded] of run.recorded) {
      const { display } = await connections.get(name);
      const where = schemaHintKey(display, config.databases[name]!.schemas);
      plan.hints.rememberSchema(name, where, recorded.fingerprint, recorded.tables);
    }
    await plan.hints.save(config, { prune: false });
  } finally {
    await releaseAll(locks);
  }
}

/**
 * Which databases run their pending migrations in one transaction (`whole`):
 * every database, unless `per-migration` is asked for or one of its
 * migrations runs without a transaction.
 */
export function transactionModes(
  config: Config,
  byId: ReadonlyMap<string, MigrationStep>,
  todo: readonly string[],
  mode: "run" | "per-migration" = "run",
): TransactionModes {
  const databases = new Map<string, boolean>();
  for (const id of todo) {
    const { migration } = byId.get(id)!;
    const database = config.packages[migration.package]!.database;
    databases.set(database, (databases.get(database) ?? true) && migration.transaction);
  }
  const names = [...databases.keys()].sort();
  if (mode === "per-migration") return { whole: [], perMigration: names };
  return {
    whole: names.filter((name) => databases.get(name)),
    perMigration: names.filter((name) => !databases.get(name)),
  };
}

/**
 * Applies `run.todo` in order inside the whole-run transactions, then
 * commits them; a failure anywhere rolls them back, undoes the file changes
 * of their migrations and throws `MIGRATION_FAILED` saying what stays.
 */
function databaseOf(
  config: Config,
  byId: ReadonlyMap<string, MigrationStep>,
  id: string,
): string {
  return config.packages[byId.get(id)!.migration.package]!.database;
}

async function runAll(run: Run, flow: Flow): Promise<void> {
  const { config, connections, byId, todo } = run;
  const databaseOf = (id: string) => config.packages[byId.get(id)!.migration.package]!.database;
  // Each database's schema is recorded in the transaction of its last migration of the run.
  const lastOf = new Map(todo.map((id) => [databaseOf(id), id]));
  const whole = await Promise.all([...run.whole].map((name) => connections.get(name)));
  let failed: { id: string; error: unknown; files: UndoableFiles | undefined } | undefined;
  // A database whose run transaction committed is changed, even if a later commit fails.
  const committed = (name: string) => {
    if (run.pending.some((id) => databaseOf(id) === name)) flow.changed(`database:${name}`);
  };
  try {
    await withTransactions(whole, committed, async (txs) => {
      for (const [index, id] of todo.entries()) {
        stopIfAborted(run.options.signal, `before migration "${id}"`);
        const database = databaseOf(id);
        const schemas = lastOf.get(database) === id ? config.databases[database]!.schemas : null;
        const tx = txs.get(database);
        run.journal.current = id;
        const files = tx
          ? run.files
          : undoableFiles(config.root, { onRemember: (p, was) => run.journal.remember(p, was) });
        try {
          await applyStep(run, id, index, tx, schemas, files, flow);
        } catch (error) {
          failed = { id, error, files: tx ? undefined : files };
          throw error;
        }
        await yieldNow();
      }
    });
  } catch (error) {
    if (isLockstepError(error, "INTERRUPTED")) throw await interrupted(run, error);
    // A lock or connection lost under a migration is still its failure: undo, record, say so.
    if (failed === undefined) throw error;
    throw await migrationFailed(run, failed.id, failed.error, failed.files);
  }
  run.committed.push(...run.pending);
  await run.journal.forget(run.pending);
}

/** Applies one migration: in its database's run transaction `tx`, or committed on its own. */
async function applyStep(
  run: Run,
  id: string,
  index: number,
  tx: Sql | undefined,
  schemas: readonly string[] | null,
  files: UndoableFiles,
  flow: Flow,
): Promise<void> {
  const { config, byId, options } = run;
  const step = byId.get(id)!;
  const shown = planned(step.migration, config);
  const lock = run.locks.get(shown.database)!;
  lock.assertHeld();
  options.onProgress?.({ type: "start", migration: shown, index, total: run.todo.length });
  const started = performance.now();
  const how = {
    yes: options.yes ?? false,
    shown,
    onProgress: options.onProgress,
    schemas,
    files,
    before: run.matched.get(shown.database),
    onRecorded: (recorded: Recorded) => run.recorded.set(shown.database, recorded),
  };
  const stepRun = { ...how, exclusive: lock.exclusive };
  let ran: boolean;
  if (tx) ran = await applyIn(step, tx, run.stamp, stepRun);
  else {
    const db = await run.connections.get(shown.database);
    try {
      ran = await applyAndCommit(step, db, run.stamp, stepRun);
    } catch (error) {
      // Statements before the failure of one without a transaction stay applied.
      if (!shown.transaction) flow.changed(`database:${shown.database}`);
      throw error;
    }
  }
  if (!ran) {
    options.onProgress?.({
      type: "skipped",
      migration: shown,
      reason: "applied by another process",
    });
    if (schemas) await recordSchemaOf(run, shown.database, tx);
    return;
  }
  if (tx) run.pending.push(id);
  else {
    run.committed.push(id);
    flow.changed(`database:${shown.database}`);
    await run.journal.forget([id]);
  }
  fault("migrate:applied");
  options.onProgress?.({ type: "done", migration: shown, durationMs: performance.now() - started });
}

/** Records the schema of a database whose last planned migration another process applied. */
async function recordSchemaOf(run: Run, database: string, tx: Sql | undefined): Promise<void> {
  const schemas = run.config.databases[database]!.schemas;
  const ours = [...run.committed, ...run.pending].some((id) =>
    run.config.packages[run.byId.get(id)!.migration.package]!.database === database
  );
  if (!ours) return;
  if (tx) await recordSchema(tx, schemas, run.stamp);
  else {
    const db = await run.connections.get(database);
    await db.transaction((sql) => recordSchema(sql, schemas, run.stamp));
  }
}

/**
 * Runs `fn` inside one transaction on each of `dbs` (nested, in name order),
 * so that they commit only when `fn` succeeded, and all roll back otherwise;
 * `committed` hears of each database as its transaction commits.
 */
async function withTransactions<T>(
  dbs: readonly Database[],
  committed: (name: string) => void,
  fn: (txs: ReadonlyMap<string, Sql>) => Promise<T>,
  txs: ReadonlyMap<string, Sql> = new Map(),
): Promise<T> {
  const [first, ...rest] = dbs;
  if (first === undefined) return await fn(txs);
  const result = await first.transaction((tx) =>
    withTransactions(rest, committed, fn, new Map([...txs, [first.name, tx]]))
  );
  committed(first.name);
  return result;
}

/**
 * The error of a failed run, after every whole-run transaction rolled back:
 * the migration, its database, the reason, and what stays applied. The file
 * changes of the rolled-back migrations are undone and the failure is logged.
 */
async function migrationFailed(
  run: Run,
  id: string,
  error: unknown,
  own: UndoableFiles | undefined,
): Promise<LockstepError> {
  const { config, byId } = run;
  const step = byId.get(id)!.migration;
  const database = config.packages[step.package]!.database;
  const changedFiles = run.files.changed.length + (own?.changed.length ?? 0);
  const undone = await run.files.undo().then(() => own?.undo()).then(() => undefined, (e) => e);
  if (undone === undefined) await run.journal.forget([...run.pending, id]);
  const files = changedFiles > 0 && undone === undefined;
  // A lock wait, a lost lock or a lost connection keeps its own code (and exit code).
  const kept = isLockstepError(error, ...OWN_CODES) ? error : undefined;
  const explained = explainFailure(error, step, config.file);
  const reason = kept?.data.reason === undefined
    ? explained.reason
    : redact(String(kept.data.reason));
  const advice = explained.advice;
  await recordFailure(await run.connections.get(database), id, reason, run.stamp);
  const whole = [...run.whole];
  const outcome = [
    run.whole.has(database)
      ? ""
      : step.transaction
      ? `Its changes were rolled back${
        files && whole.length === 0 ? " and its file changes undone" : ""
      }.`
      : `It ran without a transaction: statements before the failing one stay applied.`,
    whole.length === 0
      ? ""
      : `The run was rolled back on ${whole.map((name) => `database "${name}"`).join(", ")}${
        files ? " and its file changes undone" : ""
      }: none of its migrations there stays applied.`,
  ].filter(Boolean).join(" ");
  return lockstepError(
    (kept?.code ?? "MIGRATION_FAILED") as "MIGRATION_FAILED",
    `Cannot apply migration "${id}" to database "${database}": ${reason}. ${outcome} ` +
      `${run.committed.length} migration(s) committed earlier in this run stay applied.${advice}`,
    {
      cause: undone === undefined ? error : new AggregateError([error, undone]),
      data: { ...kept?.data, id, database, applied: [...run.committed] },
    },
  );
}

/** The error of a run stopped between migrations: what was rolled back, what stays. */
async function interrupted(run: Run, error: LockstepError): Promise<LockstepError> {
  await run.files.undo();
  await run.journal.forget(run.pending);
  const whole = [...run.whole];
  const rolledBack = whole.length === 0
    ? ""
    : ` The run was rolled back on ${whole.map((name) => `database "${name}"`).join(", ")}.`;
  return new LockstepError(
    "INTERRUPTED",
    `${error.message}${rolledBack} ${run.committed.length} migration(s) committed earlier in ` +
      `this run stay applied. Run "lockstep migrate" to go on.`,
    { cause: error, data: { ...error.data, applied: [...run.committed] } },
  );
}

/** Failures of a migration that keep their own code: a lock waited for or lost, the connection lost. */
const OWN_CODES = ["LOCK_HELD", "LOCK_LOST", "DATABASE_UNREACHABLE"] as const;

/**
 * Puts back the files of migrations a crash interrupted (those the ledger
 * does not hold), before anything else runs.
 */
async function recoverFiles(config: Config, connections: Connections): Promise<void> {
  if ((await openMigrationFiles(config)).length === 0) return;
  const applied = new Set((await readLedgers(connections)).rows.map((row) => row.id));
  await recoverMigrationFiles(config, (id) => applied.has(id));
}

/** Throws when the plan must not run: the database is ahead, or an applied file changed. */
export function refuseBlocked(result: Plan): Plan {
  if (result.ahead.length > 0) throw refusal(databaseAhead(result.ahead), "migrate");
  if (result.changed.length > 0) throw refusal(migrationChanged(result.changed), "migrate");
  return result;
}
