/**
 * The report's findings, in the style of WordPress's Site Health: each of
 * check's problems becomes a finding (`critical` when it blocks the start,
 * `attention` otherwise) with the exact command that resolves it, and the
 * good news is said too (code and databases in step, a recent backup, room
 * on the disk, nothing interrupted).
 *
 * @module
 */
import type { CheckProblem, CheckReport } from "../check.ts";
import { redact } from "../redact.ts";
import type { Finding, ReportData } from "./types.ts";
import type { FleetStatus } from "../fleet/status.ts";

const WEEK_SECONDS = 7 * 24 * 3600;

/** Every finding, most serious first. */
export function findingsOf(
  checked: CheckReport,
  data: Omit<ReportData, "findings">,
): Finding[] {
  const findings = checked.problems.map(problemFinding);
  if (checked.exitCode === 0) {
    findings.push({
      level: "good",
      code: "OK_IN_STEP",
      label: "Code and databases are in step",
      description:
        `${checked.app} ${checked.codeVersion ?? ""} may start: nothing is pending and ` +
        `nothing blocks it.`,
      command: null,
    });
  }
  if (data.fleet) findings.push(...fleetFindings(data.fleet));
  findings.push(backupFinding(data));
  const { free, needed } = data.safety.disk;
  if (free !== null) {
    findings.push(
      free >= needed
        ? {
          level: "good",
          code: "OK_DISK_SPACE",
          label: "Room for the next update",
          description: `${megabytes(free)} free where staging and backups go; the next update ` +
            `needs about ${megabytes(needed)}.`,
          command: null,
        }
        : {
          level: "attention",
          code: "DISK_SPACE_SHORT",
          label: "Little room for the next update",
          description: `${megabytes(free)} free where staging and backups go; the next update ` +
            `needs about ${megabytes(needed)}. Remove old backups or free space.`,
          command: "lockstep backup prune",
        },
    );
  }
  if (data.safety.interrupted.length === 0) {
    findings.push({
      level: "good",
      code: "OK_NOTHING_INTERRUPTED",
      label: "Nothing was left half done",
      description: "No install, restore, undo or migration was interrupted.",
      command: null,
    });
  }
  const rank = { critical: 0, attention: 1, good: 2 } as const;
  return findings.sort((a, b) => rank[a.level] - rank[b.level]);
}

function problemFinding(problem: CheckProblem): Finding {
  const security = (problem.code === "BUNDLES_PENDING" && problem.data.security === true) ||
    problem.code === "SECURITY_UPDATE_AVAILABLE";
  return {
    level: problem.severity === "blocked" || security ? "critical" : "attention",
    code: problem.code,
    label: LABELS[problem.code] ?? labelOfWarning(problem),
    description: redact(problem.message),
    command: commandFor(problem),
  };
}

const LABELS: Readonly<Record<string, string>> = {
  BUNDLES_PENDING: "Update bundles are waiting",
  MIGRATIONS_PENDING: "Database migrations are pending",
  JOURNAL_OPEN: "An operation was interrupted",
  UNDO_OPEN: "A failed update was not fully put back",
  DATABASE_AHEAD: "A database is ahead of the code",
  MIGRATION_CHANGED: "An applied migration was changed",
  SCHEMA_DRIFT: "A schema was changed outside migrations",
  SCHEMA_UNRECORDED: "A schema has no record to compare with",
  MAINTENANCE_ON: "Maintenance mode is on",
  PREREQUISITE_UNMET: "This host does not meet the release's requirements",
  VERSION_FILE_MISSING: "The version file is missing",
  DATABASE_NOT_ADOPTED: "A database is not adopted yet",
  CONTRACT_WAITING: "Contract migrations wait for hosts on older code",
  NEWER_RELEASE_EXPANDED: "Another host runs a newer release",
  FLEET_MIXED_VERSIONS: "The fleet has run mixed versions for long",
  FLEET_UNREGISTERED: "This host is not in the fleet's registry",
  SECURITY_UPDATE_AVAILABLE: "A security update is available",
  FEED_STALE: "The update feed has not been checked lately",
  CLOCK_SUSPECT: "This host's clock looks wrong",
  PACK_REQUIREMENT_UNMET: "A pack's requirements are not met",
  PACK_INVALID: "A pack cannot be used",
  PACK_NOT_INSTALLED: "A pack waits for the operator's consent",
};

