/**
 * The change policy, once, for every command that changes the application:
 * `migrate`, `install`, `restore` and `update`, whether a program calls them
 * from `mod.ts` or an operator runs them from the command line.
 *
 * 1. **Preflight**: everything that can be checked without changing
 *    anything. A failure here changes nothing.
 * 2. **Confirmation**, with the plan (the CLI asks on a terminal; a library
 *    caller passes `confirm`, or goes ahead).
 * 3. **A backup** of files and databases, unless the caller opts out.
 * 4. **Maintenance on** (unless the caller opts out; maintenance the operator
 *    turned on stays theirs).
 * 5. **The change**, as steps ({@link runFlow}); a step that makes a durable
 *    change says so.
 * 6. **Maintenance off** after success. After a failure it stays on, with
 *    the reason as its message, only when something was actually changed: a
 *    refused bundle, a lock timeout or a failed preflight leave it as it was.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { backup, type BackupOptions } from "./backup/backup.ts";
import type { BackupManifest } from "./backup/manifest.ts";
import { messageOf } from "./errors.ts";
import { fault } from "./fault.ts";
import {
  type Flow,
  FlowFailure,
  newFlow,
  runFlow,
  type Step,
  type StepResult,
  timed,
} from "./flow.ts";
import { MaintenanceScope } from "./maintenance.ts";
import { stopIfAborted } from "./interrupt.ts";
import { redact } from "./redact.ts";
import { sharedDatabases } from "./fleet/registry.ts";
import { describeSharedCover } from "./fleet/backup.ts";

/**
 * The safety options every changing command takes (`migrate`, `install`,
 * `restore`, `update`): on by default, switched off explicitly.
 */
export interface SafetyOptions {
  /**
   * Back up files and databases after confirmation and before the first
   * change (default `true`). `false` opts out; an object passes options to
   * the backup (`pgDump: false` forces the built-in PostgreSQL dump).
   */
  backup?: boolean | Pick<BackupOptions, "pgDump" | "onProgress">;
  /** Turn maintenance mode on while changing and off after success (default `true`). */
  maintenance?: boolean;
  /** Receives the backup as soon as it is taken (the CLI says where it is). */
  onBackup?: (made: BackupManifest & { path: string }) => void;
  /**
   * Stop at the next safe point once it aborts (the CLI aborts it on SIGINT
   * or SIGTERM): between steps, between migrations, before a journal is
   * applied. What the run changed is undone as after a failure; the error is
   * `INTERRUPTED`.
   */
  signal?: AbortSignal;
}

/** A backup as the guard took it. */
export type TakenBackup = BackupManifest & { path: string };

/** What one guarded command does, as the guard runs it. */
export interface Guarded<P, S extends string> {
  /** The command, recorded as who turned maintenance on (`migrate`). */
  readonly command: string;
  /** Everything that can be checked without changing anything; returns the plan or throws. */
  preflight(): Promise<P>;
  /** Report the preflight as a step of this name (and its fault point). */
  readonly preflightStep?: S;
  /** What the preflight found, for that step's report. */
  preflightDetail?(plan: P): string;
  /** True when the plan has nothing to do: no confirmation, backup or maintenance. */
  idle(plan: P): boolean;
  /** Asked with the plan; `false` stops with nothing changed. Default: go ahead. */
  readonly confirm?: ((plan: P) => Promise<boolean>) | undefined;
  /**
   * The backup's label (`before-migrate`) and how long it waits for the
   * operation lock and for a table lock an application session holds.
   */
  readonly backup: { readonly label: string; readonly waitMs?: number };
  /** What maintenance says while the change runs (default: "being updated"). */
  maintenanceMessage?(plan: P): string;
  /** The change, as steps; `taken()` is the backup once it exists (`null` when opted out). */
  steps(plan: P, taken: () => TakenBackup | null): readonly Step<S>[];
  /**
   * Before the first undo of a failed run that changed something (with the
   * failed step and what had changed): make the undo durable. After every
   * undo succeeded: clean up. See {@link runFlow}.
   */
  beforeUndo?(
    step: S | "backup" | "maintenance",
    changes: readonly string[],
    taken: TakenBackup | null,
  ): Promise<void>;
  /** After every undo succeeded. */
  afterUndo?(): Promise<void>;
  /**
   * After the steps ran: a failure the change reported without throwing (a
   * refused bundle), as the message maintenance keeps; `undefined` for success.
   */
  outcome?(): string | undefined;
  /** The error to throw for a failed step (default: the step's own error). */
  failed?(failure: FlowFailure<S>, taken: TakenBackup | null): unknown;
  /** What maintenance says after a failure that changed something (default: `<command> failed: <message>`). */
  failureMessage?(error: unknown): string;
  /** Receives each step as it finishes (backup and maintenance included). */
  readonly onStep?: ((result: StepResult<S | "backup" | "maintenance">) => void) | undefined;
}

