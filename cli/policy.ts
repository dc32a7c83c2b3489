/**
 * TRANSITIONAL: the policy of the changing commands, kept here only until
 * the library applies it itself (STYLE.md item 16; DESIGN.md `lib/guard.ts`).
 * Delete this file, and the few lines that call it in `migrate.ts`,
 * `install.ts`, `restore.ts` and `update.ts`, when `migrate()`, `install()`,
 * `restore()` and `update()` take their backup, maintenance and fault
 * options themselves.
 *
 * What it does, exactly as the command line always has: after the operator
 * confirms and before the first change, take a backup (unless `--no-backup`;
 * `migrate` waits up to `--lock-timeout` for it) and turn maintenance mode on;
 * after success turn it off again, after a failure leave it on with the
 * reason. `install`, `restore` and `update` also receive `LOCKSTEP_FAULT`.
 *
 * @module
 */
import { backup, type Config, MaintenanceScope, redact } from "../mod.ts";
import { readEnv } from "./env.ts";
import { printError, progress } from "./output.ts";

/** The backup a command takes first: its label, and how long to wait for the lock. */
export interface BackupFirst {
  /** The backup's label (`before-migrate`). */
  readonly label: string;
  /** Seconds to wait for another lockstep's lock (default 0). */
  readonly waitSeconds?: number;
}

/** How {@link guarded} protects a command. */
export interface GuardOptions<T> {
  /** The command, recorded as who turned maintenance on. */
  readonly by: "migrate" | "install" | "restore";
  /** The backup to take once confirmed, or `undefined` for none (`--no-backup`). */
  readonly backup?: BackupFirst | undefined;
  /** `--json`: no progress and no "Backed up to" line. */
  readonly json: boolean;
  /** A failure to record in maintenance mode although `run` returned (`install` refusing a bundle). */
  readonly failure?: (result: T) => string | undefined;
}

/**
 * Runs `run` under the policy. `run` calls its library function and, in that
 * function's `confirm` callback, awaits `ready()` after the operator said
 * yes: it backs up and turns maintenance on, then resolves `true`.
 */
export async function guarded<T>(
  config: Config,
  options: GuardOptions<T>,
  run: (ready: () => Promise<boolean>) => Promise<T>,
): Promise<T> {
  const scope = new MaintenanceScope(config, options.by);
  const ready = async () => {
    if (options.backup !== undefined) await backupFirst(config, options.backup, options.json);
    await scope.enter();
    return true;
  };
  let result: T;
  try {
    result = await run(ready);
  } catch (error) {
    await scope.leave(
      `${scope.by} failed: ${redact(error instanceof Error ? error.message : String(error))}`,
    ).catch(() => undefined);
    throw error;
  }
  await scope.leave(options.failure?.(result));
  return result;
}

/** The `LOCKSTEP_FAULT` test facility, as `install`, `restore` and `update` take it. */
export function faultOption(): { fault?: string } {
  const fault = readEnv("LOCKSTEP_FAULT");
  return fault ? { fault } : {};
}

async function backupFirst(config: Config, first: BackupFirst, json: boolean): Promise<void> {
  const made = await backup(config, {
    label: first.label,
    lockTimeoutMs: (first.waitSeconds ?? 0) * 1000,
    ...progress(json),
  });
  if (!json) {
    printError(`Backed up to ${made.path} (restore with "lockstep restore ${made.id}").`);
  }
}
