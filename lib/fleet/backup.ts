/**
 * Backing up a shared database once per release: in a fleet, the host that
 * migrates a shared database backs it up, under the migration lock, before
 * its first migration of that release, and records the backup in the
 * database's event log (`backup` events). Every other host, and the same
 * release's later runs (its contract migrations), find the record and name
 * that backup instead of taking another.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { backup } from "../backup/backup.ts";
import { Connections } from "../migrations/connections.ts";
import { sharedDatabases } from "./registry.ts";
import { hasLedger, recordEvent, type Stamp } from "../migrations/ledger.ts";
import { ledgerTable } from "../sql/dialect.ts";
import type { Sql } from "../sql/driver.ts";

/** A backup of a shared database, as its event log records it. */
export interface SharedBackup {
  /** The database. */
  readonly database: string;
  /** The backup's id, in the backups folder of the host that took it. */
  readonly backup: string;
  /** The host that took it. */
  readonly host: string | null;
  /** The release it was taken before. */
  readonly release: string | null;
  /** When it was recorded (ISO 8601, UTC). */
  readonly at: string;
  /** True when this run took it. */
  readonly takenHere: boolean;
}

const BACKUP_ID = /^backup (\S+) /;

/**
 * The newest backup of the shared database on `sql` recorded for `release`
 * (for any release when `release` is `null`), or `null`. Reads only.
 */
export async function recordedBackup(
  sql: Sql,
  database: string,
  release: string | null,
): Promise<SharedBackup | null> {
  if (!(await hasLedger(sql))) return null;
  const rows = await sql.query(
    `select at, message, code_version, host from ${ledgerTable(sql, "lockstep_events")}
      where kind = 'backup' ${release === null ? "" : "and code_version = $1"}
      order by id desc limit 1`,
    release === null ? [] : [release],
  );
  const row = rows[0];
  const id = row && BACKUP_ID.exec(String(row.message))?.[1];
  if (!row || !id) return null;
  return {
    database,
    backup: id,
    host: row.host === null ? null : String(row.host),
    release: row.code_version === null ? null : String(row.code_version),
    at: row.at instanceof Date ? row.at.toISOString() : String(row.at),
    takenHere: false,
  };
}

/**
 * Before migrating shared databases `names`: each one without a backup for
 * this release (`stamp.codeVersion`) is backed up here (database only) and
 * the backup recorded in its event log; each one with one is named.
 */
export async function backUpShared(
  config: Config,
  connections: Connections,
  names: readonly string[],
  stamp: Stamp,
  lockTimeoutMs: number,
): Promise<SharedBackup[]> {
  const found: SharedBackup[] = [];
  for (const name of names) {
    const sql = await connections.get(name);
    const recorded = stamp.codeVersion === null
      ? null
      : await recordedBackup(sql, name, stamp.codeVersion);
    if (recorded !== null) {
      found.push(recorded);
      continue;
    }
    const made = await backup(config, {
      dbOnly: true,
      databases: [name],
      label: `before-migrate-${name}`.slice(0, 64),
      tableLockTimeoutMs: lockTimeoutMs,
    });
    await recordEvent(sql, {
      kind: "backup",
      message: `backup ${made.id} of database "${name}" before migrating it for ` +
        `${stamp.codeVersion ?? "this release"} (host ${stamp.host ?? "unnamed"}, ${made.path})`,
    }, stamp);
    found.push({
      database: name,
      backup: made.id,
      host: stamp.host,
      release: stamp.codeVersion,
      at: made.created,
      takenHere: true,
    });
  }
  return found;
}

/**
 * For a host's own backup in a fleet: what covers each shared database it
 * leaves out (the newest recorded backup, and the host that holds it).
 */
export async function describeSharedCover(config: Config): Promise<string> {
  const shared = sharedDatabases(config);
  if (shared.length === 0) return "";
  await using connections = new Connections(config, { readOnly: true });
  const parts: string[] = [];
  for (const db of shared) {
    const recorded = await recordedBackup(await connections.get(db.name), db.name, null);
    parts.push(
      recorded === null
        ? `"${db.name}" is backed up by the host that migrates it (none has yet)`
        : `"${db.name}" is covered by backup ${recorded.backup} on host ` +
          `${recorded.host ?? "unnamed"} (${recorded.at})`,
    );
  }
  return `shared database ${parts.join("; ")}`;
}
