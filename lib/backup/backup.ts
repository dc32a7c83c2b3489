/**
 * Backups of the app root and every configured database:
 * `updates/backups/<UTC timestamp>[-label]/` holding `files.zip`, one artifact
 * per database (written by its dialect) and `backup.json`. A backup is built
 * under a hidden temporary name, verified, and only then renamed into place,
 * so a partial one never looks valid; the next backup removes the leftovers
 * of an interrupted one.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { isDiskFull, LockstepError } from "../errors.ts";
import { pathExists, syncFolder, writeFileAtomic } from "../files.ts";
import { readCodeVersion, utcStamp } from "../host.ts";
import { refuseOpenJournal } from "../journal.ts";
import { hasLedger } from "../migrations/ledger.ts";
import { takeOperationLock } from "../oplock.ts";
import { redact } from "../redact.ts";
import { type DatabaseConfig, ledgerTable } from "../sql/dialect.ts";
import { dialectOf } from "../sql/dialects.ts";
import { openDatabase } from "../sql/open.ts";
import { readState } from "../state.ts";
import { VERSION } from "../version.ts";
import { writeFilesZip } from "./archive.ts";
import type { BackupDatabase, BackupFiles, BackupManifest, BackupProgress } from "./manifest.ts";
import { walkTree } from "./tree.ts";
import { verifyArtifacts } from "./verify.ts";

/** Options for {@link backup}. */
export interface BackupOptions {
  /** Only the app root (default `false`). */
  filesOnly?: boolean;
  /** Only the databases (default `false`). */
  dbOnly?: boolean;
  /**
   * Only these databases (default: every configured one); in a fleet the
   * shared ones are backed up by the host that migrates them.
   */
  databases?: readonly string[];
  /** Appended to the backup's id: letters, digits, `.`, `_` and `-`, at most 64. */
  label?: string;
  /** Receives progress; the library itself never prints. */
  onProgress?: (event: BackupProgress) => void;
  /**
   * PostgreSQL: use `pg_dump -Fc` when `--allow-run=pg_dump` is granted and it
   * is installed (default `true`); `false` always uses the built-in dump.
   */
  pgDump?: boolean;
  /** How long to wait for another lockstep operation to finish, in ms (default 0: refuse at once). */
  lockTimeoutMs?: number;
  /**
   * How long a database dump waits for a table that an application session
   * locked, in ms (default 30,000); past it the backup fails with `LOCK_HELD`
   * naming the sessions holding locks.
   */
  tableLockTimeoutMs?: number;
  /**
   * Accept a partial backup: when PostgreSQL's built-in dump cannot carry
   * some objects (and `pg_dump` may not run), write it without them, named in
   * backup.json (`partial`, each database's `skipped`) and by `backups`.
   * Default `false`: such a backup is refused with `BACKUP_INCOMPLETE`.
   */
  partial?: boolean;
}

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const PARTIAL = ".partial-";

/**
 * Backs up the app root (minus the updates folder, `backup.exclude` and the
 * SQLite files) and every configured database.
 *
 * Permissions: `--allow-read` on the app root and the SQLite files, `--allow-read` and
 * `--allow-write` on the backups folder; PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`, and `--allow-run=pg_dump` for a pg_dump
 * archive (optional: else the built-in dump).
 *
 * @throws {LockstepError} `USAGE` (bad label, both only-flags), `JOURNAL_OPEN`,
 * `LOCK_HELD` (another lockstep operation, or a table lock past `tableLockTimeoutMs`),
 * `DISK_FULL`, `DATABASE_UNREACHABLE`, `BACKUP_TOOL_FAILED`, `BACKUP_INCOMPLETE`
 * (PostgreSQL's built-in dump cannot carry some objects, and `partial` was not given).
 * @example
 * ```ts ignore
 * const made = await backup(config, { label: "before-maintenance" });
 * console.log(`restore with: lockstep restore ${made.id}`);
 * ```
 */
export async function backup(
  config: Config,
  options: BackupOptions = {},
): Promise<BackupManifest & { path: string }> {
  const { filesOnly = false, dbOnly = false, label, onProgress } = options;
  refuseBadOptions(filesOnly, dbOnly, label);
  await refuseOpenJournal(config, "back up");
  using _lock = await takeOperationLock(config, "back up", options.lockTimeoutMs ?? 0);
  const started = performance.now();
  const created = new Date();
  await Deno.mkdir(config.backups, { recursive: true, mode: 0o700 });
  await removeLeftovers(config);
  const temp = join(config.backups, `${PARTIAL}${crypto.randomUUID()}`);
  await Deno.mkdir(temp, { mode: 0o700 });
  try {
    const state = await readState(config);
    const codeVersion = await readCodeVersion(config);
    const files = dbOnly ? null : await backupFiles(config, temp, onProgress);
    const databases: BackupDatabase[] = [];
    const readBack = new Set<string>();
    const wanted = (name: string) => options.databases?.includes(name) ?? true;
    for (
      const db of filesOnly ? [] : Object.values(config.databases).filter((d) => wanted(d.name))
    ) {
      onProgress?.({ phase: "database", database: db.name });
      const written = await backupDatabase(db, temp, {
        tool: options.pgDump !== false,
        partial: options.partial ?? false,
        lockTimeoutMs: options.tableLockTimeoutMs ?? 30_000,
      });
      databases.push(written.database);
      if (written.readBack) readBack.add(written.database.artifact);
    }
    const manifest: BackupManifest = {
      format: 1,
      id: freeId(config, created, label),
      app: config.app,
      label: label ?? null,
      created: created.toISOString(),
      codeVersion,
      lockstep: VERSION,
      durationMs: 0,
      state,
      files,
      databases,
      partial: databases.some((db) => db.skipped.length > 0),
    };
    await refuseUnreadable(temp, manifest, onProgress, readBack);
    const done = { ...manifest, durationMs: Math.round(performance.now() - started) };
    return { ...done, path: await publish(config, temp, done) };
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => undefined);
    if (isDiskFull(error)) {
      throw new LockstepError(
        "DISK_FULL",
        `Cannot back up: the disk is full (${config.backups}). The partial backup was removed; ` +
          `nothing else was changed. Free space (or prune old backups) and retry.`,
        { cause: error, data: { folder: config.backups } },
      );
    }
    throw error;
  }
}

