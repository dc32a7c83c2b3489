/**
 * The aggregated, read-only report behind `check` and the startup gate. It
 * takes no lock and writes nothing: it runs at every application start.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { LockstepError } from "./errors.ts";
import { readCodeVersion } from "./host.ts";
import { type MigrationStatus, statusWith } from "./migrations/status.ts";
import { Connections } from "./migrations/connections.ts";
import { describeDrift, type SchemaState, schemaStates } from "./migrations/schema.ts";
import { unmetRequirements } from "./bundles/manifest.ts";
import { VERSION } from "./version.ts";
import { chain, readPending } from "./bundles/pending.ts";
import { readJournal } from "./journal.ts";
import { readState, type State } from "./state.ts";
import { type MaintenanceState, maintenanceStatus } from "./maintenance.ts";
import { newestBackup } from "./backup/list.ts";

/** How much a problem matters: it decides `check`'s exit code (`warning` does not change it). */
export type Severity = "blocked" | "migrations" | "bundles" | "warning";

/** One reason the application may not run as it is. */
export interface CheckProblem {
  /** A stable code: an error code, or `MIGRATIONS_PENDING`. */
  readonly code: string;
  /** `blocked` (exit 5), `migrations` (exit 4), `bundles` (exit 3) or `warning` (no effect). */
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
  /** The bundles in `pending/`, each with whether it applies and why not. */
  readonly bundles: readonly BundleStatus[];
  /**
   * Each database with a ledger: whether its schema record is current, and
   * every change made outside migrations (schema drift).
   */
  readonly schema: readonly SchemaState[];
  /** This host's versions against the `requires` of the installed version. */
  readonly prerequisites: Prerequisites;
  /** Maintenance mode, and why it is on. */
  readonly maintenance: MaintenanceState;
  /** The newest valid backup and its age, or `null` when there is none. */
  readonly latestBackup: {
    readonly id: string;
    readonly created: string;
    readonly ageSeconds: number;
  } | null;
  /** Every problem found, most severe first. */
  readonly problems: readonly CheckProblem[];
}

/** The runtime the installed version needs, and what this host has. */
export interface Prerequisites {
  /** This Deno's version. */
  readonly deno: string;
  /** This lockstep's version. */
  readonly lockstep: string;
  /** `requires` of the bundle installed last (empty when none was installed by lockstep). */
  readonly requires: Readonly<Record<string, string>>;
  /** Each requirement not met, as `deno >=3 (have 2.9.6)`. */
  readonly unmet: readonly string[];
}

/** A pending bundle as `check` reports it. */
export interface BundleStatus {
  /** The file name in `pending/`. */
  readonly file: string;
  /** Its version, when the manifest could be read. */
  readonly version: string | null;
  /** A security release. */
  readonly security: boolean;
  /** Its release notes. */
  readonly notes: string;
  /** True when `install` would install it now (in version order). */
  readonly applies: boolean;
  /** Why it does not apply or cannot be used, with a stable code. */
  readonly problem: { readonly code: string; readonly message: string } | null;
}

const EXIT_BY_SEVERITY: Record<Severity, 0 | 3 | 4 | 5> = {
  blocked: 5,
  migrations: 4,
  bundles: 3,
  warning: 0,
};

function prerequisitesOf({ requires }: State): Prerequisites {
  const versions = { deno: Deno.version.deno, lockstep: VERSION };
  return { ...versions, requires, unmet: unmetRequirements({ requires }, versions) };
}

function schemaProblems(
  states: readonly SchemaState[],
  migrations: MigrationStatus | null,
): CheckProblem[] {
  const problems: CheckProblem[] = [];
  for (const state of states) {
    if (state.changes.length > 0) {
      problems.push({
        code: "SCHEMA_DRIFT",
        severity: "blocked",
        message:
          `The schema of database "${state.database}" was changed outside migrations: ${
            describeDrift(state.changes)
          }. Undo the change, or record the live schema as the new baseline with ` +
          `"lockstep migrate --accept-drift".`,
        data: { database: state.database, changes: state.changes },
      });
      continue;
    }
    // A missing or stale record with migrations pending is recorded by the next migrate;
    // a database ahead of the code is reported as that.
    const packages = migrations?.packages.filter((p) => p.database === state.database) ?? [];
    if (state.record === "current" || packages.some((p) => p.pending.length > 0)) continue;
    if (migrations?.ahead.some((row) => row.database === state.database)) continue;
    if (!packages.some((p) => p.applied.length > 0)) continue;
    problems.push({
      code: "SCHEMA_UNRECORDED",
      severity: "warning",
      message:
        `Database "${state.database}" has no current record of its schema (${
          state.record === "stale"
            ? "a migration run ended before recording it"
            : "migrated before lockstep recorded schemas"
        }), so drift cannot be detected. Once you have checked the schema, record it with ` +
        `"lockstep migrate --accept-drift".`,
      data: { database: state.database, record: state.record },
    });
  }
  return problems;
}

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
 * Reports whether the application may run: bundles pending, an interrupted
 * install, migrations pending, the database ahead of the code, changed
 * applied migrations, a broken migration graph, schema drift, unmet
 * prerequisites; and maintenance mode and the newest backup's age.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`.
 */
