/**
 * `migrate`: brings every database up to the code. The plan is made and
 * judged first (database ahead, changed files, drift) with nothing changed;
 * then, under the change policy ({@link guard}: confirmation, a backup,
 * maintenance), each pending migration and its ledger row commit in one
 * transaction, under the migration lock of every database involved.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isLockstepError, type LockstepError, lockstepError, messageOf } from "../errors.ts";
import { fault } from "../fault.ts";
import { type UndoableFiles, undoableFiles } from "../files.ts";
import { redact } from "../redact.ts";
import type { Database, Lock, Sql } from "../sql/driver.ts";
import { guard, type SafetyOptions } from "../guard.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { refuseOpenJournal } from "../journal.ts";
import { databaseAhead, migrationChanged, refusal, schemaDrift } from "../problems.ts";
import type { Flow } from "../flow.ts";
import { discover, type Discovered } from "./discover.ts";
import { ensureLedger, type Stamp } from "./ledger.ts";
import { type Plan, plan as planMigrations } from "./plan.ts";
import { Connections, releaseAll } from "./connections.ts";
import { readLedgers } from "./status.ts";
import { acceptDrift, recordSchema, type SchemaState, schemaStates } from "./schema.ts";
import {
  applyAndCommit,
  applyIn,
  type MigrateEvent,
  type MigrationStep,
  planned,
  type PlannedMigration,
  recordFailure,
  stepsOf,
  withEstimates,
  yieldNow,
} from "./apply.ts";

export type { MigrateEvent, PlannedMigration } from "./apply.ts";

/** Options for {@link migrate}. */
export interface MigrateOptions extends SafetyOptions {
  /** Apply only this migration and what it depends on (default: everything pending). */
  to?: string;
  /** Plan and estimate, change nothing (default `false`). */
  dryRun?: boolean;
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
  /**
   * Asked with the plan (and, with `acceptDrift`, the drift to accept) before
   * anything is changed; resolve `false` to stop. Default: go ahead.
   */
  confirm?: (
    pending: readonly PlannedMigration[],
    drift: readonly SchemaState[],
  ) => Promise<boolean>;
  /** Receives each step as it happens. */
  onProgress?: (event: MigrateEvent) => void;
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
  /** The backup taken before the first change, or `null`. */
  readonly backup: string | null;
  /**
   * How each database with pending migrations runs them: `whole` (one
   * transaction for the whole run) or `perMigration` (each commits alone).
   */
  readonly transactions: TransactionModes;
}

/** Which databases run their pending migrations in one transaction, and which one by one. */
export interface TransactionModes {
  /** Databases whose whole run is one transaction. */
  readonly whole: readonly string[];
  /** Databases whose migrations commit one by one. */
  readonly perMigration: readonly string[];
}

/** What migrate judged before changing anything. */
interface MigratePlan {
  readonly discovered: Discovered;
  readonly first: Plan;
  readonly byId: ReadonlyMap<string, MigrationStep>;
  readonly pending: PlannedMigration[];
  /** What `acceptDrift` records: drift, or a record that is missing or stale. */
  readonly toAccept: readonly SchemaState[];
}

/**
 * Brings every database up to the code: plans and judges the plan, asks
 * `confirm`, backs up and turns maintenance on (unless opted out), takes the
 * migration locks, and applies each pending migration in its own transaction.
 * After the last migration of each database, in the same transaction, the
 * live schema is recorded for drift detection.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 * `--allow-run=pg_dump` is optional (a pg_dump backup).
 *
 * @throws {LockstepError} `DATABASE_AHEAD`, `MIGRATION_CHANGED`, `SCHEMA_DRIFT`,
 * `JOURNAL_OPEN`, `MIGRATION_FAILED`, `LOCK_HELD`, `LOCK_LOST`, the planning
 * errors, and the backup's errors.
 * @example
 * ```ts ignore
 * const result = await migrate(config, { yes: true }); // backs up, maintenance on, applies
 * await migrate(config, { backup: false, maintenance: false }); // opted out
 * ```
 */
