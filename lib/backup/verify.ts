/**
 * Verifying a backup: every artifact's SHA-256 and size against
 * backup.json, then each opened — files.zip's central directory (and every
 * entry inflated and CRC-checked), each database's artifact checked by its
 * dialect (SQLite's `quick_check`, a dump read to its end) — and, when asked,
 * each database artifact restored for trial into a scratch database that is
 * removed afterwards, so "valid" means "restores".
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { messageOf } from "../errors.ts";
import { hashFile } from "../hashing.ts";
import { dialectOf, isDialect } from "../sql/dialects.ts";
import { openFilesZip } from "./archive.ts";
import { findBackup } from "./list.ts";
import {
  artifactsOf,
  type BackupDatabase,
  type BackupManifest,
  type BackupProgress,
  notHeld,
  readManifest,
} from "./manifest.ts";

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
  /** The databases restored for trial (`restore: true`), each restored and removed again. */
  readonly restored: readonly string[];
  /** What a partial backup does not hold (`database: object`); empty for a complete one. */
  readonly partial: readonly string[];
}

/** Options for {@link verifyBackup}. */
export interface VerifyOptions {
  /** Receives progress. */
  onProgress?: (event: BackupProgress) => void;
  /**
   * Also restore each database artifact for trial into a scratch database
   * (PostgreSQL: `lockstep_verify_<random>` on the same server, made by a
   * role that may create databases; SQLite: a scratch file in the backups
   * folder), removed afterwards; a failure is a problem (default `false`).
   */
  restore?: boolean;
}

/**
 * Every artifact's SHA-256 and size against backup.json (but those in
 * `readBack`, which a backup being made hashed from disk already), then each opened:
 * files.zip's central directory (and, when `deep`, every entry inflated and
 * CRC-checked), each database's artifact by its dialect.
 */
export async function verifyArtifacts(
  folder: string,
  manifest: BackupManifest,
  deep: boolean,
  onProgress?: (event: BackupProgress) => void,
  readBack: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  // backup.json is read from disk: a dialect this lockstep does not know is a problem, not a crash.
  const problems = manifest.databases.filter((db) => !isDialect(db.dialect))
    .map((db) => `database "${db.name}" is of an unknown kind "${db.dialect}"`);
  for (const item of artifactsOf(manifest)) {
    onProgress?.({ phase: "verify", artifact: item.artifact });
    const path = join(folder, item.artifact);
    // Hashed from disk as it was written (a backup being made): checked, not hashed again.
    const hashed = readBack.has(item.artifact) ? { sha256: item.sha256, size: item.size } : null;
    const actual = hashed ?? await hashFile(path).catch((error) => {
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
      ? await checkDatabase(path, item)
      : await checkFilesZip(path, manifest.id, item.count, deep);
    if (problem !== undefined) problems.push(`${item.artifact}: ${problem}`);
  }
  return problems;
}

/** Why a database's artifact is unusable, as its dialect judges it, or `undefined`. */
async function checkDatabase(path: string, db: BackupDatabase): Promise<string | undefined> {
  if (!isDialect(db.dialect)) return undefined; // Reported above.
  return await dialectOf(db).checkArtifact(path, db.format);
}

async function checkFilesZip(
  path: string,
  id: string,
  count: number,
  deep: boolean,
): Promise<string | undefined> {
  try {
    using archive = await openFilesZip(path, id);
    if (archive.files.length !== count) {
      return `it holds ${archive.files.length} files, backup.json says ${count}`;
    }
    for (const file of deep ? archive.files : []) {
      await archive.extract(file, { writeSync: (chunk) => chunk.length, close() {} });
    }
  } catch (error) {
    return messageOf(error);
  }
  return undefined;
}

/**
 * Re-hashes every artifact of backup `id` against backup.json and opens each
 * (every zip entry inflated and CRC-checked, SQLite's `quick_check`, dumps
 * read to the end); with `restore`, also restores each database artifact for
 * trial into a scratch database that it removes afterwards.
 *
 * Permissions: `--allow-read` on the backups folder; `--allow-run=pg_restore` (optional) also lists
 * a pg_dump archive. `restore` adds what a restore of the databases needs (PostgreSQL:
 * `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME`, `--allow-env=<passwordEnv>`,
 * `--allow-run=pg_restore` for a pg_dump archive; SQLite: `--allow-write` on the backups folder).
 *
 * @throws {LockstepError} `BACKUP_NOT_FOUND`; with `restore`, `PERMISSION_DENIED` and
 * `DATABASE_UNREACHABLE`.
 * @example
 * ```ts ignore
 * const result = await verifyBackup(config, "20261101T120000Z-before-update", { restore: true });
 * if (!result.ok) console.error(result.problems.join("\n"));
 * ```
 */
export async function verifyBackup(
  config: Config,
  id: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const path = await findBackup(config, id);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(path);
  } catch (error) {
    return {
      id,
      ok: false,
      problems: [`backup.json does not read (${messageOf(error)})`],
      restored: [],
      partial: [],
    };
  }
  const problems = await verifyArtifacts(path, manifest, true, options.onProgress);
  if (manifest.app !== config.app) {
    problems.unshift(`it was made for app "${manifest.app}", not "${config.app}"`);
  }
  const restored: string[] = [];
  // A trial only of artifacts that passed: a damaged one is reported already.
  if (options.restore === true && problems.length === 0) {
    problems.push(...await trialRestores(config, path, manifest, restored, options.onProgress));
  }
  const partial = notHeld(manifest);
  return { id, ok: problems.length === 0, problems, manifest, restored, partial };
}

/** Restores each database artifact of the backup in `folder` for trial; returns the problems. */
async function trialRestores(
  config: Config,
  folder: string,
  manifest: BackupManifest,
  restored: string[],
  onProgress: ((event: BackupProgress) => void) | undefined,
): Promise<string[]> {
  const problems: string[] = [];
  for (const db of manifest.databases) {
    if (db.format === "absent") continue;
    const live = config.databases[db.name];
    if (live === undefined || live.dialect !== db.dialect) {
      problems.push(
        `${db.artifact}: no trial restore: database "${db.name}" is not configured as ${db.dialect}`,
      );
      continue;
    }
    onProgress?.({ phase: "verify", artifact: `${db.artifact} (trial restore)` });
    const problem = await dialectOf(db).trialRestore(
      live,
      join(folder, db.artifact),
      db.format,
      config.backups,
    );
    if (problem === undefined) restored.push(db.name);
    else problems.push(`${db.artifact}: ${problem}`);
  }
  return problems;
}
