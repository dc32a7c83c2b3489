/**
 * Backups of the app root and every configured database:
 * `updates/backups/<UTC timestamp>[-label]/` holding `files.zip`, one artifact
 * per database and `backup.json`. A backup is built under a hidden temporary
 * name, verified, and only then renamed into place, so a partial one never
 * looks valid; the next backup removes the leftovers of an interrupted one.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, DatabaseConfig } from "./config.ts";
import { isDiskFull, LockstepError, messageOf } from "./errors.ts";
import { pathExists, syncFolder, writeFileAtomic } from "./files.ts";
import { readCodeVersion, utcStamp } from "./host.ts";
import { refuseOpenJournal } from "./journal.ts";
import { hasLedger } from "./migrations/ledger.ts";
import { takeOperationLock } from "./oplock.ts";
import { redact } from "./redact.ts";
import { openDatabase } from "./sql/open.ts";
import { readState, type State } from "./state.ts";
import { VERSION } from "./version.ts";
import { type FilesProgress, openFilesZip, writeFilesZip } from "./backup/archive.ts";
import { checkDump, dumpPostgres, type PostgresFormat } from "./backup/postgres.ts";
import { backupSqlite, checkSqlite, hashFile } from "./backup/sqlite.ts";
import { walkTree } from "./backup/tree.ts";

/** Progress of {@link backup}, {@link verifyBackup} and `restore`. */
export type BackupProgress =
  | ({ readonly phase: "files" } & FilesProgress)
  | { readonly phase: "database"; readonly database: string }
  | { readonly phase: "verify"; readonly artifact: string };

/** Options for {@link backup}. */
export interface BackupOptions {
  /** Only the app root (default `false`). */
  filesOnly?: boolean;
  /** Only the databases (default `false`). */
  dbOnly?: boolean;
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
}

/** The `files.zip` entry of `backup.json`. */
export interface BackupFiles {
  /** Always `files.zip`. */
  readonly artifact: string;
  /** Hex SHA-256 of files.zip. */
  readonly sha256: string;
  /** Size of files.zip in bytes. */
  readonly size: number;
  /** How many files it holds. */
  readonly count: number;
  /** Their uncompressed bytes. */
  readonly bytes: number;
  /** Links and special files under the root that a backup cannot hold. */
  readonly skipped: readonly string[];
}

/** One database's entry in `backup.json`. */
export interface BackupDatabase {
  /** The configured name. */
  readonly name: string;
  /** `sqlite` or `postgres`. */
  readonly dialect: "sqlite" | "postgres";
  /** The URL with credentials masked. */
  readonly url: string;
  /** The artifact's file name in the backup folder (`""` when `absent`). */
  readonly artifact: string;
  /**
   * `sqlite` (a database file), `pg_dump` (custom format), `lockstep-sql`
   * (built-in dump), or `absent`: a SQLite file that did not exist yet.
   */
  readonly format: "sqlite" | PostgresFormat | "absent";
  /** Hex SHA-256 of the artifact. */
  readonly sha256: string;
  /** The artifact's size in bytes. */
  readonly size: number;
  /** The ledger at the time: each package's last migration, and the row count; `null` without one. */
  readonly ledger:
    | { readonly packages: Record<string, string>; readonly migrations: number }
    | null;
  /** Objects the built-in PostgreSQL dump does not carry (grant `--allow-run=pg_dump`). */
  readonly skipped: readonly string[];
}

/** What `backup.json` holds. */
export interface BackupManifest {
  /** Format of this file: 1. */
  readonly format: 1;
  /** The backup's id: its folder name. */
  readonly id: string;
  /** The application's name. */
  readonly app: string;
  /** The label, if one was given. */
  readonly label: string | null;
  /** When it was started (ISO 8601, UTC). */
  readonly created: string;
  /** The code version at the time (`null` without a version file). */
  readonly codeVersion: string | null;
  /** lockstep's version. */
  readonly lockstep: string;
  /** How long it took, in milliseconds. */
  readonly durationMs: number;
  /** state.json at the time (installed version, high-water mark, history). */
  readonly state: State;
  /** The app root's archive, or `null` for `--db-only`. */
  readonly files: BackupFiles | null;
  /** One entry per database (none for `--files-only`). */
  readonly databases: readonly BackupDatabase[];
}