export async function migrate(
  config: Config,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const { dryRun = false, yes = false, lockTimeoutMs = 30_000 } = options;
  await using connections = new Connections(config, { readOnly: dryRun, lockTimeoutMs });
  const base = { dryRun, estimateSeconds: 0, acceptedDrift: [], backup: null };
  const modes = (judged: MigratePlan) =>
    transactionModes(config, judged.byId, judged.first.pending, options.transaction);
  if (dryRun) {
    const judged = await judge(config, connections, options);
    const steps = await withEstimates(judged.pending, judged.byId, connections, config, yes);
    const estimateSeconds = steps.reduce((sum, m) => sum + (m.estimateSeconds ?? 0), 0);
    return {
      ...base,
      planned: steps,
      applied: [],
      confirmed: true,
      estimateSeconds,
      transactions: modes(judged),
    };
  }
  const applied: string[] = [];
  const acceptedDrift: SchemaState[] = [];
  const confirm = options.confirm;
  const done = await guard(config, {
    command: "migrate",
    preflight: () => judge(config, connections, options),
    idle,
    confirm: confirm && ((judged) => confirm(judged.pending, judged.toAccept)),
    backup: { label: "before-migrate", waitMs: lockTimeoutMs },
    steps: (judged) => [{
      name: "migrate",
      run: async (flow) => {
        await applyPlan(config, connections, { ...judged, options, applied, acceptedDrift, flow });
        return `${applied.length} migration(s) applied`;
      },
    }],
  }, options);
  return {
    ...base,
    planned: done.status === "idle" ? [] : done.plan.pending,
    applied,
    confirmed: done.status !== "declined",
    acceptedDrift,
    backup: done.backup?.id ?? null,
    transactions: done.status === "idle" ? { whole: [], perMigration: [] } : modes(done.plan),
  };
}

/**
 * {@link migrate} as a step of a larger run (`update`): judged and applied
 * with no confirmation, backup or maintenance of its own; what it changes is
 * recorded on `flow`.
 */
export async function migrateWithin(
  config: Config,
  options: Omit<MigrateOptions, "dryRun" | "confirm" | keyof SafetyOptions>,
  flow: Flow,
): Promise<MigrateResult> {
  const { lockTimeoutMs = 30_000 } = options;
  await using connections = new Connections(config, { readOnly: false, lockTimeoutMs });
  const judged = await judge(config, connections, options);
  const applied: string[] = [];
  const acceptedDrift: SchemaState[] = [];
  if (!idle(judged)) {
    await applyPlan(config, connections, { ...judged, options, applied, acceptedDrift, flow });
  }
  return {
    planned: judged.pending,
    applied,
    dryRun: false,
    confirmed: true,
    estimateSeconds: 0,
    acceptedDrift,
    backup: null,
    transactions: transactionModes(config, judged.byId, judged.first.pending, options.transaction),
  };
}

function idle(judged: MigratePlan): boolean {
  return judged.pending.length === 0 && judged.toAccept.length === 0;
}

/**
 * The plan and everything that refuses it, with nothing changed: an open
 * journal, a database ahead, changed files, the graph's errors, drift.
 */
async function judge(
  config: Config,
  connections: Connections,
  options: MigrateOptions,
): Promise<MigratePlan> {
  const dryRun = options.dryRun === true;
  if (!dryRun) await refuseOpenJournal(config, "migrate");
  const discovered = await discover(Object.values(config.packages));
  const { rows } = await readLedgers(connections);
  const baselines = Object.values(discovered.baselines);
  const to = options.to === undefined ? {} : { to: options.to };
  const first = refuseBlocked(planMigrations(discovered.migrations, rows, { ...to, baselines }));
  const byId = stepsOf(discovered, first.baselines);
  const pending = first.pending.map((id) => planned(byId.get(id)!.migration, config));
  const states = await schemaStates(connections);
  if (options.acceptDrift === true) {
    const toAccept = states.filter((s) => s.record !== "current" || s.changes.length);
    return { discovered, first, byId, pending, toAccept };
  }
  const drifted = states.filter((s) => s.changes.length > 0);
  if (drifted.length > 0) {
    throw refusal(schemaDrift(drifted), dryRun ? "plan the migration" : "migrate");
  }
  return { discovered, first, byId, pending, toAccept: [] };
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
  readonly options: Pick<MigrateOptions, "yes" | "onProgress">;
  /** Ids applied and committed one by one (per-migration databases). */
  readonly committed: string[];
  /** Ids applied inside a whole-run transaction, not committed yet. */
  readonly pending: string[];
  /** File changes of the whole-run migrations: undone when the run fails. */
  readonly files: UndoableFiles;
}

/**
 * Takes the locks, accepts drift when asked, plans again and applies what
 * is still pending: on each database whose pending migrations can all run
 * in a transaction (and unless `transaction: "per-migration"`), the whole
 * run is one transaction, committed only when every database's migrations
 * succeeded; elsewhere each migration commits on its own.
 */