export async function check(config: Config): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const codeVersion = await readCodeVersion(config);
  const journal = await readJournal(config);
  if (journal !== null) {
    problems.push({
      code: "JOURNAL_OPEN",
      severity: "blocked",
      message:
        `An interrupted ${journal.label} left the files half changed. Run "lockstep recover".`,
      data: { label: journal.label, created: journal.created },
    });
  }
  const state = await readState(config);
  const bundles = await bundleStatus(config, codeVersion, state);
  problems.push(...bundleProblems(bundles));
  await using connections = new Connections(config, { readOnly: true });
  let migrations: MigrationStatus | null = null;
  try {
    migrations = await statusWith(config, connections);
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
  const schema = await schemaStates(connections);
  problems.push(...schemaProblems(schema, migrations));
  const prerequisites = prerequisitesOf(state);
  if (prerequisites.unmet.length > 0) {
    problems.push({
      code: "PREREQUISITE_UNMET",
      severity: "blocked",
      message: `The installed version ${codeVersion ?? "?"} requires ${
        prerequisites.unmet.join(", ")
      }. Run it with a runtime that meets this, or install a release that supports this one.`,
      data: { ...prerequisites },
    });
  }
  const maintenance = await maintenanceStatus(config);
  if (maintenance.on) {
    problems.push({
      code: "MAINTENANCE_ON",
      severity: "warning",
      message: `Maintenance mode is on (since ${maintenance.since ?? "?"}, by ${
        maintenance.by ?? "?"
      }): ${maintenance.message ?? ""} Turn it off with "lockstep maintenance off".`,
      data: { ...maintenance },
    });
  }
  const newest = await newestBackup(config);
  const latestBackup = newest?.created
    ? {
      id: newest.id,
      created: newest.created!,
      ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(newest.created!)) / 1000)),
    }
    : null;
  problems.sort((a, b) => EXIT_BY_SEVERITY[b.severity] - EXIT_BY_SEVERITY[a.severity]);
  const exitCode = problems.length === 0 ? 0 : EXIT_BY_SEVERITY[problems[0]!.severity];
  return {
    ok: exitCode === 0,
    exitCode,
    app: config.app,
    codeVersion,
    migrations,
    bundles,
    schema,
    prerequisites,
    maintenance,
    latestBackup,
    problems,
  };
}

async function bundleStatus(
  config: Config,
  codeVersion: string | null,
  { highWater }: State,
): Promise<BundleStatus[]> {
  const pending = await readPending(config);
  if (pending.length === 0) return [];
  const judged = new Map(
    chain(pending, codeVersion, highWater).map((step) => [step.bundle.file, step.refusal]),
  );
  return pending.map((bundle) => {
    const refusal = judged.get(bundle.file);
    const problem = bundle.problem ??
      (refusal
        ? {
          code: refusal.code,
          message: `Bundle "${bundle.file}" does not apply: ${refusal.reason}.`,
        }
        : null);
    return {
      file: bundle.file,
      version: bundle.manifest?.version ?? null,
      security: bundle.manifest?.security ?? false,
      notes: bundle.manifest?.notes ?? "",
      applies: problem === null,
      problem,
    };
  });
}

function bundleProblems(bundles: readonly BundleStatus[]): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const applicable = bundles.filter((b) => b.applies);
  if (applicable.length > 0) {
    const security = applicable.some((b) => b.security);
    problems.push({
      code: "BUNDLES_PENDING",
      severity: "bundles",
      message: `${applicable.length} update bundle(s) pending: ${
        applicable.map((b) => b.version).join(", ")
      }` +
        `${
          security ? " (includes a security release)" : ""
        }. Run "lockstep install" or "lockstep update".`,
      data: {
        bundles: applicable.map((b) =>
          b.file
        ),
        security,
      },
    });
  }
  for (const bundle of bundles) {
    if (bundle.problem === null) continue;
    problems.push({
      code: bundle.problem.code,
      severity: "warning",
      message: bundle.problem.message,
      data: { file: bundle.file },
    });
  }
  return problems;
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
