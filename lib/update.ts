/**
 * `update`: the whole release in one safe step, as a list of steps run by
 * the change policy ({@link guard}) and its step loop ({@link runFlow}):
 *
 * | step          | does                                             | undo, after a failure          |
 * | ------------- | ------------------------------------------------ | ------------------------------ |
 * | `check`       | the preflight: refuses when check says blocked   | (changes nothing)              |
 * | `backup`      | files and databases, label `before-update`       | (kept: it is what `restore` uses) |
 * | `maintenance` | on, with the target version                      | (left on with the reason)      |
 * | `install`     | every applicable bundle, in version order        | `rollback`: each bundle through its kept journal, state.json, bundles back to `pending/` |
 * | `migrate`     | every pending migration                          | `restore`: only the databases on which migrations committed, from the backup |
 * | `prune`       | after success, when backups exceed `backup.keep` | (none: a failure is reported)  |
 *
 * Undos run only when a step changed something: a bundle refused before the
 * first write, or migrations that rolled back whole (one transaction per
 * database), leave nothing to undo, and maintenance goes off again. The
 * undo is written down before it starts (`lib/undo.ts`), so `recover`
 * finishes one a crash interrupted.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { isLockstepError, LockstepError, lockstepError, messageOf } from "./errors.ts";
import type { FlowFailure, Step, StepResult } from "./flow.ts";
import { guard, type SafetyOptions, type TakenBackup } from "./guard.ts";
import { pruneAfter } from "./backup/prune.ts";
import { describeInstalled, installWithin } from "./bundles/install.ts";
import { preflightRelease } from "./bundles/preflight.ts";
import { check, type CheckReport } from "./check.ts";
import { type MigrateEvent, migrateWithin } from "./migrations/migrate.ts";
import { takeOperationLock } from "./oplock.ts";
import { readState, type State } from "./state.ts";
import { type SharedBackup } from "./fleet/backup.ts";
import { announce, hostId, sharedDatabases } from "./fleet/registry.ts";
import { sharedUndo } from "./fleet/undo.ts";
import {
  discardKept,
  finishUndo,
  readUndoPlan,
  undoCode,
  undoDatabases,
  type UndoPlan,
  writeUndoPlan,
} from "./undo.ts";

/** A step of {@link update}. */
export type UpdateStep =
  | "check"
  | "backup"
  | "maintenance"
  | "install"
  | "migrate"
  | "rollback"
  | "restore"
  | "prune";

/** One finished step, with its duration. */
export type UpdateStepResult = StepResult<UpdateStep>;

