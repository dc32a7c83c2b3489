/**
 * `update`: the whole release in one safe step, as a list of steps run by
 * the change policy ({@link guard}) and its step loop ({@link runFlow}):
 *
 * | step          | does                                            | undo (after a later failure) |
 * | ------------- | ----------------------------------------------- | ---------------------------- |
 * | `check`       | the preflight: refuses when check says blocked | (changes nothing)            |
 * | `backup`      | files and databases, label `before-update`      | `restore`: the backup, and the bundles back to `pending/` |
 * | `maintenance` | on, with the target version                      | (left on with the reason)   |
 * | `install`     | every applicable bundle, in version order        | (by the backup's undo)      |
 * | `migrate`     | every pending migration                          | (by the backup's undo)      |
 * | `prune`       | after success, when backups exceed `backup.keep` | (none: a failure is reported) |
 *
 * Undos run only when a step changed something: a bundle refused before the
 * first write, or a migration that rolled back whole, leave nothing to undo,
 * and maintenance goes off again.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Config } from "./config.ts";
import { isLockstepError, LockstepError, lockstepError, messageOf } from "./errors.ts";
import { syncFolder } from "./files.ts";
import type { FlowFailure, Step, StepResult } from "./flow.ts";
import { guard, type SafetyOptions, type TakenBackup } from "./guard.ts";
import { restore } from "./backup/restore.ts";
import { pruneAfter } from "./backup/prune.ts";
import { describeInstalled, installWithin } from "./bundles/install.ts";
import { check, type CheckReport } from "./check.ts";
import { type MigrateEvent, migrateWithin } from "./migrations/migrate.ts";
import { takeOperationLock } from "./oplock.ts";

/** A step of {@link update}. */
export type UpdateStep =
  | "check"
  | "backup"
  | "maintenance"
  | "install"
  | "migrate"
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
  const installed: string[] = [];
  const applied: string[] = [];
  // The bundles this update installed, kept in installed/: a restore puts them back in pending/.
  const kept: { keptAs: string; file: string }[] = [];
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
    undoFromBackup: {
      name: "restore",
      run: async (taken) => {
        await restore(config, taken.id, { backup: false, maintenance: false });
        for (const { keptAs, file } of kept) await putBack(config, keptAs, file);
        return `backup ${taken.id}`;
      },
    },
    steps: (report) => updateSteps(config, report, options, { installed, applied, kept }),
    failed: updateFailed,
    // The error says what failed, what was put back and what to do: maintenance shows it as is.
    failureMessage: (error) => messageOf(error),
    onStep: options.onStep,
  }, options);
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
    to: installed.at(-1) ?? from,
    backup: done.backup?.id ?? null,
    installed,
    applied,
    pruned: pruned?.removed ?? [],
    steps,
  };
}

/** check, refusing when it says blocked: nothing is changed. */
async function preflight(config: Config): Promise<CheckReport> {
  const report = await check(config);
  const blocking = report.problems.filter((p) => p.severity === "blocked");
  if (blocking.length > 0) {
    throw new LockstepError(
      "UPDATE_BLOCKED",
      `Cannot update: check says the application is blocked: ${
        blocking.map((p) => p.message).join(" ")
      } Resolve that first. Nothing was changed.`,
      { data: { problems: blocking.map((p) => p.code) } },
    );
  }
  return report;
}

/** The version the update brings: the last applicable bundle's, or the installed one. */
function target(report: CheckReport): string | null {
  return report.bundles.filter((b) => b.applies).at(-1)?.version ?? report.codeVersion;
}

/** The change: install (when bundles apply), then migrate. */
function updateSteps(
  config: Config,
  report: CheckReport,
  options: UpdateOptions,
  done: {
    installed: string[];
    applied: string[];
    kept: { keptAs: string; file: string }[];
  },
): Step<UpdateStep>[] {
  const applicable = report.bundles.filter((b) => b.applies);
  const install: Step<UpdateStep> = {
    name: "install",
    run: async (flow) => {
      const result = await installWithin(config, {}, flow);
      for (const b of result.installed) {
        done.installed.push(b.version);
        if (b.keptAs) done.kept.push({ keptAs: b.keptAs, file: b.file });
      }
      const refused = result.refused.filter((r) => applicable.some((a) => a.file === r.file));
      if (refused.length > 0) {
        const first = refused[0]!;
        throw new LockstepError(
          first.code,
          `bundle ${first.file} was refused: ${first.message}`,
          { data: { refused } },
        );
      }
      return describeInstalled(result.installed);
    },
  };
  const migrate: Step<UpdateStep> = {
    name: "migrate",
    run: async (flow) => {
      const result = await migrateWithin(config, {
        yes: true,
        lockTimeoutMs: options.lockTimeoutMs ?? 30_000,
        ...(options.onMigrate ? { onProgress: options.onMigrate } : {}),
      }, flow);
      done.applied.push(...result.applied);
      return `${result.applied.length} migration(s) applied`;
    },
  };
  return applicable.length > 0 ? [install, migrate] : [migrate];
}

/**
 * The error of a failed update, saying what failed, what was put back and
 * what to do; maintenance keeps it as its message.
 */
function updateFailed(
  failure: FlowFailure<UpdateStep>,
  taken: TakenBackup | null,
): LockstepError {
  const cause = failure.cause;
  const code = isLockstepError(cause) ? cause.code : "INTERNAL";
  const what = `The update failed while it ran ${failure.step} [${code}]: ${messageOf(cause)}`;
  const restored = failure.undone.some((u) => u.step === "restore") &&
    failure.undoError === undefined;
  const backupId = taken?.id ?? null;
  let advice: string;
  if (!failure.changed) {
    advice = `Nothing had been changed, so nothing was restored. Fix the cause (or remove the ` +
      `bundle from pending/), then run "lockstep update" again.`;
  } else if (restored) {
    advice = `Files and databases were restored from backup ${backupId}; the bundles went back ` +
      `to pending/. Maintenance mode stays on: fix the cause (or remove the bundle from ` +
      `pending/), then run "lockstep update" again, or "lockstep maintenance off" to reopen on ` +
      `the restored version.`;
  } else if (backupId === null) {
    advice = `No backup was taken (backup: false), so nothing was restored. Maintenance mode ` +
      `stays on: put the previous release back, then run "lockstep maintenance off".`;
  } else {
    advice = `Restoring backup ${backupId} failed too (${
      messageOf(failure.undoError)
    }). Maintenance mode stays on. Run "lockstep recover", then "lockstep restore ${backupId}".`;
  }
  return lockstepError("UPDATE_FAILED", `${what} ${advice}`, {
    cause,
    data: { step: failure.step, code, backup: backupId, restored },
  });
}

/** Moves a bundle kept in installed/ back to pending/; one already there by that name wins, and the kept copy stays. */
async function putBack(config: Config, keptAs: string, file: string): Promise<void> {
  await Deno.mkdir(config.pending, { recursive: true });
  try {
    await Deno.link(keptAs, join(config.pending, basename(file)));
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw error;
  }
  await Deno.remove(keptAs);
  await syncFolder(config.pending);
}