/** A backup as {@link listBackups} sees it. */
export interface BackupInfo {
  /** Its id (folder name). */
  readonly id: string;
  /** Its folder. */
  readonly path: string;
  /** When it was made (`null` when backup.json is unreadable). */
  readonly created: string | null;
  /** Its label. */
  readonly label: string | null;
  /** The code version it holds. */
  readonly codeVersion: string | null;
  /** Its artifacts' bytes. */
  readonly size: number;
  /** True when backup.json reads and every artifact is there with its recorded size. */
  readonly valid: boolean;
  /** Why not valid. */
  readonly problem?: string;
  /** backup.json, when it reads. */
  readonly manifest?: BackupManifest;
}

/** What {@link verifyBackup} found. */
export interface VerifyResult {
  /** The backup's id. */
  readonly id: string;
  /** True when every artifact has its recorded hash and opens. */
  readonly ok: boolean;
  /** What is wrong, one line per problem. */
  readonly problems: readonly string[];
  /** backup.json, when it reads. */
  readonly manifest?: BackupManifest;
}

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const PARTIAL = ".partial-";

/**
 * Backs up the app root (minus the updates folder, `backup.exclude` and the
 * SQLite files) and every configured database.
 *
 * @throws {LockstepError} `USAGE` (bad label, both only-flags), `JOURNAL_OPEN`,
 * `LOCK_HELD`, `DISK_FULL`, `DATABASE_UNREACHABLE`, `BACKUP_TOOL_FAILED`.
 */
