/**
 * `restore`: the app root and the databases back to a backup. Files go
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
import { confined } from "../files.ts";
import {
  faultHook,
  type JournalFile,
  type JournalStep,
  refuseOpenJournal,
  Transaction,
} from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { writeState } from "../state.ts";
import { protection } from "../bundles/pending.ts";
import { dialectOf } from "../sql/dialects.ts";
import { openFilesZip } from "./archive.ts";
import { findBackup, readBackupManifest } from "./list.ts";
import type { BackupManifest, BackupProgress } from "./manifest.ts";
import { outsideBackup, walkTree } from "./tree.ts";
import { verifyBackup } from "./verify.ts";

/** What a restore is about to do, for confirmation. */
export interface RestorePlan {
  /** The backup's id. */
  readonly id: string;
  /** When it was made. */
  readonly created: string;
  /** The code version it holds. */
  readonly codeVersion: string | null;
  /** Files that will be written (differ from the backup or are missing). */
  readonly writes: readonly string[];
  /** Files that will be removed (not in the backup). */
  readonly removes: readonly string[];
  /** Files already equal to the backup. */
  readonly unchanged: number;
  /** Databases that will be replaced by the backup's content. */
  readonly databases: readonly string[];
}

/** Options for {@link restore}. */
export interface RestoreOptions {
  /** Asked with the plan after verification, before anything changes; resolve `false` to stop. */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  /** Receives progress. */
  onProgress?: (event: BackupProgress | { phase: "restore"; step: JournalStep }) => void;
  /** Test facility, as for install: exit at once after a step (`LOCKSTEP_FAULT`). */
  fault?: string;
}

/** What {@link restore} did. */
export interface RestoreResult extends RestorePlan {
  /** False when `confirm` declined: nothing changed. */
  readonly confirmed: boolean;
}

/**
 * Restores backup `id`: verifies it first (every hash, every archive
 * opened), then the files through the journal, then state.json and every
 * database it holds.
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`, `BACKUP_INVALID`,
 * `BACKUP_WRONG_APP`, `JOURNAL_OPEN`, `LOCK_HELD`, `PERMISSION_DENIED`.
 */
export async function restore(
  config: Config,
  id: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const fault = faultHook(options.fault);
  await refuseOpenJournal(config, `restore backup "${id}"`);
  using _lock = await takeOperationLock(config, `restore backup "${id}"`);
  const folder = await findBackup(config, id);
  const verified = await verifyBackup(config, id, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
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

  const tx = await Transaction.begin(config, config.root, (step) => {
    options.onProgress?.({ phase: "restore", step });
    fault(step);
  });
  let plan: RestorePlan;
  try {
    plan = await stageFiles(config, folder, manifest, tx, options.onProgress);
  } catch (error) {
    await tx.abandon();
    throw error;
  }
  if (options.confirm && !(await options.confirm(plan))) {
    await tx.abandon();
    return { ...plan, confirmed: false };
  }
  await tx.apply("restore", `restore ${config.app} backup ${id}`, { backup: id });
  await finishRestore(config, manifest, folder, fault, options.onProgress);
  await tx.finish();
  return { ...plan, confirmed: true };
}

/**
 * The phase after the file journal commits: state.json, then each database.
 * Also what `recover` runs for a committed restore journal.
 */
export async function finishRestore(
  config: Config,
  manifest: BackupManifest,
  folder: string,
  fault: (step: string) => void = () => {},
  onProgress?: (event: BackupProgress) => void,
): Promise<void> {
  await writeState(config, manifest.state);
  fault("state");
  for (const db of manifest.databases) {
    onProgress?.({ phase: "database", database: db.name });
    await dialectOf(db).restore(config.databases[db.name]!, join(folder, db.artifact), db.format);
    fault("database");
  }
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

/** Stages every file that differs from the backup and lists the removals. */
async function stageFiles(
  config: Config,
  folder: string,
  manifest: BackupManifest,
  tx: Transaction,
  onProgress: RestoreOptions["onProgress"],
): Promise<RestorePlan> {
  const databases = manifest.databases.map((d) => d.name);
  const base = {
    id: manifest.id,
    created: manifest.created,
    codeVersion: manifest.codeVersion,
    databases,
  };
  if (manifest.files === null) return { ...base, writes: [], removes: [], unchanged: 0 };
  const current = new Map(walkTree(config).files.map((f) => [f.path, f]));
  const leftOut = outsideBackup(config);
  const isProtected = protection(config);
  const writes: string[] = [];
  let unchanged = 0;
  await using archive = await openFilesZip(join(folder, "files.zip"), manifest.id);
  const totalBytes = archive.files.reduce((sum, f) => sum + f.size, 0);
  let bytes = 0;
  let done = 0;
  const inBackup = new Set<string>();
  for (const file of archive.files) {
    inBackup.add(file.path);
    // What the backup holds is checked like a bundle's paths: no way out of the root.
    await confined(config.root, file.path, `restore backup "${manifest.id}": write`);
    if (leftOut(file.path)) continue;
    const now = current.get(file.path);
    if (now && now.size === file.size && now.mode === file.mode && sameCrc(config, file)) {
      unchanged++;
    } else {
      const staged = tx.stagingPath(file.path);
      Deno.mkdirSync(dirname(staged), { recursive: true });
      const out = Deno.openSync(staged, { write: true, createNew: true, mode: 0o600 });
      await archive.extract(file, out.writable);
      Deno.chmodSync(staged, file.mode);
      Deno.utimeSync(staged, file.mtime, file.mtime);
      tx.write(file.path);
      writes.push(file.path);
    }
    bytes += file.size;
    onProgress?.({
      phase: "files",
      files: ++done,
      bytes,
      totalFiles: archive.files.length,
      totalBytes,
    });
  }
  const removes: string[] = [];
  for (const path of current.keys()) {
    if (inBackup.has(path) || isProtected(path)) continue;
    tx.delete(path);
    removes.push(path);
  }
  return { ...base, writes, removes, unchanged };
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
