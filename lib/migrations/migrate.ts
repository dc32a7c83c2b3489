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
import { fault } from "../fault.ts";
import { guard, type SafetyOptions } from "../guard.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { refuseOpenJournal } from "../journal.ts";
import { databaseAhead, migrationChanged, refusal, schemaDrift } from "../problems.ts";
import type { Flow } from "../flow.ts";
import { discover, type Discovered } from "./discover.ts";
import { ensureLedger, type Stamp } from "./ledger.ts";
import { type Plan, plan } from "./plan.ts";
import { Connections, releaseAll } from "./connections.ts";
import { readLedgers } from "./status.ts";
import { acceptDrift, recordSchema, type SchemaState, schemaStates } from "./schema.ts";
import {
  applyOne,
  type MigrateEvent,
  type MigrationStep,
  planned,
  type PlannedMigration,
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
  await using connections = new Connections(config, { readOnly: dryRun });
  const base = { dryRun, estimateSeconds: 0, acceptedDrift: [], backup: null };
  if (dryRun) {
    const judged = await judge(config, connections, options);
    const steps = await withEstimates(judged.pending, judged.byId, connections, config, yes);
    const estimateSeconds = steps.reduce((sum, m) => sum + (m.estimateSeconds ?? 0), 0);
    return { ...base, planned: steps, applied: [], confirmed: true, estimateSeconds };
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
  await using connections = new Connections(config, { readOnly: false });
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
  const first = refuseBlocked(plan(discovered.migrations, rows, { ...to, baselines }));
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

/** Takes the locks, accepts drift when asked, plans again and applies what is still pending. */
async function applyPlan(
  config: Config,
  connections: Connections,
  run: MigratePlan & {
    options: Pick<MigrateOptions, "yes" | "lockTimeoutMs" | "onProgress" | "acceptDrift" | "to">;
    applied: string[];
    acceptedDrift: SchemaState[];
    flow: Flow;
  },
): Promise<void> {
  const { options, applied, flow, byId } = run;
  const { yes = false, lockTimeoutMs = 30_000, onProgress } = options;
  const stamp: Stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
  const locks = await connections.lockAll(lockTimeoutMs);
  try {
    for (const db of connections.used()) await ensureLedger(await connections.get(db.name));
    if (options.acceptDrift === true) {
      for (const db of connections.used()) {
        const accepted = await acceptDrift(await connections.get(db.name), db.schemas, stamp);
        if (accepted) {
          flow.changed();
          run.acceptedDrift.push(accepted);
        }
      }
    }
    // Another process may have applied some while we waited: plan again under the locks.
    const again = refuseBlocked(
      plan(run.discovered.migrations, (await readLedgers(connections)).rows, {
        baselines: Object.values(run.discovered.baselines),
        ...(options.to === undefined ? {} : { to: options.to }),
      }),
    );
    const confirmed = new Set(run.first.pending);
    const todo = again.pending.filter((id) => confirmed.has(id));
    const databaseOf = (id: string) => config.packages[byId.get(id)!.migration.package]!.database;
    // Each database's schema is recorded in the transaction of its last migration of the run.
    const lastOf = new Map(todo.map((id) => [databaseOf(id), id]));
    const unrecorded = new Set<string>();
    for (const [index, id] of todo.entries()) {
      const shown = planned(byId.get(id)!.migration, config);
      const database = databaseOf(id);
      const lock = locks.get(database)!;
      lock.assertHeld();
      onProgress?.({ type: "start", migration: shown, index, total: todo.length });
      const started = performance.now();
      const schemas = lastOf.get(database) === id ? config.databases[database]!.schemas : null;
      const step = { yes, shown, onProgress, exclusive: lock.exclusive, schemas };
      const db = await connections.get(database);
      const ran = await applyOne(byId.get(id)!, db, config, stamp, step, applied).catch((error) => {
        // Statements before the failing one of a migration without a transaction stay applied.
        if (!shown.transaction) flow.changed();
        throw error;
      });
      if (!ran) {
        onProgress?.({ type: "skipped", migration: shown, reason: "applied by another process" });
        if (schemas && applied.some((done) => databaseOf(done) === database)) {
          unrecorded.add(database);
        }
        continue;
      }
      applied.push(id);
      flow.changed();
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
}

/** Throws when the plan must not run: the database is ahead, or an applied file changed. */
function refuseBlocked(result: Plan): Plan {
  if (result.ahead.length > 0) throw refusal(databaseAhead(result.ahead), "migrate");
  if (result.changed.length > 0) throw refusal(migrationChanged(result.changed), "migrate");
  return result;
}