/** What the guard did. */
export interface GuardResult<P> {
  /** The preflight's plan. */
  readonly plan: P;
  /** `idle`: nothing to do; `declined`: confirmation said no; `done`: the change ran. */
  readonly status: "idle" | "declined" | "done";
  /** The backup taken before the change, if any. */
  readonly backup: TakenBackup | null;
  /** Every step, in order, with its duration. */
  readonly steps: readonly StepResult[];
}

/**
 * Runs `spec` under the change policy (see the module documentation).
 * Throws what the preflight throws, what `confirm` throws, the backup's
 * errors, and for a failed step `spec.failed(…)` or the step's own error.
 */
export async function guard<P, S extends string>(
  config: Config,
  spec: Guarded<P, S>,
  options: SafetyOptions = {},
): Promise<GuardResult<P>> {
  const steps: StepResult[] = [];
  const onStep = (result: StepResult<S | "backup" | "maintenance">) => {
    steps.push(result);
    spec.onStep?.(result);
  };
  let plan!: P;
  const preflight = async () => {
    plan = await spec.preflight();
    return spec.preflightDetail?.(plan) ?? "";
  };
  if (spec.preflightStep === undefined) await preflight();
  else {
    await timed(spec.preflightStep, preflight, onStep);
    fault(`${spec.command}:${spec.preflightStep}`);
  }
  if (spec.idle(plan)) return { plan, status: "idle", backup: null, steps };
  stopIfAborted(options.signal, `before ${spec.command} changed anything`);
  if (spec.confirm && !(await spec.confirm(plan))) {
    return { plan, status: "declined", backup: null, steps };
  }

  let taken: TakenBackup | null = null;
  const scope = new MaintenanceScope(config, spec.command);
  const policy: Step<S | "backup" | "maintenance">[] = [];
  if (options.backup !== false) {
    policy.push({
      name: "backup",
      run: async () => {
        taken = await backup(config, {
          label: spec.backup.label,
          // In a fleet the host that migrates a shared database backs it up (lib/fleet/backup.ts).
          ...(config.fleet ? { databases: localDatabases(config) } : {}),
          lockTimeoutMs: spec.backup.waitMs ?? 0,
          // A dump waits for an application's table lock no longer than the change would.
          ...(spec.backup.waitMs === undefined ? {} : { tableLockTimeoutMs: spec.backup.waitMs }),
          ...(typeof options.backup === "object" ? options.backup : {}),
        });
        options.onBackup?.(taken);
        const cover = config.fleet ? await describeSharedCover(config) : "";
        return `${taken.id} (${taken.path})${cover && `; ${cover}`}`;
      },
    });
  }
  if (options.maintenance !== false) {
    policy.push({
      name: "maintenance",
      run: async () => {
        await scope.enter(spec.maintenanceMessage?.(plan));
        return "on";
      },
    });
  }
  const flow = newFlow();
  try {
    const before = spec.beforeUndo;
    const after = spec.afterUndo;
    await runFlow(spec.command, [...policy, ...spec.steps(plan, () => taken)], {
      onStep,
      flow,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(before
        ? {
          beforeUndo: (step: S | "backup" | "maintenance", changes: readonly string[]) =>
            before(step, changes, taken),
        }
        : {}),
      ...(after ? { afterUndo: () => after() } : {}),
    });
  } catch (error) {
    const failure = error instanceof FlowFailure ? error : undefined;
    const thrown = failure ? spec.failed?.(failure, taken) ?? failure.cause : error;
    const message = spec.failureMessage?.(thrown) ?? `${spec.command} failed: ${messageOf(thrown)}`;
    await leave(scope, flow, redact(message));
    throw thrown;
  }
  await leave(scope, flow, spec.outcome?.());
  return { plan, status: "done", backup: taken, steps };
}

/**
 * Maintenance after the change: off after success, and after a failure too
 * when nothing was changed; on with `failure` as its message otherwise.
 */
async function leave(scope: MaintenanceScope, flow: Flow, failure: string | undefined) {
  if (failure === undefined || !flow.hasChanged) await scope.leave();
  else await scope.leave(failure).catch(() => undefined);
}

/** The configured databases no other host shares. */
function localDatabases(config: Config): string[] {
  const shared = new Set(sharedDatabases(config).map((db) => db.name));
  return Object.keys(config.databases).filter((name) => !shared.has(name));
}
