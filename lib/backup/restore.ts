/**
 * `restore`: the app root and the databases back to a backup, under the
 * change policy ({@link guard}: the plan is made before anything is staged,
 * then confirmation, a backup of the present, maintenance). Files go
 * through the same crash-safe journal as install (staged, moved aside,
 * renamed in, committed); files the backup does not hold are removed, except
 * protected paths and what backups leave out. Once the file journal commits,
 * state.json and the databases are restored; a crash in that phase leaves the
 * committed journal, and `recover` finishes it (restoring a database again
 * gives the same result), so files and databases never stay apart.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { dirname, join } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { stopIfAborted } from "../interrupt.ts";
import { fault } from "../fault.ts";
import { confined } from "../files.ts";
import type { Flow } from "../flow.ts";
import { guard, type SafetyOptions } from "../guard.ts";
import { readCodeVersion } from "../host.ts";
import { type JournalFile, type JournalStep, refuseOpenJournal, Transaction } from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { readState, writeState } from "../state.ts";
import { protection } from "../bundles/pending.ts";
import { dialectOf } from "../sql/dialects.ts";
import { openFilesZip } from "./archive.ts";
import { openSink } from "../bundles/extract.ts";
import { findBackup, readBackupManifest } from "./list.ts";
import { type BackupManifest, type BackupProgress, notHeld } from "./manifest.ts";
import { outsideBackup, walkTree } from "./tree.ts";
import { verifyBackup } from "./verify.ts";

/** What a restore is about to do, for confirmation. */
export interface RestorePlan {
  /** The backup's id. */
  readonly id: string;
  /** When it was made: whatever was written since then is discarded. */
  readonly created: string;
  /** The code version it holds. */
  readonly codeVersion: string | null;
  /** The code version installed now, which the restore replaces. */
  readonly currentVersion: string | null;
  /** Files that will be written (differ from the backup or are missing). */
  readonly writes: readonly string[];
  /** Files that will be removed (not in the backup). */
  readonly removes: readonly string[];
  /** Files already equal to the backup. */
  readonly unchanged: number;
  /** Databases that will be replaced by the backup's content. */
  readonly databases: readonly string[];
  /**
   * What a partial backup does not hold (`database: object`): the restore
   * empties the managed schemas, so these are gone afterwards. Empty for a
   * complete backup.
   */
  readonly partial: readonly string[];
}

/** Options for {@link restore}. */
export interface RestoreOptions extends SafetyOptions {
  /**
   * Asked with the plan after verification, before anything is staged or
   * changed; resolve `false` to stop. Default: go ahead.
   */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  /** Receives progress. */
  onProgress?: (event: BackupProgress | { phase: "restore"; step: JournalStep }) => void;
}

/** What {@link restore} did. */
export interface RestoreResult extends RestorePlan {
  /** False when `confirm` declined: nothing changed. */
  readonly confirmed: boolean;
  /** The backup of the present taken first (`before-restore`), or `null`. */
  readonly backup: string | null;
}

/**
 * Restores backup `id`: verifies it first (every hash, every archive
 * opened) and compares it with the present, asks `confirm`, backs the
 * present up (`before-restore`, unless `backup: false`) and turns
 * maintenance on (unless `maintenance: false`); then the files go back
 * through the journal, then state.json and every database it holds.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. A pg_dump
 * archive needs `--allow-run=pg_restore`.
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`, `BACKUP_INVALID`,
 * `BACKUP_WRONG_APP`, `JOURNAL_OPEN`, `LOCK_HELD`, `PERMISSION_DENIED`, and
 * the backup's errors.
 * @example
 * ```ts ignore
 * await restore(config, "20261101T120000Z-before-update", { confirm: async (plan) =>
 * plan.removes.length === 0 });
 * ```
 */
