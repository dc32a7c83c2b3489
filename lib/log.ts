/**
 * `log`: the history an operator asks for (Flyway's `info`, Sqitch's
 * `log`): every database's `lockstep_events` (migrations applied, stamped,
 * baselined or failed, drift accepted, schemas recorded, restores) and the
 * code's install and restore history from state.json, newest first. Reads
 * only, takes no lock.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { LockstepError } from "./errors.ts";
import { Connections } from "./migrations/connections.ts";
import { hasLedger } from "./migrations/ledger.ts";
import { ledgerTable } from "./sql/dialect.ts";
import { readState, type State } from "./state.ts";

/** One line of the history. */
export interface LogEntry {
  /** When (ISO 8601, UTC). */
  readonly at: string;
  /**
   * The database whose ledger holds it, `code` for installs and restores of
   * the files, or `pack:<name>` for a pack's installs, removals and toggles.
   */
  readonly source: string;
  /**
   * What happened: `applied`, `stamped`, `baseline`, `failed`,
   * `checksum-accepted`, `drift-accepted`, `schema-recorded`, `restored`,
   * `pack-install`, `pack-remove`, `pack-purge` (databases); `install`,
   * `restore` (code); `install`, `remove`, `purge`, `enable`, `disable` (packs).
   */
  readonly action: string;
  /** The migration id, or the code version, when there is one. */
  readonly id: string | null;
  /** How long an applied migration took, in ms. */
  readonly durationMs: number | null;
  /** The host that did it, when recorded. */
  readonly host: string | null;
  /** The code version that did it, when recorded. */
  readonly codeVersion: string | null;
  /** `failed` for a failed migration, else `ok`. */
  readonly outcome: "ok" | "failed";
  /** What was recorded, for people. */
  readonly message: string;
}

/** Options for {@link log}. */
export interface LogOptions {
  /** At most this many entries, the newest (default 50). */
  limit?: number;
  /** Only this database's events (default: every database and the code's history). */
  database?: string;
}

/**
 * The history, newest first: see the module documentation.
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. It takes no lock and writes nothing.
 *
 * @throws {LockstepError} `USAGE` (an unknown database or a bad limit),
 * `DATABASE_UNREACHABLE`, `FILE_INVALID` (state.json).
 * @example
 * ```ts ignore
 * for (const e of await log(config, { limit: 20 })) console.log(e.at, e.source, e.action, e.id);
 * ```
 */
export async function log(config: Config, options: LogOptions = {}): Promise<LogEntry[]> {
  const { limit = 50, database } = options;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new LockstepError("USAGE", `Cannot show the log: --limit takes a whole number above 0.`);
  }
  if (database !== undefined && config.databases[database] === undefined) {
    throw new LockstepError(
      "USAGE",
      `Cannot show the log of database "${database}": lockstep.json names no such database ` +
        `(it has ${Object.keys(config.databases).map((n) => `"${n}"`).join(", ")}).`,
      { data: { database } },
    );
  }
  const entries: LogEntry[] = [];
  if (database === undefined) entries.push(...await codeHistory(config));
  await using connections = new Connections(config, { readOnly: true });
  const names = database === undefined ? Object.keys(config.databases).sort() : [database];
  for (const name of names) entries.push(...await databaseEvents(connections, name, limit));
  return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, limit);
}

/** Installs and restores of the code, from state.json. */
async function codeHistory(config: Config): Promise<LogEntry[]> {
  const state = await readState(config);
  return [
    ...state.history.map((item) => {
      const restore = item.action === "restore";
      return {
        at: item.at,
        source: "code",
        action: restore ? "restore" : "install",
        id: item.version,
        durationMs: null,
        host: null,
        codeVersion: item.version,
        outcome: "ok",
        message: restore
          ? `restored backup ${item.bundle} (code ${item.version})`
          : `installed ${item.version} from ${item.bundle}`,
      } as const;
    }),
    ...packHistory(state),
  ];
}

/** Each pack's installs, removals and toggles, from state.json. */
function packHistory(state: State): LogEntry[] {
  return Object.entries(state.packs).flatMap(([name, pack]) =>
    pack.history.map((item) => ({
      at: item.at,
      source: `pack:${name}`,
      action: item.action,
      id: item.version,
      durationMs: null,
      host: null,
      codeVersion: null,
      outcome: "ok" as const,
      message: item.action === "install"
        ? `installed pack ${name} ${item.version} from ${item.bundle}`
        // removed, purged, enabled, disabled
        : `${item.action}d pack ${name} ${item.version}`,
    }))
  );
}

/** The newest `limit` events of one database, with the duration of applied migrations. */
async function databaseEvents(
  connections: Connections,
  name: string,
  limit: number,
): Promise<LogEntry[]> {
  const db = await connections.getExisting(name);
  if (db === null || !(await hasLedger(db))) return [];
  const rows = await db.query(
    `select e.at, e.kind, e.migration, e.message, e.code_version, e.host, m.duration_ms
       from ${ledgerTable(db, "lockstep_events")} e
       left join ${ledgerTable(db, "lockstep_migrations")} m
         on m.id = e.migration and e.kind in ('applied', 'stamped', 'baseline')
      order by e.id desc
      limit $1`,
    [limit],
  );
  return rows.map((r) => ({
    at: r.at instanceof Date ? r.at.toISOString() : String(r.at),
    source: name,
    action: String(r.kind),
    id: r.migration === null ? null : String(r.migration),
    durationMs: r.duration_ms === null || r.duration_ms === undefined
      ? null
      : Number(r.duration_ms),
    host: r.host === null ? null : String(r.host),
    codeVersion: r.code_version === null ? null : String(r.code_version),
    outcome: r.kind === "failed" ? "failed" : "ok",
    message: String(r.message),
  }));
}