export async function backup(
  config: Config,
  options: BackupOptions = {},
): Promise<BackupManifest & { path: string }> {
  const { filesOnly = false, dbOnly = false, label, onProgress } = options;
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
    let files: BackupFiles | null = null;
    if (!dbOnly) {
      const tree = walkTree(config);
      const written = await writeFilesZip(
        config.root,
        tree.files,
        join(temp, "files.zip"),
        (p) => onProgress?.({ phase: "files", ...p }),
      );
      files = {
        artifact: "files.zip",
        ...written,
        count: tree.files.length,
        bytes: tree.files.reduce((sum, f) => sum + f.size, 0),
        skipped: tree.skipped,
      };
    }
    const databases: BackupDatabase[] = [];
    for (const db of filesOnly ? [] : Object.values(config.databases)) {
      onProgress?.({ phase: "database", database: db.name });
      databases.push(await backupDatabase(db, temp, options.pgDump !== false));
    }
    const manifest: BackupManifest = {
      format: 1,
      id: "",
      app: config.app,
      label: label ?? null,
      created: created.toISOString(),
      codeVersion,
      lockstep: VERSION,
      durationMs: 0,
      state,
      files,
      databases,
    };
    const problems = await verifyArtifacts(temp, manifest, false, onProgress);
    if (problems.length > 0) {
      throw new LockstepError(
        "BACKUP_INVALID",
        `Cannot back up: what was written does not read back (${
          problems.join("; ")
        }). The partial backup was removed.`,
        { data: { problems } },
      );
    }
    const id = freeId(config, created, label);
    const done = { ...manifest, id, durationMs: Math.round(performance.now() - started) };
    await writeFileAtomic(
      join(temp, "backup.json"),
      new TextEncoder().encode(JSON.stringify(done, null, 2) + "\n"),
      { mode: 0o600 },
    );
    await syncFolder(temp);
    const path = join(config.backups, id);
    await Deno.rename(temp, path);
    await syncFolder(config.backups);
    return { ...done, path };
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

async function backupDatabase(
  db: DatabaseConfig,
  folder: string,
  pgDump: boolean,
): Promise<BackupDatabase> {
  const name = db.name.replace(/[^A-Za-z0-9._-]/g, "_");
  const common = { name: db.name, dialect: db.dialect, url: redact(db.url) };
  if (db.dialect === "sqlite") {
    if (!pathExists(db.path!)) {
      // Not made yet (no migration has run): restoring this backup removes it again.
      return {
        ...common,
        artifact: "",
        format: "absent",
        sha256: "",
        size: 0,
        ledger: null,
        skipped: [],
      };
    }
    const artifact = `db-${name}.sqlite`;
    const written = await backupSqlite(db, join(folder, artifact));
    // The ledger as the copy holds it: the same moment as the data.
    const ledger = await ledgerSnapshot({ ...db, path: join(folder, artifact) });
    return { ...common, artifact, format: "sqlite", ...written, ledger, skipped: [] };
  }
  const ledger = await ledgerSnapshot(db);
  const dumped = await dumpPostgres(db, folder, `db-${name}`, { pgDump });
  return { ...common, ...dumped, ledger };
}

/** Each package's last migration and the ledger's row count, or `null` without a ledger. */
async function ledgerSnapshot(db: DatabaseConfig): Promise<BackupDatabase["ledger"]> {
  const open = await openDatabase(db, { readOnly: true });
  try {
    if (!(await hasLedger(open))) return null;
    const packages: Record<string, string> = {};
    for (
      const row of await open.query<{ package: string; version: string }>(
        "select package, version from lockstep_packages order by package",
      )
    ) packages[row.package] = row.version;
    const [count] = await open.query<{ n: number | string }>(
      "select count(*) as n from lockstep_migrations",
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

/** Removes what an interrupted backup left (the caller holds the operation lock). */
async function removeLeftovers(config: Config): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(config.backups)) {
    if (entry.name.startsWith(PARTIAL)) {
      await Deno.remove(join(config.backups, entry.name), { recursive: true });
      removed.push(entry.name);
    }
  }
  return removed;
}

/**
 * Every artifact's SHA-256 and size against backup.json, then each opened:
 * files.zip's central directory (and, when `deep`, every entry inflated and
 * CRC-checked), SQLite's `quick_check`, a dump read to its end.
 */
async function verifyArtifacts(
  folder: string,
  manifest: BackupManifest,
  deep: boolean,
  onProgress?: (event: BackupProgress) => void,
): Promise<string[]> {
  const problems: string[] = [];
  for (const item of artifactsOf(manifest)) {
    onProgress?.({ phase: "verify", artifact: item.artifact });
    const path = join(folder, item.artifact);
    const actual = await hashFile(path).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (actual === undefined) {
      problems.push(`${item.artifact} is missing`);
      continue;
    }
    if (actual.size !== item.size || actual.sha256 !== item.sha256) {
      problems.push(
        `${item.artifact} does not match its recorded SHA-256 (changed or corrupted since the backup)`,
      );
      continue;
    }
    const problem = "format" in item
      ? item.format === "sqlite"
        ? checkSqlite(path)
        : await checkDump(path, item.format as PostgresFormat)
      : await checkFilesZip(path, manifest.id, item.count, deep);
    if (problem !== undefined) problems.push(`${item.artifact}: ${problem}`);
  }
  return problems;
}

/** The files a backup holds: files.zip and each database's artifact (absent SQLite files have none). */
function artifactsOf(manifest: BackupManifest): (BackupFiles | BackupDatabase)[] {
  return [
    ...(manifest.files ? [manifest.files] : []),
    ...manifest.databases.filter((db) => db.format !== "absent"),
  ];
}

async function checkFilesZip(
  path: string,
  id: string,
  count: number,
  deep: boolean,
): Promise<string | undefined> {
  try {
    await using archive = await openFilesZip(path, id);
    if (archive.files.length !== count) {
      return `it holds ${archive.files.length} files, backup.json says ${count}`;
    }
    for (const file of deep ? archive.files : []) {
      await archive.extract(file, new WritableStream());
    }
  } catch (error) {
    return messageOf(error);
  }
  return undefined;
}

async function readManifest(folder: string): Promise<BackupManifest> {
  const raw = JSON.parse(await Deno.readTextFile(join(folder, "backup.json")));
  if (
    raw === null || typeof raw !== "object" || raw.format !== 1 || typeof raw.app !== "string" ||
    !Array.isArray(raw.databases)
  ) {
    throw new Error("backup.json is not a lockstep backup manifest (format 1)");
  }
  return raw as BackupManifest;
}

/** The backup folders' names (leftovers of interrupted backups aside), newest id first. */
function backupNames(config: Config): string[] {
  try {
    return Array.from(Deno.readDirSync(config.backups))
      .filter((entry) => entry.isDirectory && !entry.name.startsWith("."))
      .map((entry) => entry.name)
      .sort()
      .reverse();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** One backup judged cheaply: backup.json reads, every artifact is there with its size. */
async function judge(config: Config, id: string): Promise<BackupInfo> {
  const path = join(config.backups, id);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(path);
  } catch (error) {
    return {
      id,
      path,
      created: null,
      label: null,
      codeVersion: null,
      size: 0,
      valid: false,
      problem: error instanceof Deno.errors.NotFound
        ? "backup.json is missing"
        : `backup.json does not read (${messageOf(error)})`,
    };
  }
  let problem: string | undefined;
  let size = 0;
  for (const item of artifactsOf(manifest)) {
    const info = await Deno.stat(join(path, item.artifact)).catch(() => undefined);
    size += info?.size ?? 0;
    if (info === undefined) problem ??= `${item.artifact} is missing`;
    else if (info.size !== item.size) problem ??= `${item.artifact} has the wrong size`;
  }
  if (problem === undefined && manifest.app !== config.app) {
    problem = `it was made for app "${manifest.app}"`;
  }
  return {
    id,
    path,
    created: manifest.created,
    label: manifest.label,
    codeVersion: manifest.codeVersion,
    size,
    valid: problem === undefined,
    ...(problem === undefined ? {} : { problem }),
    manifest,
  };
}

/**
 * The backups in `updates/backups`, newest first, each judged cheaply
 * (backup.json reads; every artifact exists with its recorded size). Use
 * {@link verifyBackup} for the full check.
 */
export async function listBackups(config: Config): Promise<BackupInfo[]> {
  const out: BackupInfo[] = [];
  for (const id of backupNames(config)) out.push(await judge(config, id));
  return out.sort((a, b) =>
    (b.created ?? "").localeCompare(a.created ?? "") ||
    b.id.localeCompare(a.id)
  );
}

/**
 * The newest valid backup, judged as {@link listBackups} does, reading only
 * as many backup.json files as it takes (ids start with their UTC time):
 * `check` asks at every start of the application.
 */
export async function newestBackup(config: Config): Promise<BackupInfo | undefined> {
  for (const id of backupNames(config)) {
    const info = await judge(config, id);
    if (info.valid) return info;
  }
  return undefined;
}

/**
 * Finds a backup by id.
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`.
 */
export async function findBackup(config: Config, id: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id.startsWith(".")) {
    throw new LockstepError("BACKUP_NOT_FOUND", `Cannot find backup "${id}": not a backup id.`);
  }
  const path = join(config.backups, id);
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new LockstepError(
      "BACKUP_NOT_FOUND",
      `Cannot find backup "${id}" in ${config.backups}. "lockstep backups" lists them.`,
      { data: { backup: id } },
    );
  }
  return path;
}

/**
 * Re-hashes every artifact of backup `id` against backup.json and opens each
 * (every zip entry inflated and CRC-checked, SQLite's `quick_check`, dumps
 * read to the end).
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`.
 */
export async function verifyBackup(
  config: Config,
  id: string,
  options: { onProgress?: (event: BackupProgress) => void } = {},
): Promise<VerifyResult> {
  const path = await findBackup(config, id);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(path);
  } catch (error) {
    return { id, ok: false, problems: [`backup.json does not read (${messageOf(error)})`] };
  }
  const problems = await verifyArtifacts(path, manifest, true, options.onProgress);
  if (manifest.app !== config.app) {
    problems.unshift(`it was made for app "${manifest.app}", not "${config.app}"`);
  }
  return { id, ok: problems.length === 0, problems, manifest };
}