function labelOfWarning(problem: CheckProblem): string {
  if (problem.code.startsWith("BUNDLE_")) return "A pending bundle cannot be used";
  if (problem.code.startsWith("MIGRATION_")) return "The migrations cannot be planned";
  return problem.code.toLowerCase().replaceAll("_", " ");
}

function commandFor(problem: CheckProblem): string | null {
  switch (problem.code) {
    case "BUNDLES_PENDING":
      return "lockstep update";
    case "MIGRATIONS_PENDING":
      return "lockstep migrate";
    case "JOURNAL_OPEN":
    case "UNDO_OPEN":
      return "lockstep recover";
    case "SCHEMA_DRIFT":
    case "SCHEMA_UNRECORDED":
      return "lockstep migrate --accept-drift";
    case "MAINTENANCE_ON":
      return "lockstep maintenance off";
    case "DATABASE_NOT_ADOPTED":
      return "lockstep stamp --all";
    case "NEWER_RELEASE_EXPANDED":
      return "lockstep update";
    case "SECURITY_UPDATE_AVAILABLE":
      return "lockstep feed fetch";
    case "FEED_STALE":
      return "lockstep feed check";
    case "PACK_REQUIREMENT_UNMET":
    case "PACK_INVALID":
      return "lockstep pack list";
    case "CONTRACT_WAITING":
    case "FLEET_MIXED_VERSIONS":
      return "lockstep fleet";
    case "MIGRATION_CHANGED": {
      const changed = problem.data.changed as readonly { id: string }[] | undefined;
      return changed?.[0] ? `lockstep stamp ${changed[0].id}` : null;
    }
    default:
      if (problem.code.startsWith("BUNDLE_") && typeof problem.data.file === "string") {
        return `lockstep bundle inspect ${problem.data.file}`;
      }
      return null;
  }
}

/** The fleet's hosts: each stale one, and the good news when every host runs one version. */
function fleetFindings(fleet: FleetStatus): Finding[] {
  const findings: Finding[] = fleet.hosts.filter((h) => h.stale).map((h) => ({
    level: "attention",
    code: "FLEET_HOST_STALE",
    label: "A host has not been seen for a while",
    description: `Host ${h.host} (${h.codeVersion ?? "unversioned"}, ${h.state}) was last seen ` +
      `${describeAge(h.ageSeconds)} ago, longer than fleet.staleAfterSeconds ` +
      `(${fleet.staleAfterSeconds}): it is not counted as running, so contract migrations do ` +
      `not wait for it. If it is gone for good, remove it from the registry.`,
    command: `lockstep fleet forget ${h.host}`,
  }));
  const counted = fleet.hosts.filter((h) => h.state !== "stopped" && !h.stale);
  if (fleet.mixed === null && fleet.waiting.length === 0 && counted.length > 0) {
    findings.push({
      level: "good",
      code: "OK_FLEET_IN_STEP",
      label: "The fleet runs one version",
      description: `${counted.length} running host(s), all on ` +
        `${counted[0]!.codeVersion ?? "unversioned"} code; no migration waits for a host.`,
      command: null,
    });
  }
  return findings;
}

function backupFinding(data: Omit<ReportData, "findings">): Finding {
  const latest = data.safety.latestBackup;
  if (latest === null) {
    return {
      level: "attention",
      code: "NO_BACKUP",
      label: "There is no valid backup",
      description: "Nothing to go back to if a change goes wrong. Take one now.",
      command: "lockstep backup",
    };
  }
  const age = describeAge(latest.ageSeconds);
  if (latest.ageSeconds > WEEK_SECONDS) {
    return {
      level: "attention",
      code: "BACKUP_OLD",
      label: "The newest backup is old",
      description: `The newest valid backup, ${latest.id}, is ${age} old.`,
      command: "lockstep backup",
    };
  }
  return {
    level: "good",
    code: "OK_BACKUP",
    label: "A recent backup",
    description: `The newest valid backup, ${latest.id}, is ${age} old.`,
    command: null,
  };
}

function describeAge(seconds: number): string {
  if (seconds < 90) return `${seconds} second(s)`;
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} minute(s)`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} hour(s)`;
  return `${Math.round(seconds / 86400)} day(s)`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
