/**
 * Applying one migration: its body (SQL or TypeScript) and its ledger rows,
 * in the whole run's transaction or in one of its own. Also the steps a plan
 * names (a migration, or a baseline that stamps those it covers) and how
 * `migrate` shows them.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { type UndoableFiles, undoableFiles } from "../files.ts";
import type { Database, Sql } from "../sql/driver.ts";
import { ledgerTable } from "../sql/dialect.ts";
import { dialectOf } from "../sql/dialects.ts";
import type { Discovered } from "./discover.ts";
import type { BaselineStep } from "./baseline.ts";
import { recordEvent, recordMigration, type Stamp } from "./ledger.ts";
import type { Connections } from "./connections.ts";
import type { Migration, MigrationContext, Phase } from "./types.ts";
import { type Recorded, recordSchema, type TableFingerprints } from "./schema.ts";
import { tracedSql } from "./located.ts";

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

let lastYield = performance.now();

/**
 * Lets signals and timers run between steps (SQLite work is synchronous),
 * at most every 50 ms: a timer turn costs about 2 ms, too much per migration.
 */
export async function yieldNow(): Promise<void> {
  if (performance.now() - lastYield < 50) return;
  await new Promise((resolve) => setTimeout(resolve, 0));
  lastYield = performance.now();
}

/** What one step of a run applies and records: a migration, or a baseline stamping those it covers. */
export interface MigrationStep {
  readonly migration: Migration;
  readonly records: readonly {
    id: string;
    package: string;
    checksum: string;
    action: "applied" | "baseline";
    phase: Phase;
  }[];
}

/** The steps a plan can name: every migration, and each baseline that runs. */
export function stepsOf(
  discovered: Discovered,
  baselines: readonly BaselineStep[],
): Map<string, MigrationStep> {
  const steps = new Map<string, MigrationStep>();
  for (const m of discovered.migrations) {
    steps.set(m.id, {
      migration: m,
      records: [{
        id: m.id,
        package: m.package,
        checksum: m.checksum,
        action: "applied",
        phase: m.phase ?? "expand",
      }],
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
      phase: m.phase ?? "expand",
    }));
    steps.set(step.id, { migration, records });
  }
  return steps;
}