async function applyPlan(
  config: Config,
  connections: Connections,
  plan: MigratePlan & {
    options: Pick<
      MigrateOptions,
      "yes" | "lockTimeoutMs" | "onProgress" | "acceptDrift" | "to" | "transaction"
    >;
    applied: string[];
    acceptedDrift: SchemaState[];
    flow: Flow;
  },
): Promise<void> {
  const { options, flow } = plan;
  const stamp: Stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
  const locks = await connections.lockAll(options.lockTimeoutMs ?? 30_000);
  try {
    for (const db of connections.used()) await ensureLedger(await connections.get(db.name));
    if (options.acceptDrift === true) {
      for (const db of connections.used()) {
        const accepted = await acceptDrift(await connections.get(db.name), db.schemas, stamp);
        if (accepted) {
          flow.changed();
          plan.acceptedDrift.push(accepted);
        }
      }
    }
    // Another process may have applied some while we waited: plan again under the locks.
    const again = refuseBlocked(
      planMigrations(plan.discovered.migrations, (await readLedgers(connections)).rows, {
        baselines: Object.values(plan.discovered.baselines),
        ...(options.to === undefined ? {} : { to: options.to }),
      }),
    );
    const confirmed = new Set(plan.first.pending);
    const todo = again.pending.filter((id) => confirmed.has(id));
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
      files: undoableFiles(config.root),
    };
    try {
      await runAll(run, flow);
    } finally {
      plan.applied.push(...run.committed);
    }
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
async function runAll(run: Run, flow: Flow): Promise<void> {
  const { config, connections, byId, todo } = run;
  const databaseOf = (id: string) => config.packages[byId.get(id)!.migration.package]!.database;
  // Each database's schema is recorded in the transaction of its last migration of the run.
  const lastOf = new Map(todo.map((id) => [databaseOf(id), id]));
  const whole = await Promise.all([...run.whole].map((name) => connections.get(name)));
  let failed: { id: string; error: unknown; files: UndoableFiles | undefined } | undefined;
  try {
    await withTransactions(whole, async (txs) => {
      for (const [index, id] of todo.entries()) {
        const database = databaseOf(id);
        const schemas = lastOf.get(database) === id ? config.databases[database]!.schemas : null;
        const tx = txs.get(database);
        const files = tx ? run.files : undoableFiles(config.root);
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
    // A lock or connection lost under a migration is still its failure: undo, record, say so.
    if (failed === undefined) throw error;
    throw await migrationFailed(run, failed.id, failed.error, failed.files);
  }
  run.committed.push(...run.pending);
  if (run.pending.length > 0) flow.changed();
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
  const how = { yes: options.yes ?? false, shown, onProgress: options.onProgress, schemas, files };
  const stepRun = { ...how, exclusive: lock.exclusive };
  let ran: boolean;
  if (tx) ran = await applyIn(step, tx, run.stamp, stepRun);
  else {
    const db = await run.connections.get(shown.database);
    try {
      ran = await applyAndCommit(step, db, run.stamp, stepRun);
    } catch (error) {
      // Statements before the failure of one without a transaction stay applied.
      if (!shown.transaction) flow.changed();
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
    flow.changed();
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
 * so that they commit only when `fn` succeeded, and all roll back otherwise.
 */
async function withTransactions<T>(
  dbs: readonly Database[],
  fn: (txs: ReadonlyMap<string, Sql>) => Promise<T>,
  txs: ReadonlyMap<string, Sql> = new Map(),
): Promise<T> {
  const [first, ...rest] = dbs;
  if (first === undefined) return await fn(txs);
  return await first.transaction((tx) =>
    withTransactions(rest, fn, new Map([...txs, [first.name, tx]]))
  );
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
  const files = changedFiles > 0 && undone === undefined;
  // A lock wait, a lost lock or a lost connection keeps its own code (and exit code).
  const kept = isLockstepError(error, ...OWN_CODES) ? error : undefined;
  const reason = redact(String(kept?.data.reason ?? messageOf(error)));
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
      `${run.committed.length} migration(s) committed earlier in this run stay applied.`,
    {
      cause: undone === undefined ? error : new AggregateError([error, undone]),
      data: { ...kept?.data, id, database, applied: [...run.committed] },
    },
  );
}

/** Failures of a migration that keep their own code: a lock waited for or lost, the connection lost. */
const OWN_CODES = ["LOCK_HELD", "LOCK_LOST", "DATABASE_UNREACHABLE"] as const;

/** Throws when the plan must not run: the database is ahead, or an applied file changed. */
function refuseBlocked(result: Plan): Plan {
  if (result.ahead.length > 0) throw refusal(databaseAhead(result.ahead), "migrate");
  if (result.changed.length > 0) throw refusal(migrationChanged(result.changed), "migrate");
  return result;
}
