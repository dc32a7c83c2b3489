/**
 * `update`: the whole release in one safe step. check → backup (files and
 * databases) → maintenance on → install every applicable bundle in order →
 * migrate → maintenance off. When a step fails, the backup taken at the start
 * is restored (files and databases), maintenance stays on with the failure as
 * its message, and the error says what happened and what to do.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Config } from "./config.ts";
import { LockstepError, messageOf } from "./errors.ts";
import { syncFolder } from "./files.ts";
import { backup, type BackupOptions } from "./backup/backup.ts";
import { restore } from "./backup/restore.ts";
import { install } from "./bundles/install.ts";
import { check, type CheckReport } from "./check.ts";
import { faultHook } from "./journal.ts";
import { MaintenanceScope } from "./maintenance.ts";
import { migrate, type MigrateEvent } from "./migrations/run.ts";
import { takeOperationLock } from "./oplock.ts";

/** A step of {@link update}. */
export type UpdateStep = "check" | "backup" | "maintenance" | "install" | "migrate" | "restore";

/** One finished step, with its duration. */
export interface UpdateStepResult {
  /** Which step. */
  readonly step: UpdateStep;
  /** How long it took, in ms. */
  readonly durationMs: number;
  /** What it did, for people. */
  readonly detail: string;
}

/** Options for {@link update}. */
export interface UpdateOptions {
  /** Asked with check's report before anything changes; resolve `false` to stop. Default: go ahead. */
  confirm?: (report: CheckReport) => Promise<boolean>;
  /** Receives each step as it finishes. */
  onStep?: (step: UpdateStepResult) => void;
  /** Receives each migration step. */
  onMigrate?: (event: MigrateEvent) => void;
  /** How long migrate waits for another process's lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
  /** Passed to the backup (`pgDump: false` forces the built-in PostgreSQL dump). */
  backup?: Pick<BackupOptions, "pgDump" | "onProgress">;
  /**
   * Test facility: exit at once (status 137) after an install or restore
   * step (as for install), after `migrate:applied[:n]`, or after
   * `update:<step>` for each update step.
   */
  fault?: string;
}

/** What {@link update} did. */
export interface UpdateResult {
  /** False when there was nothing to do: no backup was taken. */
  readonly changed: boolean;
  /** False when `confirm` declined. */
  readonly confirmed: boolean;
  /** The code version before and after. */
  readonly from: string | null;
  /** The code version after. */
  readonly to: string | null;
  /** The backup taken at the start, if any. */
  readonly backup: string | null;
  /** Bundle versions installed, in order. */
  readonly installed: readonly string[];
  /** Migration ids applied, in order. */
  readonly applied: readonly string[];
  /** Each step, in order, with its duration. */
  readonly steps: readonly UpdateStepResult[];
}

/**
 * Runs the whole release: see the module documentation.
 *
 * @throws {LockstepError} `UPDATE_BLOCKED` (check says blocked: nothing was
 * changed), `UPDATE_FAILED` (a step failed; `data.restored` says whether the
 * backup was restored), `LOCK_HELD`, `JOURNAL_OPEN`, `DATABASE_UNREACHABLE`.
 */
