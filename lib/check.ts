/**
 * The aggregated, read-only report behind `check` and the startup gate. It
 * takes no lock and changes nothing: it runs at every application start,
 * and keeps hints (`check_cache.ts`) so that it need not read again what
 * did not change.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type ErrorCode, isLockstepError } from "./errors.ts";
import { readCodeVersion } from "./host.ts";
import { type MigrationStatus, statusWith } from "./migrations/status.ts";
import { Connections } from "./migrations/connections.ts";
import { unadopted } from "./migrations/adopt.ts";
import { type SchemaState, schemaStates } from "./migrations/schema.ts";
import { unmetRequirements } from "./bundles/manifest.ts";
import { VERSION } from "./version.ts";
import { waitForDatabases } from "./wait.ts";
import { readPending } from "./bundles/pending.ts";
import { releaseChain } from "./packs/chain.ts";
import { applyPacks, type LoadedPack, loadPacks } from "./packs/registry.ts";
import { packInvalid, packRequirementUnmet } from "./packs/problems.ts";
import { type PackStatus, packStatuses } from "./packs/status.ts";
import { describeJournal, readJournal } from "./journal.ts";
import { readState, type State } from "./state.ts";
import { type MaintenanceState, maintenanceStatus } from "./maintenance.ts";
import { newestBackup } from "./backup/list.ts";
import {
  asProblem,
  bundlesPending,
  contractWaiting,
  databaseAhead,
  databaseNotAdopted,
  errorProblem,
  EXIT_BY_SEVERITY,
  fleetMixed,
  journalOpen,
  maintenanceOn,
  migrationChanged,
  migrationFilesOpen,
  migrationsPending,
  newerReleaseExpanded,
  prerequisiteUnmet,
  type Problem,
  schemaDrift,
  schemaUndetermined,
  schemaUnrecorded,
  undoOpen,
  versionFileMissing,
} from "./problems.ts";
import { readUndoPlan } from "./undo.ts";
import { openMigrationFiles } from "./migrations/file_journal.ts";
import { mixedVersions } from "./fleet/registry.ts";
import { type FeedSummary, feedSummary } from "./feed/status.ts";
import { CheckCache } from "./check_cache.ts";

export type { Severity } from "./problems.ts";

/** One reason the application may not run as it is (see the problem catalogue). */
export type CheckProblem = Problem;

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
  /** The bundles in `pending/` (app and pack bundles), each with whether it applies and why not. */
  readonly bundles: readonly BundleStatus[];
  /** Every pack lockstep installed (removed ones too), with its version, requirements and migrations. */
  readonly packs: readonly PackStatus[];
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
  /**
   * The update feed as `feed check` saved it last (never the network): its
   * seq, expiry, staleness and the updates it offers; `null` without a
   * `feed` section. Its findings are warnings only.
   */
  readonly feed: FeedSummary | null;
  /** Every problem found, most severe first. */
  readonly problems: readonly CheckProblem[];
}

/** Options for {@link check}. */
export interface CheckOptions {
  /**
   * First wait up to this long, in ms, for every database to accept
   * connections (a server starting with the host), then check. Default 0:
   * check at once.
   */
  waitMs?: number;
  /**
   * Keep the hints read and found (`updates/.lockstep/check-cache.json`,
   * when the updates folder may be written). Default true; false for a
   * caller that must write nothing (a dry run, a plan shown before consent,
   * the report): the hints are still used.
   */
  keepHints?: boolean;
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
  /** The pack it updates, for a pack bundle; `null` for the app's own bundles. */
  readonly pack: string | null;
  /** A security release. */
  readonly security: boolean;
  /** Its release notes. */
  readonly notes: string;
  /** True when `install` would install it now (in version order). */
  readonly applies: boolean;
  /** Why it does not apply or cannot be used, with a stable code. */
  readonly problem: { readonly code: ErrorCode; readonly message: string } | null;
}

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
      problems.push(asProblem(schemaDrift([state])));
      continue;
    }
    if (state.record === "undetermined") {
      problems.push(asProblem(schemaUndetermined(state.database, state.reason ?? "")));
      continue;
    }
    // A missing or stale record with migrations pending is recorded by the next migrate;
    // a database ahead of the code is reported as that.
    const packages = migrations?.packages.filter((p) => p.database === state.database) ?? [];
    if (state.record === "current" || packages.some((p) => p.pending.length > 0)) continue;
    if (migrations?.ahead.some((row) => row.database === state.database)) continue;
    if (!packages.some((p) => p.applied.length > 0)) continue;
    problems.push(asProblem(schemaUnrecorded(state.database, state.record)));
  }
  return problems;
}