export async function restore(
  config: Config,
  id: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  await refuseOpenJournal(config, `restore backup "${id}"`);
  using _lock = await takeOperationLock(config, `restore backup "${id}"`);
  let folder = "";
  let manifest!: BackupManifest;
  const done = await guard(config, {
    command: "restore",
    preflight: async () => {
      ({ folder, manifest } = await verifiedForRestore(config, id, options.onProgress));
      return await planRestore(config, folder, manifest);
    },
    idle: () => false,
    confirm: options.confirm,
    backup: { label: "before-restore" },
    maintenanceMessage: (plan) =>
      `Restoring ${config.app} ${
        plan.codeVersion ?? ""
      } from a backup. Please try again in a few minutes.`,
    steps: (plan) => [{
      name: "restore",
      run: async (flow) => {
        await restoreFiles(config, folder, manifest, plan, flow, options);
        return `backup ${id}`;
      },
    }],
  }, options);
  return { ...done.plan, confirmed: done.status === "done", backup: done.backup?.id ?? null };
}

/**
 * Finds and verifies backup `id` and every precondition of the restore:
 * the app, the databases it holds still configured with the same dialect,
 * `pg_restore` for a pg_dump archive. Changes nothing.
 */
async function verifiedForRestore(
  config: Config,
  id: string,
  onProgress: RestoreOptions["onProgress"],
): Promise<{ folder: string; manifest: BackupManifest }> {
  const folder = await findBackup(config, id);
  const verified = await verifyBackup(config, id, onProgress ? { onProgress } : {});
  const manifest = verified.manifest;
  if (manifest !== undefined && manifest.app !== config.app) {
    throw new LockstepError(
      "BACKUP_WRONG_APP",
      `Cannot restore backup "${id}": it was made for app "${manifest.app}", and this is ` +
        `"${config.app}". Nothing was changed.`,
      { data: { backup: id, app: manifest.app } },
    );
  }
  if (!verified.ok || manifest === undefined) {
    throw new LockstepError(
      "BACKUP_INVALID",
      `Cannot restore backup "${id}": it fails verification: ${
        verified.problems.join("; ")
      }. Nothing was changed.`,
      { data: { backup: id, problems: [...verified.problems] } },
    );
  }
  const unknown = manifest.databases.filter((db) => config.databases[db.name] === undefined);
  if (unknown.length > 0) {
    throw new LockstepError(
      "BACKUP_INVALID",
      `Cannot restore backup "${id}": it holds database(s) ${
        unknown.map((d) => `"${d.name}"`).join(", ")
      } that lockstep.json no longer configures. Nothing was changed.`,
      { data: { backup: id, databases: unknown.map((d) => d.name) } },
    );
  }
  for (const db of manifest.databases) {
    // Every precondition of the database phase is checked before the first change.
    dialectOf(db).refuseUnrestorable(db.name, db.format);
    if (config.databases[db.name]!.dialect !== db.dialect) {
      throw new LockstepError(
        "BACKUP_INVALID",
        `Cannot restore backup "${id}": database "${db.name}" was ${db.dialect} and is now ` +
          `${config.databases[db.name]!.dialect}. Nothing was changed.`,
        { data: { backup: id, database: db.name } },
      );
    }
  }
  return { folder, manifest };
}

/** Stages the files that differ, applies the journal, then state.json and the databases. */
async function restoreFiles(
  config: Config,
  folder: string,
  manifest: BackupManifest,
  plan: RestorePlan,
  flow: Flow,
  { onProgress, signal }: Pick<RestoreOptions, "onProgress" | "signal">,
): Promise<void> {
  const tx = await Transaction.begin(config, config.root, (step) => {
    onProgress?.({ phase: "restore", step });
  });
  try {
    await stageFiles(folder, manifest, plan.writes, tx, onProgress);
    for (const path of plan.removes) tx.delete(path);
  } catch (error) {
    await tx.abandon();
    throw error;
  }
  try {
    stopIfAborted(signal, `before restoring backup ${manifest.id} (its files were staged)`);
  } catch (error) {
    await tx.abandon();
    throw error;
  }
  flow.changed("files");
  await tx.apply("restore", `restore ${config.app} backup ${manifest.id}`, { backup: manifest.id });
  await finishRestore(config, manifest, folder, onProgress);
  await tx.finish();
  await removeEmptyFolders(config, plan.removes);
}

