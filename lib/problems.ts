/**
 * The problem catalogue: every state an operator meets is worded here once,
 * with its code, its severity and its typed data. `check` reports a finding
 * as a problem ({@link asProblem}); the command that must not go on throws the
 * same finding as an error ({@link refusal}), so the two never say it
 * differently.
 *
 * A finding is worded as a statement ("the database is ahead of the code:
 * …") and a fix ("install the code that matches it"). A problem reads
 * `Statement. Fix.`; a refusal reads `Cannot <action>: statement. Fix.
 * Nothing was changed.`
 *
 * @module
 */
import { type ErrorCode, type ErrorData, lockstepError, type LockstepErrorOf } from "./errors.ts";
import type { MaintenanceState } from "./maintenance.ts";
import { describeDrift, describeUndetermined, type SchemaState } from "./migrations/schema.ts";
import type { HeldContract } from "./fleet/hold.ts";

/** How much a problem matters: it decides `check`'s exit code (`warning` does not change it). */
export type Severity = "blocked" | "migrations" | "bundles" | "warning";

/** One reason the application may not run as it is, as `check` reports it. */
export interface Problem {
  /** A stable code from `ERROR_CODES`. */
  readonly code: ErrorCode;
  /** `blocked` (exit 5), `migrations` (exit 4), `bundles` (exit 3) or `warning` (no effect). */
  readonly severity: Severity;
  /** What is wrong and what to do, for people. */
  readonly message: string;
  /** The facts behind it. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A state worded once: what is so, what to do about it, and the facts. */
export interface Finding<C extends ErrorCode = ErrorCode> {
  /** Its code. */
  readonly code: C;
  /** How much it matters at start-up. */
  readonly severity: Severity;
  /** What is so, starting in lower case: "the database is ahead of the code: …". */
  readonly statement: string;
  /** What to do, starting in lower case; empty when nothing needs doing. */
  readonly fix: string;
  /** The facts. */
  readonly data: ErrorData<C>;
}

/** The exit code each severity gives `check`. */
export const EXIT_BY_SEVERITY: Readonly<Record<Severity, 0 | 3 | 4 | 5>> = {
  blocked: 5,
  migrations: 4,
  bundles: 3,
  warning: 0,
};

/** A finding as `check` reports it. */
export function asProblem(finding: Finding): Problem {
  const fix = finding.fix === "" ? "" : ` ${sentence(finding.fix)}.`;
  return {
    code: finding.code,
    severity: finding.severity,
    message: `${sentence(finding.statement)}.${fix}`,
    data: finding.data,
  };
}

/** A finding as the error a command throws when it must not go on: nothing was changed. */
export function refusal<C extends ErrorCode>(
  finding: Finding<C>,
  action: string,
): LockstepErrorOf<C> {
  const fix = finding.fix === "" ? "" : ` ${sentence(finding.fix)}.`;
  return lockstepError(
    finding.code,
    `Cannot ${action}: ${finding.statement}.${fix} Nothing was changed.`,
    { data: finding.data },
  );
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function listed(ids: readonly string[], limit = 5): string {
  return `${ids.slice(0, limit).join(", ")}${ids.length > limit ? ", …" : ""}`;
}

/**
 * An interrupted install or restore left its journal. A committed restore's
 * files are all back: what is left is its database phase (it was cut short,
 * or a database's restore failed and rolled back).
 */
export function journalOpen(
  journal: {
    label: string | null;
    created: string | null;
    committed: boolean;
    kind?: "install" | "restore" | "pack-remove" | null;
  },
): Finding<"JOURNAL_OPEN"> {
  const what = `an interrupted ${journal.label ?? "install"}`;
  const restore = journal.committed && journal.kind === "restore";
  return {
    code: "JOURNAL_OPEN",
    severity: "blocked",
    statement: restore
      ? `${what} put every file back, but not every database: a database's restore was cut ` +
        `short or failed (and rolled back), so the databases may not match the files`
      : journal.committed
      ? `${what} had put its files in place but did not finish`
      : `${what} left a journal: the files may be half changed`,
    fix: restore
      ? `run "lockstep recover": it restores the databases again (the files stay as they are)`
      : journal.committed
      ? `run "lockstep recover" to finish it`
      : `run "lockstep recover"`,
    data: { label: journal.label, created: journal.created },
  };
}

/** TypeScript migrations were interrupted while they changed files. */
export function migrationFilesOpen(ids: readonly string[]): Finding<"JOURNAL_OPEN"> {
  return {
    code: "JOURNAL_OPEN",
    severity: "blocked",
    statement: `migration(s) ${listed(ids.map((id) => `"${id}"`))} were interrupted while they ` +
      `changed files: the files may not match the database`,
    fix: `run "lockstep recover" (or "lockstep migrate") to put them back`,
    data: { label: `the file changes of ${ids.join(", ")}`, created: null },
  };
}

/** The version file is gone while state.json records an installed version. */
export function versionFileMissing(
  path: string,
  installed: string,
): Finding<"VERSION_FILE_MISSING"> {
  return {
    code: "VERSION_FILE_MISSING",
    severity: "blocked",
    statement: `the version file ${path} is missing, but ${installed} was installed: the code on ` +
      `disk cannot be told apart from an unknown release`,
    fix: `restore the app root (or the file) from a backup, or reinstall ${installed}`,
    data: { path, installed },
  };
}

/** An update failed and the undo of what it changed was interrupted. */
export function undoOpen(): Finding<"UNDO_OPEN"> {
  return {
    code: "UNDO_OPEN",
    severity: "blocked",
    statement: "a failed update was putting back what it changed when it was interrupted: " +
      "the code or the databases may be half put back",
    fix: `run "lockstep recover" to finish putting them back`,
    data: {},
  };
}

/** The ledgers hold migrations the code does not know: downgrades are not supported. */
export function databaseAhead(
  rows: readonly { id: string; database?: string | undefined }[],
): Finding<"DATABASE_AHEAD"> {
  const ids = rows.map((row) => row.id);
  const databases = [...new Set(rows.flatMap((row) => row.database ?? []))];
  return {
    code: "DATABASE_AHEAD",
    severity: "blocked",
    statement: `the database is ahead of the code: it has ${ids.length} migration(s) this code ` +
      `does not know (${listed(ids)})`,
    fix: "install the code that matches it; downgrades are not supported",
    data: { ids, databases },
  };
}

/** Applied migrations whose files changed since they ran. */
export function migrationChanged(
  changed: readonly { id: string; recorded: string; current: string }[],
): Finding<"MIGRATION_CHANGED"> {
  const ids = changed.map((c) => c.id);
  const one = ids.length === 1;
  return {
    code: "MIGRATION_CHANGED",
    severity: "blocked",
    statement: one
      ? `applied migration "${ids[0]}" changed on disk since it ran`
      : `applied migrations changed on disk since they ran: ${ids.join(", ")}`,
    fix: `restore the original file, or accept the change with "lockstep stamp ${
      one ? ids[0] : "ID"
    }"`,
    data: { changed: changed.map((c) => ({ ...c })) },
  };
}

/** Tables changed outside migrations. */
export function schemaDrift(drifted: readonly SchemaState[]): Finding<"SCHEMA_DRIFT"> {
  const one = drifted.length === 1;
  return {
    code: "SCHEMA_DRIFT",
    severity: "blocked",
    statement: one
      ? `the schema of database "${drifted[0]!.database}" was changed outside migrations: ${
        describeDrift(drifted[0]!.changes)
      }`
      : `the schema was changed outside migrations (${
        drifted.map((s) => `database "${s.database}": ${describeDrift(s.changes)}`).join("; ")
      })`,
    fix: `undo the change, or record the live schema as the new baseline with ` +
      `"lockstep migrate --accept-drift"`,
    data: {
      databases: drifted.map((s) => s.database),
      changes: drifted.flatMap((s) => s.changes.map((c) => ({ database: s.database, ...c }))),
    },
  };
}

/** A database whose schema has no current record, so drift cannot be detected. */
export function schemaUnrecorded(
  database: string,
  record: "stale" | "unrecorded",
): Finding<"SCHEMA_UNRECORDED"> {
  return {
    code: "SCHEMA_UNRECORDED",
    severity: "warning",
    statement: `database "${database}" has no current record of its schema (${
      record === "stale"
        ? "a migration run ended before recording it"
        : "migrated before lockstep recorded schemas"
    }), so drift cannot be detected`,
    fix: `once you have checked the schema, record it with "lockstep migrate --accept-drift"`,
    data: { database, record },
  };
}

/**
 * The drift of a database could not be read: an application session held a
 * lock that the catalog read needed, past the read's short lock timeout.
 */
export function schemaUndetermined(
  database: string,
  reason: string,
): Finding<"SCHEMA_UNDETERMINED"> {
  return {
    code: "SCHEMA_UNDETERMINED",
    severity: "warning",
    statement: describeUndetermined(database, reason),
    fix: "end that session's transaction (or wait for it), then check again",
    data: { database, reason },
  };
}

/** This runtime does not meet the installed version's `requires`. */
export function prerequisiteUnmet(
  codeVersion: string | null,
  prerequisites: ErrorData<"PREREQUISITE_UNMET">,
): Finding<"PREREQUISITE_UNMET"> {
  return {
    code: "PREREQUISITE_UNMET",
    severity: "blocked",
    statement: `the installed version ${codeVersion ?? "?"} requires ${
      prerequisites.unmet.join(", ")
    }`,
    fix: "run it with a runtime that meets this, or install a release that supports this one",
    data: { ...prerequisites },
  };
}

/** Maintenance mode is on. */
export function maintenanceOn(state: MaintenanceState): Finding<"MAINTENANCE_ON"> {
  return {
    code: "MAINTENANCE_ON",
    severity: "warning",
    statement: `maintenance mode is on (since ${state.since ?? "?"}, by ${state.by ?? "?"}): ${
      (state.message ?? "").replace(/\.$/, "")
    }`,
    fix: `turn it off with "lockstep maintenance off"`,
    data: { ...state },
  };
}

/** Update bundles are waiting in `pending/`. */
export function bundlesPending(
  applicable: readonly {
    file: string;
    version: string | null;
    pack?: string | null;
    security: boolean;
  }[],
): Finding<"BUNDLES_PENDING"> {
  const security = applicable.some((b) => b.security);
  return {
    code: "BUNDLES_PENDING",
    severity: "bundles",
    statement: `${applicable.length} update bundle(s) pending: ${
      applicable.map((b) => b.pack ? `pack ${b.pack} ${b.version}` : b.version).join(", ")
    }${security ? " (includes a security release)" : ""}`,
    fix: `run "lockstep install" or "lockstep update"`,
    data: { bundles: applicable.map((b) => b.file), security },
  };
}

/** What adopting a database takes; said by `check` and by a `migrate` that met an existing object. */
const ADOPT = `if its schema already is what the migrations make, adopt it with "lockstep stamp ` +
  `--all" (or "lockstep stamp ID" up to the migration it matches) instead of migrating; a ` +
  `package's baseline.sql gives new, empty databases that schema in one step (see the README, ` +
  `"Adopting a database")`;

/** A database with tables but no migration applied: it was made before lockstep managed it. */
export function databaseNotAdopted(
  database: string,
  tables: readonly string[],
): Finding<"DATABASE_NOT_ADOPTED"> {
  return {
    code: "DATABASE_NOT_ADOPTED",
    severity: "migrations",
    statement: `database "${database}" has ${tables.length} table(s) (${
      listed(tables)
    }) but no migration applied, so "lockstep migrate" may fail on objects that already exist`,
    fix: ADOPT,
    data: { database, tables: [...tables] },
  };
}

/**
 * The advice a failed migration gets when the database said an object
 * already exists ("relation … already exists", "table … already exists"):
 * `""` for any other failure.
 */
export function alreadyExistsAdvice(reason: string): string {
  if (!/already exists/i.test(reason)) return "";
  return `The database already has what this migration creates: ${ADOPT}.`;
}

/** Migrations are pending. */
export function migrationsPending(
  pending: readonly string[],
  byPackage: readonly { name: string; pending: readonly string[] }[],
): Finding<"MIGRATIONS_PENDING"> {
  const counts = byPackage.filter((p) => p.pending.length > 0)
    .map((p) => `${p.name}: ${p.pending.length}`);
  return {
    code: "MIGRATIONS_PENDING",
    severity: "migrations",
    statement: `${pending.length} migration(s) pending (${counts.join(", ")})`,
    fix: `run "lockstep migrate"`,
    data: { pending: [...pending] },
  };
}

/** An error turned into a problem of `severity` (a broken migration graph, a bundle that does not apply). */
export function errorProblem(
  error: { code: ErrorCode; message: string; data: Readonly<Record<string, unknown>> },
  severity: Severity,
  data: Readonly<Record<string, unknown>> = error.data,
): Problem {
  return { code: error.code, severity, message: error.message, data };
}

/** In a fleet: contract migrations wait for running hosts whose older code they would break. */
export function contractWaiting(contracts: readonly HeldContract[]): Finding<"CONTRACT_WAITING"> {
  const hosts = [...new Set(contracts.flatMap((c) => c.waitingFor.map(describeHost)))];
  const ids = contracts.map((c) => c.id);
  const release = contracts[0]?.release ?? "this release";
  return {
    code: "CONTRACT_WAITING",
    severity: "warning",
    statement: `${ids.length} contract migration(s) of ${release} (${listed(ids)}) wait for ` +
      `host(s) still running older code: ${listed(hosts)}; this code runs on the expanded schema`,
    fix: `update those hosts; the next "lockstep migrate", "update" or "start --install" on any ` +
      `host then applies them, once`,
    data: { contracts: contracts.map((c) => ({ ...c })) },
  };
}

/**
 * In a fleet: the shared database has a newer release's expand migrations,
 * which this (older) code survives.
 */
export function newerReleaseExpanded(
  rows: readonly { id: string; database?: string | undefined; codeVersion?: string | null }[],
  codeVersion: string | null,
): Finding<"NEWER_RELEASE_EXPANDED"> {
  const ids = rows.map((row) => row.id);
  const releases = [...new Set(rows.flatMap((row) => row.codeVersion ?? []))].sort();
  const newest = releases.at(-1) ?? "a newer release";
  return {
    code: "NEWER_RELEASE_EXPANDED",
    severity: "warning",
    statement: `another host migrated the shared database for ${newest}: it has ` +
      `${ids.length} expand migration(s) this code (${codeVersion ?? "unversioned"}) does not ` +
      `know (${listed(ids)}), which it keeps working with`,
    fix: `install ${newest} on this host ("lockstep update", or "lockstep start --install")`,
    data: { ids, releases, databases: [...new Set(rows.flatMap((row) => row.database ?? []))] },
  };
}

/** In a fleet: the running hosts have run different code versions for longer than allowed. */
export function fleetMixed(
  versions: readonly string[],
  sinceSeconds: number,
  limitSeconds: number,
): Finding<"FLEET_MIXED_VERSIONS"> {
  return {
    code: "FLEET_MIXED_VERSIONS",
    severity: "warning",
    statement: `the fleet's hosts have run different code versions (${versions.join(", ")}) ` +
      `for ${Math.round(sinceSeconds / 60)} minute(s), longer than fleet.mixedAfterSeconds ` +
      `(${limitSeconds})`,
    fix: `update the hosts on older versions, or stop them ("lockstep status" lists them)`,
    data: { versions: [...versions], sinceSeconds, limitSeconds },
  };
}

/** In a fleet: this host is not in the registry, so contract migrations do not wait for it. */
export function fleetUnregistered(reasons: readonly string[]): Finding<"FLEET_UNREGISTERED"> {
  return {
    code: "FLEET_UNREGISTERED",
    severity: "warning",
    statement: `this host is not in the fleet's registry (${reasons.join("; ")}), so contract ` +
      `migrations other hosts run do not wait for it`,
    fix: `set "fleet.host" in lockstep.json (or let lockstep write updates/state.json once), ` +
      `and let it write the shared database`,
    data: { reasons: [...reasons] },
  };
}

function describeHost(host: { host: string; codeVersion: string | null; state: string }): string {
  const state = host.state === "running" ? "" : `, ${host.state}`;
  return `${host.host} (${host.codeVersion ?? "unversioned"}${state})`;
}