/** Errors of the migration files or graph: the code cannot run on any database. */
const GRAPH_CODES: ReadonlySet<ErrorCode> = new Set([
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
 * install, migrations pending (and a database to adopt: tables but nothing
 * applied), the database ahead of the code, changed
 * applied migrations, a broken migration graph, schema drift, unmet
 * prerequisites; and maintenance mode and the newest backup's age. Packs
 * count as the app does: their pending bundles (exit 3), the pending
 * migrations of the enabled ones (exit 4), and an installed pack that cannot
 * be used or whose requirements the installed parts do not meet (exit 5).
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`; `--allow-write` on the updates folder
 * lets it keep its hints (`updates/.lockstep/check-cache.json`: files, bundles and schemas it need
 * not read again), the only thing it ever writes. It takes no lock.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` (also when `waitMs` ran out), `PERMISSION_DENIED`,
 * `CONFIG_INVALID` (a `passwordEnv` that is not set), `FILE_INVALID` (a `state.json` that is not
 * lockstep's). Operating-system errors are thrown as Deno raised them.
 * @example
 * ```ts ignore
 * const report = await check(config);
 * if (!report.ok) console.error(report.problems.map((p) => p.message).join("\n"));
 * Deno.exit(report.exitCode);
 * ```
 */
export async function check(base: Config, options: CheckOptions = {}): Promise<CheckReport> {
  const { waitMs = 0, keepHints = true } = options;
  // The enabled packs' migrations join the graph; a pack that cannot be used is reported.
  const loaded = await loadPacks(base, await readState(base));
  const config = applyPacks(base, loaded);
  if (waitMs > 0) await waitForDatabases(config, waitMs);
  const problems: CheckProblem[] = [];
  const codeVersion = await readCodeVersion(config);
  const journal = await readJournal(config);
  if (journal !== null) problems.push(asProblem(journalOpen(describeJournal(journal))));
  if (await readUndoPlan(config) !== null) problems.push(asProblem(undoOpen()));
  const interrupted = await openMigrationFiles(config);
  if (interrupted.length > 0) problems.push(asProblem(migrationFilesOpen(interrupted)));
  const state = await readState(config);
  if (codeVersion === null && state.installed !== null) {
    problems.push(asProblem(versionFileMissing(config.versionFile, state.installed)));
  }
  // What earlier runs read from files and databases that have not changed since.
  const hints = CheckCache.read(config);
  const bundles = await bundleStatus(config, codeVersion, state, hints);
  problems.push(...bundleProblems(bundles));
  await using connections = new Connections(config, { readOnly: true });
  let migrations: MigrationStatus | null = null;
  try {
    // Nothing installed yet (no version file, no install recorded): the first bundles bring
    // the migrations folders.
    const firstInstall = codeVersion === null && state.installed === null;
    migrations = await statusWith(config, connections, { firstInstall, hints });
  } catch (error) {
    if (!isLockstepError(error) || !GRAPH_CODES.has(error.code)) throw error;
    problems.push(errorProblem(error, "blocked"));
  }
  if (migrations) {
    problems.push(...migrationProblems(config, migrations, codeVersion));
    for (const { database, tables } of await unadopted(connections, migrations)) {
      problems.push(asProblem(databaseNotAdopted(database, tables)));
    }
  }
  const schema = await schemaStates(connections, { undetermined: "report", hints });
  problems.push(...schemaProblems(schema, migrations));
  const packs = packStatuses(loaded, codeVersion, migrations);
  problems.push(...packProblems(loaded, packs));
  const prerequisites = prerequisitesOf(state);
  if (prerequisites.unmet.length > 0) {
    problems.push(asProblem(prerequisiteUnmet(codeVersion, prerequisites)));
  }
  const maintenance = await maintenanceStatus(config);
  if (maintenance.on) problems.push(asProblem(maintenanceOn(maintenance)));
  const feed = await feedSummary(config);
  problems.push(...feed.problems);
  const newest = await newestBackup(config);
  const latestBackup = newest?.created
    ? {
      id: newest.id,
      created: newest.created!,
      ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(newest.created!)) / 1000)),
    }
    : null;
  if (keepHints) await hints.save(config);
  problems.sort((a, b) => EXIT_BY_SEVERITY[b.severity] - EXIT_BY_SEVERITY[a.severity]);
  const exitCode = problems.length === 0 ? 0 : EXIT_BY_SEVERITY[problems[0]!.severity];
  return {
    ok: exitCode === 0,
    exitCode,
    app: config.app,
    codeVersion,
    migrations,
    bundles,
    packs,
    schema,
    prerequisites,
    maintenance,
    latestBackup,
    feed: feed.summary,
    problems,
  };
}