function refuseBadOptions(filesOnly: boolean, dbOnly: boolean, label: string | undefined): void {
  if (filesOnly && dbOnly) {
    throw new LockstepError(
      "USAGE",
      "Cannot back up: --files-only and --db-only exclude each other.",
    );
  }
  if (label !== undefined && !LABEL.test(label)) {
    throw new LockstepError(
      "USAGE",
      `Cannot back up with label "${label}": use 1 to 64 letters, digits, ".", "_" or "-".`,
    );
  }
}

/** The app root into `files.zip`. */
async function backupFiles(
  config: Config,
  folder: string,
  onProgress: BackupOptions["onProgress"],
): Promise<BackupFiles> {
  const tree = walkTree(config);
  const written = await writeFilesZip(
    config.root,
    tree.files,
    join(folder, "files.zip"),
    (p) => onProgress?.({ phase: "files", ...p }),
  );
  return {
    artifact: "files.zip",
    ...written,
    count: tree.files.length,
    bytes: tree.files.reduce((sum, f) => sum + f.size, 0),
    skipped: tree.skipped,
  };
}

/** Reads back what was written, as `backup verify` does (zip entries are not inflated). */
async function refuseUnreadable(
  folder: string,
  manifest: BackupManifest,
  onProgress: BackupOptions["onProgress"],
  readBack: ReadonlySet<string>,
): Promise<void> {
  const problems = await verifyArtifacts(folder, manifest, false, onProgress, readBack);
  if (problems.length === 0) return;
  throw new LockstepError(
    "BACKUP_INVALID",
    `Cannot back up: what was written does not read back (${
      problems.join("; ")
    }). The partial backup was removed.`,
    { data: { problems } },
  );
}

/** Writes backup.json, then renames the finished folder into place; returns its path. */
async function publish(config: Config, folder: string, manifest: BackupManifest): Promise<string> {
  await writeFileAtomic(
    join(folder, "backup.json"),
    new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"),
    { mode: 0o600 },
  );
  await syncFolder(folder);
  const path = join(config.backups, manifest.id);
  await Deno.rename(folder, path);
  await syncFolder(config.backups);
  return path;
}

/**
 * One database's artifact, written by its dialect, and its ledger as of the
 * backup; `readBack`: its SHA-256 was computed from the synced file.
 */
async function backupDatabase(
  db: DatabaseConfig,
  folder: string,
  how: { tool: boolean; partial: boolean; lockTimeoutMs: number },
): Promise<{ database: BackupDatabase; readBack: boolean }> {
  const stem = `db-${db.name.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  const { record, readBack = false, ...written } = await dialectOf(db).backup(db, folder, {
    stem,
    ...how,
    record: ledgerSnapshot,
  });
  return {
    database: {
      name: db.name,
      dialect: db.dialect,
      url: redact(db.url),
      ...written,
      ledger: record,
    },
    readBack,
  };
}

/** Each package's last migration and the ledger's row count, or `null` without a ledger. */
async function ledgerSnapshot(db: DatabaseConfig): Promise<BackupDatabase["ledger"]> {
  const open = await openDatabase(db, { readOnly: true });
  try {
    if (!(await hasLedger(open))) return null;
    const packages: Record<string, string> = {};
    for (
      const row of await open.query<{ package: string; version: string }>(
        `select package, version from ${ledgerTable(open, "lockstep_packages")} order by package`,
      )
    ) packages[row.package] = row.version;
    const [count] = await open.query<{ n: number | string }>(
      `select count(*) as n from ${ledgerTable(open, "lockstep_migrations")}`,
    );
    return { packages, migrations: Number(count?.n ?? 0) };
  } finally {
    await open.close();
  }
}

/** The backup's id: its UTC timestamp and label, made unique with `-2`, `-3`… */
function freeId(config: Config, created: Date, label: string | undefined): string {
  const base = utcStamp(created);
  for (let n = 1;; n++) {
    const id = `${base}${n === 1 ? "" : `-${n}`}${label === undefined ? "" : `-${label}`}`;
    if (!pathExists(join(config.backups, id))) return id;
  }
}

/** What interrupted backups left in the backups folder (none when there is no folder). */
export function leftovers(config: Pick<Config, "backups">): string[] {
  try {
    return Array.from(Deno.readDirSync(config.backups))
      .filter((entry) => entry.name.startsWith(PARTIAL))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Removes what an interrupted backup left (the caller holds the operation lock). */
export async function removeLeftovers(config: Config): Promise<string[]> {
  const removed = leftovers(config);
  for (const name of removed) {
    await Deno.remove(join(config.backups, name), { recursive: true });
  }
  return removed;
}
