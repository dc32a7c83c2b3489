/**
 * The backups in `updates/backups`: listed newest first and judged cheaply
 * (backup.json reads; every artifact is there with its recorded size),
 * found by id, and their manifests read.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError, messageOf } from "../errors.ts";
import { artifactsOf, type BackupManifest, notHeld, readManifest } from "./manifest.ts";

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
  /** What a partial backup does not hold (`database: object`); empty for a complete one. */
  readonly partial: readonly string[];
  /** Why not valid. */
  readonly problem?: string;
  /** backup.json, when it reads. */
  readonly manifest?: BackupManifest;
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
      partial: [],
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
    partial: notHeld(manifest),
    ...(problem === undefined ? {} : { problem }),
    manifest,
  };
}

/**
 * The backups in `updates/backups`, newest first, each judged cheaply
 * (backup.json reads; every artifact exists with its recorded size). Use
 * `verifyBackup` for the full check.
 *
 * Permissions: `--allow-read` on the backups folder.
 *
 * @throws {Deno.errors.PermissionDenied} when the backups folder cannot be read (a missing folder
 * is an empty list).
 * @example
 * ```ts ignore
 * for (const b of await listBackups(config)) console.log(b.id, b.valid ? "valid" : b.problem);
 * ```
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