/**
 * Removes the folders the restore's removals left empty, up to the app root
 * (a protected path, and a folder that still holds anything, stays).
 */
async function removeEmptyFolders(config: Config, removed: readonly string[]): Promise<void> {
  const isProtected = protection(config);
  const leftOut = outsideBackup(config);
  const tried = new Set<string>();
  for (const path of removed) {
    for (
      let folder = dirname(path);
      folder !== "." && !tried.has(folder);
      folder = dirname(folder)
    ) {
      tried.add(folder);
      if (isProtected(folder) || leftOut(folder)) break;
      // The restore may have put a file where the folder was.
      const isFolder = await Deno.lstat(join(config.root, folder)).then(
        (i) => i.isDirectory,
        () => false,
      );
      if (!isFolder) break;
      const gone = await Deno.remove(join(config.root, folder)).then(() => true, (error) => {
        // Not empty (ENOTEMPTY, os error 39 on Linux, 66 on macOS) or gone already: it stays.
        if (
          error instanceof Deno.errors.NotFound || /not empty|os error (39|66)/i.test(error.message)
        ) {
          return false;
        }
        throw error;
      });
      if (!gone) break;
    }
  }
}

/**
 * The phase after the file journal commits: state.json, then each database.
 * Also what `recover` runs for a committed restore journal.
 */
export async function finishRestore(
  config: Config,
  manifest: BackupManifest,
  folder: string,
  onProgress?: (event: BackupProgress) => void,
): Promise<void> {
  // The backup's versions and requirements; the history goes on, with this restore in it.
  const { history } = await readState(config);
  const restored = {
    version: manifest.codeVersion ?? "(none)",
    at: new Date().toISOString(),
    bundle: manifest.id,
    action: "restore" as const,
  };
  // `recover` runs this again after a crash: the restore is in the history once.
  const last = history.at(-1);
  const again = last?.action === "restore" && last.bundle === manifest.id;
  // The host keeps its fleet id whatever the backup's state.json says.
  const hostId = (await readState(config)).hostId ?? manifest.state.hostId;
  await writeState(config, {
    ...manifest.state,
    history: again ? history : [...history, restored],
    ...(hostId === undefined ? {} : { hostId }),
  });
  fault("state");
  const done: string[] = [];
  for (const db of manifest.databases) {
    onProgress?.({ phase: "database", database: db.name });
    try {
      await dialectOf(db).restore(config.databases[db.name]!, join(folder, db.artifact), db.format);
    } catch (error) {
      throw databaseNotRestored(manifest.id, db.name, done, error);
    }
    done.push(db.name);
    fault("database");
  }
}

/**
 * The error of a restore whose database phase failed: the files (and
 * state.json) are back, this database holds what it held before (its restore
 * is one transaction), the journal stays committed, and `recover` restores
 * the databases again once the cause is fixed. The cause's code is kept.
 */
function databaseNotRestored(
  backup: string,
  database: string,
  done: readonly string[],
  error: unknown,
): unknown {
  if (!(error instanceof LockstepError)) return error;
  const reason = typeof error.data.reason === "string" ? error.data.reason : error.message;
  const others = done.length === 0
    ? ""
    : ` (${done.map((name) => `"${name}"`).join(", ")} ${
      done.length === 1 ? "is" : "are"
    } restored)`;
  return new LockstepError(
    error.code,
    `Cannot restore database "${database}" from backup "${backup}": ${
      reason.replace(/\.$/, "")
    }. The files and state.json are restored${others}; database "${database}" was left as it ` +
      `was before the restore (its restore runs in one transaction). Every changing command ` +
      `refuses until this is finished: fix the cause, then run "lockstep recover", which ` +
      `restores the databases again.`,
    { cause: error, data: { ...error.data, backup, database, restored: [...done] } },
  );
}