/**
 * Reads backup `id`'s backup.json, without verifying its artifacts.
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`, `BACKUP_INVALID`.
 */
export async function readBackupManifest(
  config: Config,
  id: string,
): Promise<{ path: string; manifest: BackupManifest }> {
  const path = await findBackup(config, id);
  try {
    return { path, manifest: await readManifest(path) };
  } catch (error) {
    throw new LockstepError(
      "BACKUP_INVALID",
      `Cannot read backup "${id}": backup.json does not read (${messageOf(error)}).`,
      { cause: error, data: { backup: id } },
    );
  }
}

/** What {@link pruneBackups} did. */
export interface PruneResult {
  /** Ids removed. */
  readonly removed: readonly string[];
  /** Ids kept. */
  readonly kept: readonly string[];
}

/**
 * Keeps the newest `backup.keep` valid backups and removes older ones, and
 * the invalid ones older than the newest valid backup, and any leftovers of
 * interrupted backups. The newest valid backup is never removed.
 *
 * @throws {LockstepError} `LOCK_HELD`.
 */
export async function pruneBackups(config: Config): Promise<PruneResult> {
  using _lock = await takeOperationLock(config, "prune backups");
  const all = await listBackups(config);
  const newestValid = all.find((b) => b.valid);
  let validSeen = 0;
  const removed: string[] = [];
  const kept: string[] = [];
  for (const item of all) {
    const goes = item.valid
      ? ++validSeen > Math.max(1, config.backup.keep)
      : newestValid !== undefined && (item.created ?? "") < (newestValid.created ?? "");
    if (goes) {
      await Deno.remove(item.path, { recursive: true });
      removed.push(item.id);
    } else kept.push(item.id);
  }
  if (all.length > 0 || removed.length > 0) {
    removed.push(...await removeLeftovers(config).catch(() => []));
    await syncFolder(config.backups).catch(() => undefined);
  }
  return { removed, kept };
}
