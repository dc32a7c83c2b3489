/**
 * How `pack install` and `pack remove` run: under the change policy
 * ({@link guard}: preflight, confirmation, a backup, maintenance), as steps
 * with undos, like `update`. Each step that changes the code keeps its
 * committed journal (the old files aside) until the run ends, so a later
 * failure rolls the code back exactly (`rollback`) and puts state.json and
 * the bundles back; a database on which something committed comes back
 * from the run's backup (`restore`). The undo is written down first
 * (`lib/undo.ts`), so `recover` finishes one a crash interrupted.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isLockstepError, LockstepError, messageOf } from "../errors.ts";
import type { FlowFailure, Step, StepResult } from "../flow.ts";
import { guard, type GuardResult, type SafetyOptions, type TakenBackup } from "../guard.ts";
import { readState, type State } from "../state.ts";
import {
  discardKept,
  finishUndo,
  readUndoPlan,
  undoCode,
  undoDatabases,
  type UndoPlan,
  writeUndoPlan,
} from "../undo.ts";

/** A step of `pack install` or `pack remove` (the policy's own and the undos included). */
export type PackStep =
  | "check"
  | "backup"
  | "maintenance"
  | "install"
  | "migrate"
  | "purge"
  | "remove"
  | "record"
  | "rollback"
  | "restore";

/** What a run collects as it goes, for its undo. */
export interface PackRun {
  /** state.json before the run. */
  readonly stateBefore: State;
  /** Committed journals kept with the old files aside, in the order applied. */
  readonly journals: string[];
  /** Bundles moved to installed/, to go back to pending/ on an undo. */
  readonly kept: { keptAs: string; file: string }[];
  /** The undo, once a failure wrote it down. */
  plan: UndoPlan | null;
}

/** What one pack command does, as {@link guardPackRun} runs it. */
export interface PackRunSpec<P> {
  /** `pack-install` or `pack-remove`: who turned maintenance on, and the fault points' prefix. */
  readonly command: string;
  /** `install pack "reviews"`: what the error of a failure says could not be done. */
  readonly action: string;
  /** Everything checked before any change; throws a refusal. */
  preflight(): Promise<P>;
  /** What the preflight found, for its step's report. */
  detail(plan: P): string;
  /** Asked with the plan. */
  readonly confirm?: ((plan: P) => Promise<boolean>) | undefined;
  /** The backup's label. */
  readonly backupLabel: string;
  /** What maintenance says meanwhile. */
  maintenanceMessage(plan: P): string;
  /** The change, as steps (give the code's and databases' steps `undoCodeStep`/`undoDatabasesStep`). */
  steps(plan: P, run: PackRun): Step<PackStep>[];
}

/**
 * Runs `spec` under the change policy; on a failure, undoes what changed
 * and throws the failed step's error reworded: what could not be done, what
 * was put back, and what to do.
 */
export async function guardPackRun<P>(
  config: Config,
  spec: PackRunSpec<P>,
  options: SafetyOptions & { onStep?: (step: StepResult<PackStep>) => void },
): Promise<GuardResult<P>> {
  // Kept journals of a run that died before it could fail: nothing needs them now.
  await discardKept(config);
  const run: PackRun = {
    stateBefore: await readState(config),
    journals: [],
    kept: [],
    plan: null,
  };
  const done = await guard<P, PackStep>(config, {
    command: spec.command,
    preflight: () => spec.preflight(),
    preflightStep: "check",
    preflightDetail: (plan) => spec.detail(plan),
    idle: () => false,
    confirm: spec.confirm,
    backup: { label: spec.backupLabel },
    maintenanceMessage: (plan) => spec.maintenanceMessage(plan),
    steps: (plan) => spec.steps(plan, run),
    beforeUndo: async (_step, changes, taken) => {
      run.plan = undoPlan(config, spec.command, run, changes, taken);
      await writeUndoPlan(config, run.plan);
    },
    afterUndo: () => finishUndo(config),
    failed: (failure, taken) => packRunFailed(spec.action, failure, taken),
    failureMessage: (error) => messageOf(error),
    onStep: options.onStep,
  }, options);
  await discardKept(config);
  return done;
}

/** The undo of the code: kept journals rolled back, state.json and bundles put back. */
export function undoCodeStep(config: Config, run: PackRun): NonNullable<Step<PackStep>["undo"]> {
  return {
    name: "rollback",
    run: async () => await undoCode(config, run.plan ?? (await readUndoPlan(config))!),
  };
}

/** The undo of the databases on which something committed: from the run's backup. */
export function undoDatabasesStep(
  config: Config,
  run: PackRun,
): NonNullable<Step<PackStep>["undo"]> {
  return {
    name: "restore",
    run: async () => await undoDatabases(config, run.plan ?? (await readUndoPlan(config))!),
  };
}

function undoPlan(
  config: Config,
  command: string,
  run: PackRun,
  changes: readonly string[],
  taken: TakenBackup | null,
): UndoPlan {
  return {
    label: `${command.replace("-", " ")} in ${config.app}`,
    created: new Date().toISOString(),
    state: changes.includes("code") ? run.stateBefore : null,
    journals: [...run.journals],
    bundles: [...run.kept],
    backup: taken?.id ?? null,
    databases: changes.filter((c) => c.startsWith("database:")).map((c) => c.slice(9)),
  };
}

/** The failed step's error, saying what was put back and what to do; its code is kept. */
function packRunFailed(
  action: string,
  failure: FlowFailure<PackStep>,
  taken: TakenBackup | null,
): LockstepError {
  const cause = failure.cause;
  const code = isLockstepError(cause) ? cause.code : "INTERNAL";
  const reason = messageOf(cause).replace(/^Cannot [^:]*: /, "");
  let advice: string;
  if (!failure.changed) {
    advice = "Nothing had been changed.";
  } else if (failure.undoError === undefined) {
    const undone = failure.undone.map((u) => `${u.step}: ${u.detail}`).join("; ");
    advice = `What it changed was undone (${undone || "nothing needed undoing"}). Maintenance ` +
      `mode stays on: fix the cause and run it again, or run "lockstep maintenance off".`;
  } else {
    advice = `Undoing it failed too (${messageOf(failure.undoError)}). Maintenance mode stays ` +
      `on. Run "lockstep recover" to finish putting things back` +
      (taken ? `, or "lockstep restore ${taken.id}".` : ".");
  }
  return new LockstepError(
    code,
    `Cannot ${action}: step ${failure.step} failed: ${reason} ${advice}`,
    {
      cause,
      data: {
        ...(isLockstepError(cause) ? cause.data : {}),
        step: failure.step,
        backup: taken?.id ?? null,
        restored: failure.changed && failure.undoError === undefined,
      },
    },
  );
}
