/**
 * Flows as data: a multi-step operation is a list of steps, each with its
 * undo, run by one loop that times and reports them (Capistrano's
 * `starting started updating updated publishing published` is the model).
 *
 * A step that makes a durable change says so with {@link Flow.changed},
 * naming what it changed (`code`, `database:main`). When a step fails, the
 * undos run, the failed step's first (it may have changed something before
 * it failed), then those of the completed steps in reverse order; but only
 * when something was changed: a run that failed before its first change has
 * nothing to undo.
 *
 * @module
 */
import { fault } from "./fault.ts";
import { stopIfAborted } from "./interrupt.ts";

/** One finished step (or undo), with its duration. */
export interface StepResult<S extends string = string> {
  /** Which step. */
  readonly step: S;
  /** How long it took, in ms. */
  readonly durationMs: number;
  /** What it did, for people. */
  readonly detail: string;
}

/** What a running step can tell the loop. */
export interface Flow {
  /**
   * Records that the run made a durable change to `what` (`code`,
   * `database:<name>`; default `state`): its undos must run after a failure.
   */
  changed(what?: string): void;
  /** True once any step called {@link changed}. */
  readonly hasChanged: boolean;
  /** What was changed, in the order first reported. */
  readonly changes: ReadonlySet<string>;
}

/** A step: what it does, and how to put back what it did. */
export interface Step<S extends string = string> {
  /** Its name, reported and used for the fault point `<command>:<name>`. */
  readonly name: S;
  /** Does the work; returns what it did, for people. */
  run(flow: Flow): Promise<string>;
  /**
   * Puts back what this step changed, after it or a later step failed,
   * reported under its own name (`rollback`, `restore`). It must do nothing
   * when the step changed nothing, and be safe to run again.
   */
  readonly undo?: { readonly name: S; run(flow: Flow): Promise<string> };
}

/** A step failed: which, why, what had changed, and what was undone. */
export class FlowFailure<S extends string = string> extends Error {
  /** The step that failed. */
  readonly step: S;
  /** True when a step had made a durable change before the failure. */
  readonly changed: boolean;
  /** What had been changed (see {@link Flow.changed}). */
  readonly changes: readonly string[];
  /** The undos that ran, in order. */
  readonly undone: readonly StepResult<S>[];
  /** The error of an undo that failed too, or `undefined`. */
  readonly undoError: unknown;

  /** Wraps the failure of `step`; `cause` is its error. */
  constructor(
    step: S,
    cause: unknown,
    facts: {
      changes: readonly string[];
      undone: readonly StepResult<S>[];
      undoError: unknown;
    },
  ) {
    super(`step ${step} failed`, { cause });
    this.name = "FlowFailure";
    this.step = step;
    this.changed = facts.changes.length > 0;
    this.changes = facts.changes;
    this.undone = facts.undone;
    this.undoError = facts.undoError;
  }
}

/** Options for {@link runFlow}. */
export interface FlowOptions<S extends string> {
  /** Receives each step (and each undo) as it finishes. */
  onStep?: (result: StepResult<S>) => void;
  /** The flow as it stands when the caller already changed something. */
  flow?: Flow;
  /**
   * Called once before the first undo runs (with the failed step and what
   * had changed): where a caller makes the undo durable, so that `recover`
   * can finish it after a crash.
   */
  beforeUndo?: (step: S, changes: readonly string[]) => Promise<void>;
  /** Called once after every undo succeeded. */
  afterUndo?: () => Promise<void>;
  /** Checked before each step: once aborted, the next step fails with `INTERRUPTED`. */
  signal?: AbortSignal;
}

/** A fresh change tracker. */
export function newFlow(): Flow {
  const changes = new Set<string>();
  return {
    changed: (what = "state") => void changes.add(what),
    get hasChanged() {
      return changes.size > 0;
    },
    changes,
  };
}

/**
 * Runs `steps` in order, timing and reporting each, and passing the fault
 * point `<command>:<step>` after each. On a failure, runs the undos (only
 * when something changed) and throws a {@link FlowFailure}.
 */
export async function runFlow<S extends string>(
  command: string,
  steps: readonly Step<S>[],
  options: FlowOptions<S> = {},
): Promise<StepResult<S>[]> {
  const flow = options.flow ?? newFlow();
  const results: StepResult<S>[] = [];
  const done: Step<S>[] = [];
  for (const step of steps) {
    try {
      stopIfAborted(options.signal, `before step ${step.name}`);
      results.push(await timed(step.name, () => step.run(flow), options.onStep));
    } catch (error) {
      const changes = [...flow.changes];
      const undone: StepResult<S>[] = [];
      let undoError: unknown;
      if (flow.hasChanged) {
        try {
          await options.beforeUndo?.(step.name, changes);
          for (const undo of [step, ...done.toReversed()].flatMap((s) => s.undo ?? [])) {
            undone.push(await timed(undo.name, () => undo.run(flow), options.onStep));
          }
          await options.afterUndo?.();
        } catch (failure) {
          undoError = failure;
        }
      }
      throw new FlowFailure(step.name, error, { changes, undone, undoError });
    }
    done.push(step);
    fault(`${command}:${step.name}`);
  }
  return results;
}

/** Runs `work`, reporting it as step `name` with its duration. */
export async function timed<S extends string>(
  name: S,
  work: () => Promise<string>,
  onStep: ((result: StepResult<S>) => void) | undefined,
): Promise<StepResult<S>> {
  const started = performance.now();
  const detail = await work();
  const result = { step: name, durationMs: Math.round(performance.now() - started), detail };
  onStep?.(result);
  return result;
}
