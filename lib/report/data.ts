/**
 * The operator report as data: one read-only, lock-free, offline pass that
 * gathers what an administrator needs to decide: the verdict (check's, in
 * words), what is installed, what is waiting, each database's state, the
 * safety net (backups, disk, interrupted work, recent events), and findings
 * in the style of WordPress's Site Health, each with the command that
 * resolves it. `schema/report.schema.json` describes it.
 *
 * Packs are in `installed.packs` (with their requirements, unmet ones and
 * history), the saved update feed in `waiting.feed` (read offline: its
 * offers with security flags, notes and database changes, and whether it is
 * stale), and in a fleet the hosts in `fleet`.
 *
 * @module
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config.ts";
import { check, type CheckProblem, type CheckReport } from "../check.ts";
import { listBackups } from "../backup/list.ts";
import { readPending } from "../bundles/pending.ts";
import { log } from "../log.ts";
import { redact } from "../redact.ts";
import { readState } from "../state.ts";
import { VERSION } from "../version.ts";
import { findingsOf } from "./findings.ts";
import type { DatabaseReport, FeedReport, ReportData, WaitingBundle } from "./types.ts";
import { feedStatus, type FeedStatusReport } from "../feed/status.ts";
import { fleetOf } from "../fleet/status.ts";

/** Options for {@link report}. */
export interface ReportOptions {
  /** How many recent events to include (default 20). */
  events?: number;
}

const STATES = {
  0: "may run",
  3: "updates pending",
  4: "migrations pending",
  5: "blocked",
} as const;

/**
 * Gathers the report: check's read-only pass, the pending bundles' manifests,
 * the backups, the history, and the findings with their commands. Takes no
 * lock and writes nothing; uses no network.
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. `--allow-sys=statfs` (optional) adds
 * the free disk space.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`, `FILE_INVALID` (state.json).
 * @example
 * ```ts ignore
 * const data = await report(config);
 * console.log(data.verdict.summary, data.findings.filter((f) => f.level !== "good"));
 * ```
 */
export async function report(config: Config, options: ReportOptions = {}): Promise<ReportData> {
  const { events = 20 } = options;
  // The report writes nothing (but its page), not even check's hints.
  const checked = await check(config, { keepHints: false });
  const [state, pending, backups, history] = await Promise.all([
    readState(config),
    readPending(config),
    listBackups(config),
    log(config, { limit: events }),
  ]);
  const bundles = checked.bundles.map((status): WaitingBundle => {
    const found = pending.find((b) => b.file === status.file);
    const manifest = found?.manifest;
    return {
      ...status,
      database: manifest?.database ?? [],
      released: manifest?.released ?? null,
      size: found ? sizeOf(found.path) : 0,
      signedBy: found?.signedBy ?? null,
    };
  });
  const needed = bundles.filter((b) => b.applies).reduce((sum, b) => sum + b.size, 0) * 2 +
    (backups.find((b) => b.valid)?.size ?? 0);
  const data: Omit<ReportData, "findings"> = {
    format: 1,
    app: config.app,
    generated: new Date().toISOString(),
    lockstep: VERSION,
    verdict: {
      exitCode: checked.exitCode,
      state: STATES[checked.exitCode],
      summary: summaryOf(checked),
      maintenance: checked.maintenance,
    },
    installed: {
      version: checked.codeVersion,
      highWater: state.highWater,
      history: [...state.history].reverse(),
      prerequisites: checked.prerequisites,
      packs: checked.packs.map((pack) => ({
        name: pack.name,
        version: pack.version,
        source: pack.source,
        enabled: pack.enabled,
        requires: pack.requires,
        unmet: pack.unmet,
        dependents: pack.dependents,
        pending: pack.pending,
        history: [...(state.packs[pack.name]?.history ?? [])].reverse(),
      })),
    },
    waiting: { bundles, feed: config.feed ? feedOf(await feedStatus(config)) : null },
    databases: databasesOf(checked),
    fleet: fleetOf(config, checked.migrations),
    safety: {
      latestBackup: checked.latestBackup,
      backups: {
        count: backups.length,
        valid: backups.filter((b) => b.valid).length,
        bytes: backups.reduce((sum, b) => sum + b.size, 0),
      },
      disk: { free: freeSpace(config.updates), needed, folder: config.updates },
      interrupted: checked.problems.filter(isInterruption).map((p) => redact(p.message)),
      events: history,
    },
  };
  return { ...data, findings: findingsOf(checked, data) };
}

function summaryOf(checked: CheckReport): string {
  const version = checked.codeVersion ?? "(no version installed)";
  switch (checked.exitCode) {
    case 0:
      return `${checked.app} ${version} may run: its code and databases are in step.`;
    case 3:
      return `${checked.app} ${version}: update bundles are waiting; it does not start until they ` +
        `are installed (or it is started with --ignore).`;
    case 4:
      return `${checked.app} ${version}: database migrations are pending; it does not start until ` +
        `they are applied (or it is started with --ignore).`;
    default:
      return `${checked.app} ${version} is blocked: it must not run until what is below is resolved.`;
  }
}

function databasesOf(checked: CheckReport): DatabaseReport[] {
  const migrations = checked.migrations;
  return (migrations?.databases ?? []).map((db) => {
    const packages = migrations!.packages.filter((p) => p.database === db.name);
    const schema = checked.schema.find((s) => s.database === db.name);
    return {
      name: db.name,
      dialect: db.dialect,
      url: redact(db.url),
      exists: db.exists,
      applied: db.rows,
      pending: packages.flatMap((p) => p.pending.map((id) => ({ id, package: p.name }))),
      held: packages.flatMap((p) => p.held.map((id) => ({ id, package: p.name }))),
      ahead: migrations!.ahead.filter((row) => row.database === db.name).map((row) => row.id),
      newer: migrations!.newer.filter((row) => row.database === db.name).map((row) => row.id),
      changed: migrations!.changed
        .filter((c) => packages.some((p) => c.id.startsWith(`${p.name}/`)))
        .map((c) => c.id),
      schema: { record: schema?.record ?? "none", drift: schema?.changes ?? [] },
    };
  });
}

function feedOf(status: FeedStatusReport): FeedReport {
  const saved = status.saved;
  return {
    url: redact(status.url),
    channel: status.channel,
    saved: saved && {
      seq: saved.seq,
      issued: saved.issued,
      expires: saved.expires,
      checked: saved.checked,
      key: saved.key,
    },
    stale: status.stale,
    exitCode: status.exitCode,
    offers: status.entries.map((s) => ({
      kind: s.kind,
      name: s.name,
      installed: s.installed,
      offered: s.offered,
      state: s.state,
      reason: s.reason,
      security: s.security && {
        level: s.security.level,
        advisories: s.security.advisories,
        applies: s.security.applies,
      },
      notes: s.entry.notes,
      database: s.entry.database,
      released: s.entry.released ?? null,
      size: s.entry.size,
    })),
  };
}

function isInterruption(problem: CheckProblem): boolean {
  return problem.code === "JOURNAL_OPEN" || problem.code === "UNDO_OPEN";
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** Free bytes on the filesystem of `folder` (or its nearest existing parent); `null` without `--allow-sys=statfs`. */
function freeSpace(folder: string): number | null {
  if (Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state !== "granted") return null;
  for (let at = folder;; at = dirname(at)) {
    try {
      const stats = statfsSync(at);
      return Number(stats.bavail) * Number(stats.bsize);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || dirname(at) === at) throw error;
    }
  }
}