/**
 * Finishes a committed restore journal: the `recover` side of
 * {@link finishRestore}. The backup was verified when the restore began; a
 * damaged dump now fails its database's transaction, which leaves it as it was.
 */
export async function recoverRestore(config: Config, journal: JournalFile): Promise<void> {
  const { path, manifest } = await readBackupManifest(config, String(journal.data.backup));
  await finishRestore(config, manifest, path);
}

/**
 * What the restore will change, read-only: the files whose size, mode or
 * CRC-32 differ from the backup's, the files it does not hold (protected
 * paths and what backups leave out excepted), and the databases it replaces.
 */
async function planRestore(
  config: Config,
  folder: string,
  manifest: BackupManifest,
): Promise<RestorePlan> {
  const base = {
    id: manifest.id,
    created: manifest.created,
    codeVersion: manifest.codeVersion,
    currentVersion: await readCodeVersion(config),
    databases: manifest.databases.map((d) => d.name),
    partial: notHeld(manifest),
  };
  if (manifest.files === null) return { ...base, writes: [], removes: [], unchanged: 0 };
  const current = new Map(walkTree(config).files.map((f) => [f.path, f]));
  const leftOut = outsideBackup(config);
  const isProtected = protection(config);
  const writes: string[] = [];
  let unchanged = 0;
  using archive = await openFilesZip(join(folder, "files.zip"), manifest.id);
  const inBackup = new Set<string>();
  for (const file of archive.files) {
    inBackup.add(file.path);
    // What the backup holds is checked like a bundle's paths: no way out of the root.
    await confined(config.root, file.path, `restore backup "${manifest.id}": write`);
    if (leftOut(file.path)) continue;
    const now = current.get(file.path);
    if (now && now.size === file.size && now.mode === file.mode && sameCrc(config, file)) {
      unchanged++;
    } else writes.push(file.path);
  }
  const removes = [...current.keys()].filter((path) => !inBackup.has(path) && !isProtected(path));
  return { ...base, writes, removes, unchanged };
}

/** Extracts `writes` from the backup's files.zip into the transaction's staging folder. */
async function stageFiles(
  folder: string,
  manifest: BackupManifest,
  writes: readonly string[],
  tx: Transaction,
  onProgress: RestoreOptions["onProgress"],
): Promise<void> {
  // A backup of the databases only has no files.zip: nothing to stage.
  if (writes.length === 0) return;
  const wanted = new Set(writes);
  using archive = await openFilesZip(join(folder, "files.zip"), manifest.id);
  const files = archive.files.filter((file) => wanted.has(file.path));
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  let bytes = 0;
  const staging = files.map((file) => ({ path: file.path, mode: 0o600 }));
  await tx.stageAll(staging, async (index, out, staged) => {
    const file = files[index]!;
    await archive.extract(file, openSink(out));
    Deno.chmodSync(staged, file.mode);
    Deno.utimeSync(staged, file.mtime, file.mtime);
    bytes += file.size;
    onProgress?.({ phase: "files", files: index + 1, bytes, totalFiles: files.length, totalBytes });
  });
}

/** Whether the file under the root has the archived file's CRC-32 (sizes already match). */
function sameCrc(config: Config, file: { path: string; crc32: number }): boolean {
  const handle = Deno.openSync(join(config.root, ...file.path.split("/")), { read: true });
  try {
    const buffer = new Uint8Array(256 * 1024);
    let crc = 0;
    for (let n = handle.readSync(buffer); n !== null; n = handle.readSync(buffer)) {
      crc = crc32(buffer.subarray(0, n), crc);
    }
    return crc >>> 0 === file.crc32 >>> 0;
  } finally {
    handle.close();
  }
}
