/**
 * Flows as data: a multi-step operation is a list of steps, each with its
 * undo, run by one loop that times and reports them (Capistrano's
 * `starting started updating updated publishing published` is the model).
 *
 * A step that makes a durable change says so with {@link Flow.changed}. When
 * a step fails, the undos of the steps that completed run in reverse order,
 * but only when something was changed: a run that failed before its first
 * change has nothing to undo.
 *
 * @module
 */
import { fault } from "./fault.ts";

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
  /** Records that the run has made a durable change (its undos must run after a failure). */
  changed(): void;
  /** True once any step called {@link changed}. */
  readonly hasChanged: boolean;
}

/** A step: what it does, and how to put back what it did. */
export interface Step<S extends string = string> {
  /** Its name, reported and used for the fault point `<command>:<name>`. */
  readonly name: S;
  /** Does the work; returns what it did, for people. */
  run(flow: Flow): Promise<string>;
  /**
   * Puts back what this and later steps changed, after a later step failed,
   * reported under its own name (`restore`).
   */
  readonly undo?: { readonly name: S; run(flow: Flow): Promise<string> };
}

/** A step failed: which, why, whether anything had changed, and what was undone. */
export class FlowFailure<S extends string = string> extends Error {
  /** The step that failed. */
  readonly step: S;
  /** True when a step had made a durable change before the failure. */
  readonly changed: boolean;
  /** The undos that ran, in order. */
  readonly undone: readonly StepResult<S>[];
  /** The error of an undo that failed too, or `undefined`. */
  readonly undoError: unknown;

  /** Wraps the failure of `step`; `cause` is its error. */
  constructor(
    step: S,
    cause: unknown,
    facts: { changed: boolean; undone: readonly StepResult<S>[]; undoError: unknown },
  ) {
    super(`step ${step} failed`, { cause });
    this.name = "FlowFailure";
    this.step = step;
    this.changed = facts.changed;
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
}

/** A fresh change tracker. */
export function newFlow(): Flow {
  let changed = false;
  return {
    changed: () => void (changed = true),
    get hasChanged() {
      return changed;
    },
  };
}

/**
 * Runs `steps` in order, timing and reporting each, and passing the fault
 * point `<command>:<step>` after each. On a failure, runs the undos of the
 * completed steps in reverse (only when something changed) and throws a
 * {@link FlowFailure}.
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
      results.push(await timed(step.name, () => step.run(flow), options.onStep));
    } catch (error) {
      const undone: StepResult<S>[] = [];
      let undoError: unknown;
      if (flow.hasChanged) {
        for (const earlier of done.toReversed()) {
          const undo = earlier.undo;
          if (undo === undefined) continue;
          try {
            undone.push(await timed(undo.name, () => undo.run(flow), options.onStep));
          } catch (failure) {
            undoError = failure;
            break;
          }
        }
      }
      throw new FlowFailure(step.name, error, { changed: flow.hasChanged, undone, undoError });
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
