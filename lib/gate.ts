/**
 * The startup gate for Deno applications: the decision `lockstep start`
 * makes, as a function the application awaits before it serves.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { explainPermission, lockstepError } from "./errors.ts";
import { check, type CheckReport } from "./check.ts";
import { joinFleet } from "./fleet/presence.ts";
import { asProblem, fleetUnregistered } from "./problems.ts";

/** Options for {@link gate}. */
export interface GateOptions {
  /**
   * Run anyway when updates or migrations are pending (check's exit 3 or 4),
   * but never when check says blocked (5). Default `false`.
   */
  ignore?: boolean;
  /**
   * First wait up to this long, in ms, for every database to accept
   * connections (dbmate's `wait`: the database server may start with the
   * host). Default 0: check at once.
   */
  waitMs?: number;
  /**
   * In a fleet (`fleet` in lockstep.json): once the application may start,
   * register this host as running its code in every shared database, and
   * refresh it every `fleet.staleAfterSeconds / 3` while the process runs
   * (a timer that never keeps the process alive). Default `true`.
   */
  register?: boolean;
}

/**
 * Runs `check` and returns its report when the application may start; in a
 * fleet it then registers the host as running (see {@link GateOptions.register}:
 * a registration that fails is a `FLEET_UNREGISTERED` warning in the report,
 * never a refusal).
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. `--allow-write` on the updates
 * folder lets `check` keep its hints (a faster start; see the README, "Start-up speed") and, in a
 * fleet without `fleet.host`, the first start keep the host's generated id.
 *
 * @throws {LockstepError} `GATE_REFUSED` with `data.exitCode` (3, 4 or 5) and
 * `data.report` when it must not; `DATABASE_UNREACHABLE` (a database that
 * does not answer, also after `waitMs`); `PERMISSION_DENIED` (a Deno flag
 * not granted: the message names it); `CONFIG_INVALID` (a `passwordEnv`
 * variable that is not set, a URL without a user); `FILE_INVALID`
 * (`state.json` is not lockstep's); `ACCESS_DENIED`, `FILE_NOT_FOUND` and
 * `IO_FAILED` (the operating system refused to read a file or folder:
 * the message names the path and the user).
 *
 * @example
 * ```ts ignore
 * const config = await loadConfig("/srv/shop/lockstep.json");
 * await gate(config, { waitMs: 30_000 }); // throws before the app serves anything
 * ```
 */
export async function gate(config: Config, options: GateOptions = {}): Promise<CheckReport> {
  const { ignore = false, waitMs = 0 } = options;
  let report: CheckReport;
  try {
    report = await check(config, { waitMs });
  } catch (error) {
    // The application prints what it catches: give it the operator's message, not Deno's.
    throw explainPermission(error, `check ${config.app} before it starts`);
  }
  if (report.ok || (ignore && report.exitCode !== 5)) {
    if (options.register === false) return report;
    const { problems } = await joinFleet(config);
    if (problems.length === 0) return report;
    return { ...report, problems: [...report.problems, asProblem(fleetUnregistered(problems))] };
  }
  const reasons = report.problems.filter((p) => p.severity !== "warning").map((p) => p.message);
  throw lockstepError(
    "GATE_REFUSED",
    `Cannot start ${config.app}: ${reasons.join(" ")}` +
      (report.exitCode === 5 ? "" : ` (or start it anyway with ignore / --ignore)`),
    { data: { exitCode: report.exitCode as 3 | 4 | 5, report } },
  );
}