async function bundleStatus(
  config: Config,
  codeVersion: string | null,
  state: State,
  hints: CheckCache,
): Promise<BundleStatus[]> {
  const pending = await readPending(config, hints);
  if (pending.length === 0) return [];
  const judged = new Map(
    releaseChain(pending, { codeVersion, state }).map((step) => [step.bundle.file, step.refusal]),
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
      pack: bundle.manifest?.pack ?? null,
      security: bundle.manifest?.security ?? false,
      notes: bundle.manifest?.notes ?? "",
      applies: problem === null,
      problem,
    };
  });
}

/** Installed, enabled packs that cannot be used, or whose requirements are not met. */
function packProblems(loaded: readonly LoadedPack[], packs: readonly PackStatus[]): CheckProblem[] {
  const problems: CheckProblem[] = [];
  for (const pack of loaded) {
    if (pack.problem === null || !pack.state.enabled) continue;
    problems.push(asProblem(packInvalid(pack.problem.message, pack.problem.data)));
  }
  for (const pack of packs) {
    if (pack.unmet.length === 0) continue;
    problems.push(asProblem(packRequirementUnmet(pack.name, pack.version!, pack.unmet)));
  }
  return problems;
}

function bundleProblems(bundles: readonly BundleStatus[]): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const applicable = bundles.filter((b) => b.applies);
  if (applicable.length > 0) problems.push(asProblem(bundlesPending(applicable)));
  for (const bundle of bundles) {
    if (bundle.problem === null) continue;
    problems.push(errorProblem({ ...bundle.problem, data: {} }, "warning", { file: bundle.file }));
  }
  return problems;
}

function migrationProblems(
  config: Config,
  state: MigrationStatus,
  codeVersion: string | null,
): CheckProblem[] {
  const problems: CheckProblem[] = [];
  if (state.ahead.length > 0) problems.push(asProblem(databaseAhead(state.ahead)));
  if (state.newer.length > 0) {
    problems.push(asProblem(newerReleaseExpanded(state.newer, codeVersion)));
  }
  if (state.contracts.length > 0) problems.push(asProblem(contractWaiting(state.contracts)));
  const mixed = state.fleet && mixedVersions(state.fleet.hosts);
  if (mixed && config.fleet && mixed.sinceSeconds > config.fleet.mixedAfterSeconds) {
    problems.push(
      asProblem(fleetMixed(mixed.versions, mixed.sinceSeconds, config.fleet.mixedAfterSeconds)),
    );
  }
  for (const changed of state.changed) problems.push(asProblem(migrationChanged([changed])));
  if (state.pending.length > 0) {
    problems.push(asProblem(migrationsPending(state.pending, state.packages)));
  }
  return problems;
}