/** Options for {@link update}. */
export interface UpdateOptions extends SafetyOptions {
  /** Asked with check's report before anything changes; resolve `false` to stop. Default: go ahead. */
  confirm?: (report: CheckReport) => Promise<boolean>;
  /** Receives each step as it finishes. */
  onStep?: (step: UpdateStepResult) => void;
  /** Receives each migration step. */
  onMigrate?: (event: MigrateEvent) => void;
  /** How long migrate waits for another process's lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
}

/** What {@link update} did. */
export interface UpdateResult {
  /** False when there was nothing to do: no backup was taken. */
  readonly changed: boolean;
  /** False when `confirm` declined. */
  readonly confirmed: boolean;
  /** The code version before. */
  readonly from: string | null;
  /** The code version after. */
  readonly to: string | null;
  /** The backup taken at the start, if any. */
  readonly backup: string | null;
  /** Bundle versions installed, in order. */
  readonly installed: readonly string[];
  /** Pack bundles installed, in order, as `reviews 0.2.0` (the app's version does not change). */
  readonly packs: readonly string[];
  /** Migration ids applied, in order. */
  readonly applied: readonly string[];
  /** Backups removed after success, down to `backup.keep` (never the one this update took). */
  readonly pruned: readonly string[];
  /** Each step, in order, with its duration. */
  readonly steps: readonly UpdateStepResult[];
}

/**
 * Runs the whole release: see the module documentation.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 * `--allow-run=pg_dump`/`pg_restore` are optional (pg_dump backups).
 *
 * @throws {LockstepError} `UPDATE_BLOCKED` (check says blocked: nothing was
 * changed), `UPDATE_FAILED` (a step failed; `data.restored` says whether the
 * backup was restored), `LOCK_HELD`, `JOURNAL_OPEN`, `DATABASE_UNREACHABLE`.
 * @example
 * ```ts ignore
 * const result = await update(config, { onStep: (s) => console.log(`${s.step}: ${s.detail}`) });
 * ```
 */
export async function update(config: Config, options: UpdateOptions = {}): Promise<UpdateResult> {
  using _lock = await takeOperationLock(config, "update");
  // Kept install journals of a run that died before it could fail: nothing needs them now.
  await discardKept(config);
  // In a fleet the host's id is kept before state.json is saved for an undo.
  if (config.fleet) await hostId(config);
  const run: UpdateRun = {
    config,
    options,
    installed: [],
    packs: [],
    applied: [],
    kept: [],
    journals: [],
    stateBefore: await readState(config),
    plan: null,
    sharedBackups: [],
  };
  const done = await guard<CheckReport, UpdateStep>(config, {
    command: "update",
    preflight: () => preflight(config),
    preflightStep: "check",
    preflightDetail: (report) => `exit ${report.exitCode}`,
    idle: (report) => report.exitCode === 0,
    confirm: options.confirm,
    backup: { label: "before-update" },
    maintenanceMessage: (report) =>
      `Updating ${config.app} to ${target(report)}. Please try again in a few minutes.`,
    steps: (report) => updateSteps(run, report),
    beforeUndo: (_step, changes, taken) => planUndo(run, changes, taken),
    afterUndo: () => finishUndo(config),
    failed: (failure, taken) => updateFailed(failure, taken, run.plan),
    // The error says what failed, what was put back and what to do: maintenance shows it as is.
    failureMessage: (error) => messageOf(error),
    onStep: options.onStep,
  }, options);
  await discardKept(config);
  const from = done.plan.codeVersion;
  const steps = done.steps as UpdateStepResult[];
  // The final step: reported only when there are backups past backup.keep.
  const started = performance.now();
  const pruned = done.status === "done" ? await pruneAfter(config, done.backup?.id ?? null) : null;
  if (pruned !== null) {
    const durationMs = Math.round(performance.now() - started);
    steps.push({ step: "prune", durationMs, detail: pruned.detail });
    options.onStep?.(steps.at(-1)!);
  }
  return {
    changed: done.status === "done",
    confirmed: done.status !== "declined",
    from,
    to: run.installed.at(-1) ?? from,
    backup: done.backup?.id ?? null,
    installed: run.installed,
    packs: run.packs,
    applied: run.applied,
    pruned: pruned?.removed ?? [],
    steps,
  };
}

/** What one update collects as it goes: what it did, and what an undo needs. */
interface UpdateRun {
  readonly config: Config;
  readonly options: UpdateOptions;
  /** Bundle versions installed, in order. */
  readonly installed: string[];
  /** Pack bundles installed, in order (`reviews 0.2.0`). */
  readonly packs: string[];
  /** Migration ids applied, in order. */
  readonly applied: string[];
  /** The bundles installed, kept in installed/: an undo puts them back in pending/. */
  readonly kept: { keptAs: string; file: string }[];
  /** Their committed install journals, kept with the old files aside. */
  readonly journals: string[];
  /** state.json before the update. */
  readonly stateBefore: State;
  /** The undo, once a failure wrote it down. */
  plan: UndoPlan | null;
  /** In a fleet: the shared databases' backups before this run migrated them. */
  readonly sharedBackups: SharedBackup[];
}

/** Writes the undo down before it starts: the code if it changed, the databases migrations committed on. */
async function planUndo(
  run: UpdateRun,
  changes: readonly string[],
  taken: TakenBackup | null,
): Promise<void> {
  const code = changes.includes("code");
  const changed = changes.filter((c) => c.startsWith("database:")).map((c) => c.slice(9));
  const shared = new Set(sharedDatabases(run.config).map((db) => db.name));
  const databases = changed.filter((name) => !shared.has(name));
  const fleet = await sharedUndo(
    run.config,
    changed.filter((name) => shared.has(name)),
    run.sharedBackups,
    run.applied,
  );
  databases.push(...Object.keys(fleet.restore));
  run.plan = {
    label: `update ${run.config.app}`,
    created: new Date().toISOString(),
    state: code ? run.stateBefore : null,
    journals: [...run.journals],
    bundles: [...run.kept],
    backup: taken?.id ?? null,
    databases,
    ...(Object.keys(fleet.restore).length > 0 ? { databaseBackups: fleet.restore } : {}),
    ...(fleet.kept.length > 0 ? { kept: fleet.kept } : {}),
  };
  await writeUndoPlan(run.config, run.plan);
}

/**
 * check, refusing when it says blocked; then the preflight of the bundles
 * that would install (each read whole, targets writable, room for them and
 * the backup, the migrations after them runnable). Nothing is changed.
 */
async function preflight(config: Config): Promise<CheckReport> {
  const report = await check(config);
  // A database ahead of this code may be one the bundles catch up with (in a fleet, another
  // host migrated for their release): the preflight below judges the plan after them.
  const catchingUp = report.bundles.some((b) => b.applies);
  const blocking = report.problems.filter((p) =>
    p.severity === "blocked" && !(catchingUp && p.code === "DATABASE_AHEAD")
  );
  if (blocking.length > 0) {
    throw new LockstepError(
      "UPDATE_BLOCKED",
      `Cannot update: check says the application is blocked: ${
        blocking.map((p) => p.message).join(" ")
      } Resolve that first. Nothing was changed.`,
      { data: { problems: blocking.map((p) => p.code) } },
    );
  }
  if (report.bundles.some((b) => b.applies)) {
    await preflightRelease(config, `update to ${target(report)}`);
  }
  return report;
}

/** What the update brings: the last applicable app bundle's version (or the installed one), and packs'. */
function target(report: CheckReport): string {
  const applicable = report.bundles.filter((b) => b.applies);
  const app = applicable.filter((b) => b.pack === null).at(-1)?.version ?? report.codeVersion;
  const packs = new Map(applicable.filter((b) => b.pack !== null).map((b) => [b.pack, b.version]));
  return [app ?? "(no version)", ...[...packs].map(([p, v]) => `pack ${p} ${v}`)].join(", ");
}

/** The change: install (when bundles apply), then migrate, each with its undo. */
function updateSteps(run: UpdateRun, report: CheckReport): Step<UpdateStep>[] {
  const { config, options } = run;
  const applicable = report.bundles.filter((b) => b.applies);
  const undoPlan = async () => run.plan ?? (await readUndoPlan(config))!;
  const install: Step<UpdateStep> = {
    name: "install",
    run: async (flow) => {
      await announce(config, "updating");
      const result = await installWithin(
        config,
        options.signal ? { signal: options.signal } : {},
        flow,
      );
      run.journals.push(...result.journals);
      for (const b of result.installed) {
        if (b.pack === undefined) run.installed.push(b.version);
        else run.packs.push(`${b.pack} ${b.version}`);
        if (b.keptAs) run.kept.push({ keptAs: b.keptAs, file: b.file });
      }
      // The fleet sees this host on its new code before it migrates the shared database.
      if (result.installed.length > 0) await announce(config, "updating");
      const refused = result.refused.filter((r) => applicable.some((a) => a.file === r.file));
      if (refused.length > 0) {
        const first = refused[0]!;
        throw new LockstepError(first.code, `bundle ${first.file} was refused: ${first.message}`, {
          data: { refused },
        });
      }
      return describeInstalled(result.installed);
    },
    undo: { name: "rollback", run: async () => await undoCode(config, await undoPlan()) },
  };
  const migrate: Step<UpdateStep> = {
    name: "migrate",
    run: async (flow) => {
      const result = await migrateWithin(config, {
        yes: true,
        backupShared: options.backup !== false,
        applied: run.applied,
        onSharedBackup: (made) => run.sharedBackups.push(made),
        lockTimeoutMs: options.lockTimeoutMs ?? 30_000,
        ...(options.onMigrate ? { onProgress: options.onMigrate } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }, flow);
      return [
        `${result.applied.length} migration(s) applied`,
        ...run.sharedBackups.map((b) =>
          b.takenHere
            ? `shared database "${b.database}" backed up first: ${b.backup}`
            : `shared database "${b.database}" covered by backup ${b.backup} on host ${b.host}`
        ),
        ...result.held.map((c) =>
          `held: ${c.id} waits for ${c.waitingFor.map((h) => h.host).join(", ")}`
        ),
      ].join("; ");
    },
    undo: { name: "restore", run: async () => await undoDatabases(config, await undoPlan()) },
  };
  return applicable.length > 0 ? [install, migrate] : [migrate];
}

/**
 * The error of a failed update, saying what failed, what was put back (and
 * what that discarded) and what to do; maintenance keeps it as its message.
 */
function updateFailed(
  failure: FlowFailure<UpdateStep>,
  taken: TakenBackup | null,
  plan: UndoPlan | null,
): LockstepError {
  const cause = failure.cause;
  const code = isLockstepError(cause) ? cause.code : "INTERNAL";
  const what = code === "INTERRUPTED"
    ? `The update was interrupted during ${failure.step}: ${messageOf(cause)}`
    : `The update failed while it ran ${failure.step} [${code}]: ${messageOf(cause)}`;
  const restored = failure.changed && failure.undoError === undefined;
  const backupId = taken?.id ?? null;
  const databases = plan?.databases ?? [];
  let advice: string;
  const next = code === "INTERRUPTED"
    ? `run "lockstep update" again when you are ready`
    : `fix the cause (or remove the bundle from pending/), then run "lockstep update" again`;
  if (!failure.changed) {
    advice = `Nothing had been changed, so nothing was undone: ${next}.`;
  } else if (restored) {
    const parts = [
      ...(plan?.state ? ["the code was rolled back and the bundles went back to pending/"] : []),
      ...(databases.length > 0
        ? [
          `database(s) ${databases.map((d) => `"${d}"`).join(", ")} came back from backup ` +
          `${backupId}: writes made to them since ${taken?.created ?? "the backup"} are gone`,
        ]
        : []),
      ...(plan?.kept ?? []).map((k) =>
        `shared database "${k.database}" was kept as migrated (${k.reason})`
      ),
    ];
    advice = `What it changed was undone: ${parts.join("; ") || "nothing else had changed"}. ` +
      `Maintenance mode stays on: ${next}, or run "lockstep maintenance off" to reopen on the ` +
      `previous version.`;
  } else {
    advice = `Undoing it failed too (${messageOf(failure.undoError)}). Maintenance mode stays ` +
      `on. Run "lockstep recover" to finish putting things back` +
      (backupId ? `, or "lockstep restore ${backupId}".` : ".");
  }
  return lockstepError("UPDATE_FAILED", `${what} ${advice}`, {
    cause,
    data: { step: failure.step, code, backup: backupId, restored, databases: [...databases] },
  });
}
