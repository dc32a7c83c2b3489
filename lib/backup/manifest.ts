/**
 * `backup.json`, the manifest of a backup folder: what the backup holds
 * (`files.zip`, one artifact per database), each artifact's SHA-256 and
 * size, and the state at the time. And the progress events that backup,
 * verify and restore report.
 *
 * @module
 */
import { join } from "node:path";
import type { Dialect } from "../sql/driver.ts";
import type { PostgresFormat } from "../sql/postgres/dump.ts";
import type { State } from "../state.ts";
import type { FilesProgress } from "./archive.ts";

/** Progress of `backup`, `verifyBackup` and `restore`. */
export type BackupProgress =
  | ({ readonly phase: "files" } & FilesProgress)
  | { readonly phase: "database"; readonly database: string }
  | { readonly phase: "verify"; readonly artifact: string };

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
  readonly dialect: Dialect;
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
  /**
   * Objects the artifact does not carry: only in a partial backup, which the
   * operator accepted (`backup --allow-partial`); a full dump needs
   * `--allow-run=pg_dump`.
   */
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
  /**
   * True for a partial backup: a database artifact leaves objects out (each
   * database's `skipped` names them), as the operator accepted. Missing in
   * backups made before lockstep wrote it: {@link notHeld} reads `skipped`.
   */
  readonly partial?: boolean;
}

/** What a backup does not hold, as `database: object` (empty for a complete backup). */
export function notHeld(manifest: BackupManifest): string[] {
  return manifest.databases.flatMap((db) =>
    (db.skipped ?? []).map((what) => `${db.name}: ${what}`)
  );
}

/** Reads `backup.json` in `folder`, checking only that it is a format-1 manifest. */
export async function readManifest(folder: string): Promise<BackupManifest> {
  const raw = JSON.parse(await Deno.readTextFile(join(folder, "backup.json")));
  if (
    raw === null || typeof raw !== "object" || raw.format !== 1 || typeof raw.app !== "string" ||
    !Array.isArray(raw.databases)
  ) {
    throw new Error("backup.json is not a lockstep backup manifest (format 1)");
  }
  return raw as BackupManifest;
}

/** The files a backup holds: files.zip and each database's artifact (absent SQLite files have none). */
export function artifactsOf(manifest: BackupManifest): (BackupFiles | BackupDatabase)[] {
  return [
    ...(manifest.files ? [manifest.files] : []),
    ...manifest.databases.filter((db) => db.format !== "absent"),
  ];
}
