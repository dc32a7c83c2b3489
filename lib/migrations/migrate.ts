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
import type { Flow } from "../flow.ts";
import { guard, type SafetyOptions } from "../guard.ts";
import { refuseOpenJournal } from "../journal.ts";
import { refusal, schemaDrift } from "../problems.ts";
import { planned, type PlannedMigration, stepsOf, withEstimates } from "./apply.ts";
import {
  applyPlan,
  type MigratePlan,
  refuseBlocked,
  type RunOptions,
  type TransactionModes,
  transactionModes,
} from "./apply_plan.ts";
import { Connections } from "./connections.ts";
import { discover, type Discovered, readToRun } from "./discover.ts";
import { type Plan, plan as planMigrations } from "./plan.ts";
import type { Migration } from "./types.ts";
import { type SchemaState, schemaStates, type TableFingerprints } from "./schema.ts";
import { readLedgers } from "./status.ts";
import { readCodeVersion } from "../host.ts";
import { type HeldContract, heldContracts, planFor, readFleetFacts } from "../fleet/hold.ts";
import { withPacks } from "../packs/registry.ts";
import { CheckCache } from "../check_cache.ts";

export type { MigrateEvent, PlannedMigration } from "./apply.ts";
export type { RunOptions, TransactionModes } from "./apply_plan.ts";

/** Options for {@link migrate}: how to run, and the change policy's switches. */
export interface MigrateOptions extends SafetyOptions, RunOptions {
  /** Plan and estimate, change nothing (default `false`). */
  dryRun?: boolean;
  /**
   * Asked with the plan (and, with `acceptDrift`, the drift to accept) before
   * anything is changed; resolve `false` to stop. Default: go ahead.
   */
  confirm?: (
    pending: readonly PlannedMigration[],
    drift: readonly SchemaState[],
  ) => Promise<boolean>;
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
   * In a fleet: the contract migrations left pending because running hosts
   * have older code, with those hosts (what depends on them waits too).
   */
  readonly held: readonly HeldContract[];
  /**
   * How each database with pending migrations runs them: `whole` (one
   * transaction for the whole run) or `perMigration` (each commits alone).
   */
  readonly transactions: TransactionModes;
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
  configured: Config,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const { dryRun = false, yes = false, lockTimeoutMs = 30_000 } = options;
  // The enabled packs' migrations join the graph (read now: an install may just have added one).
  const config = await withPacks(configured);
  await using connections = new Connections(config, { readOnly: dryRun, lockTimeoutMs });
  const base = { dryRun, estimateSeconds: 0, acceptedDrift: [], backup: null };
  let held: readonly HeldContract[] = [];
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
      held: judged.held,
    };
  }
  const applied: string[] = [];
  const acceptedDrift: SchemaState[] = [];
  const confirm = options.confirm;
  const done = await guard(config, {
    command: "migrate",
    preflight: async () => {
      const judged = await judge(config, connections, options);
      held = judged.held;
      return judged;
    },
    idle,
    confirm: confirm && ((judged) => confirm(judged.pending, judged.toAccept)),
    backup: { label: "before-migrate", waitMs: lockTimeoutMs },
    steps: (judged) => [{
      name: "migrate",
      run: async (flow) => {
        await applyPlan(config, connections, {
          ...judged,
          options,
          applied,
          acceptedDrift,
          flow,
          backupShared: options.backup !== false,
        });
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
    held,
  };
}

/**
 * {@link migrate} as a step of a larger run (`update`): judged and applied
 * with no confirmation, backup or maintenance of its own; what it changes is
 * recorded on `flow`.
 */
export async function migrateWithin(
  base: Config,
  options: RunOptions & {
    /** In a fleet, back up each shared database before migrating it (default `true`). */
    backupShared?: boolean;
    /** Receives each id as it commits, also when a later migration fails. */
    applied?: string[];
  },
  flow: Flow,
): Promise<MigrateResult> {
  const { lockTimeoutMs = 30_000 } = options;
  const config = await withPacks(base);
  await using connections = new Connections(config, { readOnly: false, lockTimeoutMs });
  const judged = await judge(config, connections, options);
  const applied: string[] = options.applied ?? [];
  const acceptedDrift: SchemaState[] = [];
  if (!idle(judged)) {
    await applyPlan(config, connections, {
      ...judged,
      options,
      applied,
      acceptedDrift,
      flow,
      backupShared: options.backupShared !== false,
    });
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
    held: judged.held,
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
  // check's hints: a migration file unchanged since it was last read is not read again (what is
  // about to run is), and a database whose catalog is as it was when it last matched its record
  // is not compared table by table (what changed since, the migrations record afresh).
  const hints = CheckCache.read(config);
  const { rows } = await readLedgers(connections);
  const fleet = await readFleetFacts(config, connections, await readCodeVersion(config));
  const planOf = (discovered: Discovered) => {
    const planning = planFor(config, fleet, discovered.migrations);
    const first = refuseBlocked(
      planMigrations(discovered.migrations, rows, {
        ...(options.to === undefined ? {} : { to: options.to }),
        baselines: Object.values(discovered.baselines),
        hold: planning.hold,
        tolerate: planning.tolerate,
      }),
    );
    return { discovered, planning, first };
  };
  let judged = planOf(await discover(Object.values(config.packages), { hints }));
  const read = await withPendingRead(judged.discovered, judged.first, hints);
  // A file changed since its hint was taken: read every file.
  judged = read
    ? { ...judged, discovered: read }
    : planOf(await discover(Object.values(config.packages)));
  const { discovered, planning, first } = judged;
  const held = heldContracts(first, planning);
  const byId = stepsOf(discovered, first.baselines);
  const pending = first.pending.map((id) => planned(byId.get(id)!.migration, config));
  const matched = new Map<string, TableFingerprints>();
  const states = await schemaStates(connections, { hints, matched });
  // A dry run writes nothing, not even a hint.
  if (!dryRun) await hints.save(config, { prune: false });
  if (options.acceptDrift === true) {
    const toAccept = states.filter((s) => s.record !== "current" || s.changes.length);
    return { discovered, first, byId, pending, toAccept, held, hints, matched };
  }
  const drifted = states.filter((s) => s.changes.length > 0);
  if (drifted.length > 0) {
    throw refusal(schemaDrift(drifted), dryRun ? "plan the migration" : "migrate");
  }
  return { discovered, first, byId, pending, toAccept: [], held, hints, matched };
}

/**
 * `discovered` with the migrations the plan runs or stamps read from their
 * files ({@link readToRun}); `undefined` when one no longer holds what its
 * hint said (that hint is dropped).
 */
async function withPendingRead(
  discovered: Discovered,
  first: Plan,
  hints: CheckCache,
): Promise<Discovered | undefined> {
  const ids = new Set([...first.pending, ...first.baselines.flatMap((b) => b.covers)]);
  const migrations: Migration[] = [];
  for (const migration of discovered.migrations) {
    const read = ids.has(migration.id) ? await readToRun(migration) : migration;
    if (read === undefined) {
      hints.forgetFile(migration.path);
      return undefined;
    }
    migrations.push(read);
  }
  return { ...discovered, migrations };
}
