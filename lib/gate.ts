/**
 * The startup gate for Deno applications: the decision `lockstep start`
 * makes, as a function the application awaits before it serves.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { lockstepError } from "./errors.ts";
import { check, type CheckReport } from "./check.ts";

/** Options for {@link gate}. */
export interface GateOptions {
  /**
   * Run anyway when updates or migrations are pending (check's exit 3 or 4),
   * but never when check says blocked (5). Default `false`.
   */
  ignore?: boolean;
}

/**
 * Runs `check` and returns its report when the application may start.
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 *
 * @throws {LockstepError} `GATE_REFUSED` with `data.exitCode` (3, 4 or 5) and
 * `data.report` when it must not; `DATABASE_UNREACHABLE` and
 * `PERMISSION_DENIED` from check.
 *
 * @example
 * ```ts ignore
 * const config = await loadConfig("/srv/shop/lockstep.json");
 * await gate(config); // throws before the app serves anything
 * ```
 */
export async function gate(config: Config, options: GateOptions = {}): Promise<CheckReport> {
  const report = await check(config);
  if (report.ok || (options.ignore === true && report.exitCode !== 5)) return report;
  const reasons = report.problems.filter((p) => p.severity !== "warning").map((p) => p.message);
  throw lockstepError(
    "GATE_REFUSED",
    `Cannot start ${config.app}: ${reasons.join(" ")}` +
      (report.exitCode === 5 ? "" : ` (or start it anyway with ignore / --ignore)`),
    { data: { exitCode: report.exitCode as 3 | 4 | 5, report } },
  );
}