export async function update(config: Config, options: UpdateOptions = {}): Promise<UpdateResult> {
  const steps: UpdateStepResult[] = [];
  const fault = faultHook(options.fault);
  const timed = async <T>(step: UpdateStep, run: () => Promise<T>, detail: (t: T) => string) => {
    const started = performance.now();
    const value = await run();
    const done = {
      step,
      durationMs: Math.round(performance.now() - started),
      detail: detail(value),
    };
    steps.push(done);
    options.onStep?.(done);
    fault(`update:${step}`);
    return value;
  };
  using _lock = await takeOperationLock(config, "update");
  const report = await timed("check", () => check(config), (r) => `exit ${r.exitCode}`);
  const from = report.codeVersion;
  const nothing = { from, to: from, backup: null, installed: [], applied: [], steps };
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
  if (report.exitCode === 0) return { ...nothing, changed: false, confirmed: true };
  if (options.confirm && !(await options.confirm(report))) {
    return { ...nothing, changed: false, confirmed: false };
  }
  const applicable = report.bundles.filter((b) => b.applies);
  const made = await timed(
    "backup",
    () => backup(config, { label: "before-update", ...options.backup }),
    (b) => `${b.id} (${b.path})`,
  );
  const scope = new MaintenanceScope(config, "update");
  const target = applicable.at(-1)?.version ?? from;
  await timed(
    "maintenance",
    () => scope.enter(`Updating ${config.app} to ${target}. Please try again in a few minutes.`),
    () => "on",
  );
  const installed: string[] = [];
  const kept: { keptAs: string; file: string }[] = [];
  const applied: string[] = [];
  let failed: { step: UpdateStep; error: unknown } | undefined;
  try {
    if (applicable.length > 0) {
      const result = await timed(
        "install",
        () => install(config, { ...(options.fault ? { fault: options.fault } : {}) }),
        (r) =>
          r.installed.map((b) => `${b.from ?? "(none)"} → ${b.version}`).join(", ") || "nothing",
      );
      for (const b of result.installed) {
        installed.push(b.version);
        if (b.keptAs) kept.push({ keptAs: b.keptAs, file: b.file });
      }
      const refused = result.refused.filter((r) => applicable.some((a) => a.file === r.file));
      if (refused.length > 0) {
        const first = refused[0]!;
        throw new LockstepError(
          first.code as never,
          `bundle ${first.file} was refused: ${first.message}`,
          { data: { refused } },
        );
      }
    }
  } catch (error) {
    failed = { step: "install", error };
  }
  if (failed === undefined) {
    try {
      const result = await timed(
        "migrate",
        () =>
          migrate(config, {
            yes: true,
            lockTimeoutMs: options.lockTimeoutMs ?? 30_000,
            ...(options.fault ? { fault: options.fault } : {}),
            ...(options.onMigrate ? { onProgress: options.onMigrate } : {}),
          }),
        (r) => `${r.applied.length} migration(s) applied`,
      );
      applied.push(...result.applied);
    } catch (error) {
      failed = { step: "migrate", error };
    }
  }
  if (failed === undefined) {
    await scope.leave();
    const to = installed.at(-1) ?? from;
    return { changed: true, confirmed: true, from, to, backup: made.id, installed, applied, steps };
  }
  return await rollBack(config, made.id, failed, scope, kept, timed, from, options.fault);
}

async function rollBack(
  config: Config,
  backupId: string,
  failed: { step: UpdateStep; error: unknown },
  scope: MaintenanceScope,
  kept: readonly { keptAs: string; file: string }[],
  timed: <T>(step: UpdateStep, run: () => Promise<T>, detail: (t: T) => string) => Promise<T>,
  from: string | null,
  fault: string | undefined,
): Promise<never> {
  const cause = failed.error;
  const code = cause instanceof LockstepError ? cause.code : "INTERNAL";
  const what = `The update failed while it ran ${failed.step} [${code}]: ${messageOf(cause)}`;
  let restored = false;
  let restoreError: unknown;
  try {
    await timed(
      "restore",
      () => restore(config, backupId, fault ? { fault } : {}),
      () => `backup ${backupId}`,
    );
    // The bundles this update installed go back to pending/, so that nothing is lost.
    for (const { keptAs, file } of kept) await putBack(config, keptAs, file);
    restored = true;
  } catch (error) {
    restoreError = error;
  }
  const advice = restored
    ? `Files and databases were restored from backup ${backupId} (version ${
      from ?? "none"
    }); the bundles went back to pending/. Maintenance mode stays on: fix the cause (or remove ` +
      `the bundle from pending/), then run "lockstep update" again, or "lockstep maintenance off" ` +
      `to reopen on the restored version.`
    : `Restoring backup ${backupId} failed too (${
      messageOf(restoreError)
    }). Maintenance mode stays on. Run "lockstep recover", then "lockstep restore ${backupId}".`;
  await scope.leave(`${what} ${advice}`).catch(() => undefined);
  throw new LockstepError("UPDATE_FAILED", `${what} ${advice}`, {
    cause,
    data: { step: failed.step, code, backup: backupId, restored },
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
