/**
 * The aggregated, read-only report behind `check` and the startup gate. It
 * takes no lock and writes nothing: it runs at every application start.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { LockstepError } from "./errors.ts";
import { readCodeVersion } from "./host.ts";
import { type MigrationStatus, status } from "./migrations/status.ts";

/** How much a problem matters: it decides `check`'s exit code. */
export type Severity = "blocked" | "migrations" | "bundles";

/** One reason the application may not run as it is. */
export interface CheckProblem {
  /** A stable code: an error code, or `MIGRATIONS_PENDING`. */
  readonly code: string;
  /** `blocked` (exit 5), `migrations` (exit 4) or `bundles` (exit 3). */
  readonly severity: Severity;
  /** What is wrong and what to do, for people. */
  readonly message: string;
  /** The facts behind it. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** What `check` found. */
export interface CheckReport {
  /** True when the application may run: exit code 0. */
  readonly ok: boolean;
  /** 0, 3 (bundles pending), 4 (migrations pending) or 5 (blocked): the most severe wins. */
  readonly exitCode: 0 | 3 | 4 | 5;
  /** The configured application name. */
  readonly app: string;
  /** The installed code version, or `null` when the version file is missing. */
  readonly codeVersion: string | null;
  /** Migrations per package and database; `null` when they could not be read or planned. */
  readonly migrations: MigrationStatus | null;
  /** Every problem found, most severe first. */
  readonly problems: readonly CheckProblem[];
}

const EXIT_BY_SEVERITY: Record<Severity, 3 | 4 | 5> = { blocked: 5, migrations: 4, bundles: 3 };

/** Errors of the migration files or graph: the code cannot run on any database. */
const GRAPH_CODES = new Set([
  "MIGRATION_FILE_INVALID",
  "MIGRATION_INVALID",
  "MIGRATION_DUPLICATE",
  "MIGRATION_CYCLE",
  "MIGRATION_UNKNOWN_DEPENDENCY",
  "MIGRATION_ANCESTOR_UNAPPLIED",
  "FILE_NOT_FOUND",
]);

/**
 * Reports whether the application may run: migrations pending, the database
 * ahead of the code, changed applied migrations, a broken migration graph.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`.
 */
export async function check(config: Config): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const codeVersion = await readCodeVersion(config);
  let migrations: MigrationStatus | null = null;
  try {
    migrations = await status(config);
  } catch (error) {
    if (!(error instanceof LockstepError) || !GRAPH_CODES.has(error.code)) throw error;
    problems.push({
      code: error.code,
      severity: "blocked",
      message: error.message,
      data: error.data,
    });
  }
  if (migrations) problems.push(...migrationProblems(migrations));
  problems.sort((a, b) => EXIT_BY_SEVERITY[b.severity] - EXIT_BY_SEVERITY[a.severity]);
  const exitCode = problems.length === 0 ? 0 : EXIT_BY_SEVERITY[problems[0]!.severity];
  return { ok: exitCode === 0, exitCode, app: config.app, codeVersion, migrations, problems };
}

function migrationProblems(state: MigrationStatus): CheckProblem[] {
  const problems: CheckProblem[] = [];
  if (state.ahead.length > 0) {
    const ids = state.ahead.map((row) => row.id);
    problems.push({
      code: "DATABASE_AHEAD",
      severity: "blocked",
      message: `The database is ahead of the code: it has ${ids.length} migration(s) this code ` +
        `does not know (${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}). ` +
        `Install the code that matches it; downgrades are not supported.`,
      data: { ids, databases: [...new Set(state.ahead.map((row) => row.database))] },
    });
  }
  for (const changed of state.changed) {
    problems.push({
      code: "MIGRATION_CHANGED",
      severity: "blocked",
      message: `Applied migration "${changed.id}" changed on disk since it ran. Restore the ` +
        `original file, or accept the change with "lockstep stamp ${changed.id}".`,
      data: { ...changed },
    });
  }
  if (state.pending.length > 0) {
    const byPackage = state.packages.filter((p) => p.pending.length > 0)
      .map((p) => `${p.name}: ${p.pending.length}`);
    problems.push({
      code: "MIGRATIONS_PENDING",
      severity: "migrations",
      message: `${state.pending.length} migration(s) pending (${byPackage.join(", ")}). ` +
        `Run "lockstep migrate".`,
      data: { pending: state.pending },
    });
  }
  return problems;
}