export function planned(migration: Migration, config: Config): PlannedMigration {
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

export async function withEstimates(
  list: PlannedMigration[],
  byId: ReadonlyMap<string, MigrationStep>,
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
    const ctx = context(db ?? noDatabase(item.database), undoableFiles(config.root), {
      yes,
      onLog() {},
      onProgress() {},
    });
    out.push({ ...item, estimateSeconds: Number(await estimate(ctx)) || 0 });
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
  return { dialect: "sqlite", ledgerSchema: "main", query: fail, exec: fail };
}

/** The context a migration's hooks receive; `files` collects its file changes for undoing. */
export function context(
  sql: Sql,
  files: UndoableFiles,
  hooks: {
    yes: boolean;
    onLog(message: string): void;
    onProgress(done: number, total: number): void;
  },
): MigrationContext {
  return {
    // A failing call names the migration's line (see located.ts).
    sql: tracedSql(sql),
    files,
    log: (message) => hooks.onLog(String(message)),
    progress: (done, total) => hooks.onProgress(done, total),
    yes: hooks.yes,
  };
}

/** How one migration of a run is applied. */
export interface StepRun {
  /** Unattended mode, for `ctx.yes`. */
  readonly yes: boolean;
  /** The migration as shown to the operator. */
  readonly shown: PlannedMigration;
  /** Receives its log lines and progress. */
  readonly onProgress: ((event: MigrateEvent) => void) | undefined;
  /** The lock keeps others out for the whole run (no need to re-check the ledger). */
  readonly exclusive: boolean;
  /** The last migration of its database in this run: record the schema of these schemas. */
  readonly schemas: readonly string[] | null;
  /** Where its file changes are remembered, to be undone if the run fails. */
  readonly files: UndoableFiles;
  /** With `schemas`: the catalog's fingerprint when the record last matched it (judging this run). */
  readonly before?: TableFingerprints | undefined;
  /** Receives the catalog as the schema was recorded (with `schemas`). */
  readonly onRecorded?: (recorded: Recorded) => void;
}

/**
 * Runs one migration and records its ledger rows on `sql`, which is inside a
 * transaction (the migration's own, or the whole run's); false when another
 * process applied it first.
 */
export async function applyIn(
  step: MigrationStep,
  sql: Sql,
  stamp: Stamp,
  run: StepRun,
): Promise<boolean> {
  const started = performance.now();
  if (await alreadyApplied(sql, step, run)) return false;
  await body(step.migration, contextOf(sql, run));
  const durationMs = Math.round(performance.now() - started);
  // What runs next (the ledger rows, the next migration) starts from lockstep's session. The
  // reset and the ledger rows go out together (one round trip on PostgreSQL, executed in that
  // order), and both settle before anything else is sent.
  const settled = await Promise.allSettled([
    dialectOf(sql).resetSession(sql),
    recordRows(sql, step, stamp, durationMs),
  ]);
  for (const result of settled) if (result.status === "rejected") throw result.reason;
  await recordSchemaIf(sql, run, stamp);
  return true;
}

/**
 * Applies one migration in a transaction of its own and commits it; one
 * with `transaction: false` runs on the connection, then its ledger rows
 * commit. False when another process applied it first.
 */
export async function applyAndCommit(
  step: MigrationStep,
  db: Database,
  stamp: Stamp,
  run: StepRun,
): Promise<boolean> {
  if (step.migration.transaction) {
    return await db.transaction((tx) => applyIn(step, tx, stamp, run));
  }
  const started = performance.now();
  if (await alreadyApplied(db, step, run)) return false;
  await body(step.migration, contextOf(db, run));
  const durationMs = Math.round(performance.now() - started);
  await dialectOf(db).resetSession(db);
  await db.transaction(async (tx) => {
    await recordRows(tx, step, stamp, durationMs);
    await recordSchemaIf(tx, run, stamp);
  });
  return true;
}

function contextOf(sql: Sql, run: StepRun): MigrationContext {
  const { shown, onProgress } = run;
  return context(sql, run.files, {
    yes: run.yes,
    onLog: (message) => onProgress?.({ type: "log", migration: shown, message }),
    onProgress: (done, total) => onProgress?.({ type: "progress", migration: shown, done, total }),
  });
}

async function alreadyApplied(sql: Sql, step: MigrationStep, run: StepRun): Promise<boolean> {
  if (run.exclusive) return false;
  const id = step.records[0]!.id;
  const table = ledgerTable(sql, "lockstep_migrations");
  return (await sql.query(`select 1 as found from ${table} where id = $1`, [id])).length > 0;
}

async function recordRows(
  sql: Sql,
  step: MigrationStep,
  stamp: Stamp,
  durationMs: number,
): Promise<void> {
  for (const row of step.records) await recordMigration(sql, { ...row, durationMs }, stamp);
}

/** Records the schema when this is its database's last migration of the run. */
async function recordSchemaIf(sql: Sql, run: StepRun, stamp: Stamp): Promise<void> {
  if (run.schemas) {
    // Only the tables that changed since the record matched are read again; the fingerprint as
    // recorded lets the next check, once this commits, skip comparing the schema table by table.
    run.onRecorded?.(await recordSchema(sql, run.schemas, stamp, run.before));
  }
}

/** Logs a failed migration in its database's event log; best effort (the failure is what counts). */
export async function recordFailure(
  db: Database,
  id: string,
  reason: string,
  stamp: Stamp,
): Promise<void> {
  await recordEvent(db, { kind: "failed", migration: id, message: reason }, stamp)
    .catch(() => undefined);
}

/** Runs the migration's body; the session it leaves is put back by the caller. */
async function body(migration: Migration, ctx: MigrationContext): Promise<void> {
  const dialect = dialectOf(ctx.sql);
  if (migration.module) {
    await migration.module.pre?.(ctx);
    await migration.module.up(ctx);
    await migration.module.post?.(ctx);
  } else {
    const text = migration.up ?? "";
    if (text === "") return;
    if (migration.transaction) await ctx.sql.exec(text);
    else await dialect.runWithoutTransaction(ctx.sql, text);
  }
}
