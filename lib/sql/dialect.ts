/**
 * The one interface every database lockstep supports implements: a
 * {@link SqlDialect}. Everything that differs between SQLite and PostgreSQL
 * is behind it — how a URL is read, which files hold the database, opening
 * a connection, the ledger's DDL and writes, reading the schema for drift, a
 * snapshot to read it in, running a script without a transaction, and
 * backing up, checking and restoring the database. The rest of lockstep asks
 * `dialectOf(db)` (in `dialects.ts`) and never branches on a dialect's name.
 *
 * ## How to add a database
 *
 * 1. Add its name to `Dialect` in `driver.ts`, and the formats of its backup
 *    artifacts to {@link ArtifactFormat}.
 * 2. Make a folder `lib/sql/<name>/` with one file per part, each
 *    implementing one of the interfaces below: `url.ts` ({@link UrlSyntax}),
 *    `driver.ts` (a `Database` from `driver.ts`, whose `transaction()` goes
 *    through `inTransaction()` or keeps both errors as it does, plus the
 *    rest of {@link Connector}), `ledger.ts` ({@link LedgerSql}: DDL that
 *    creates every table of {@link LEDGER_TABLES}, idempotently),
 *    `schema.ts` ({@link SchemaReader}) and the backup files
 *    ({@link Dumper}). Compose them in `lib/sql/<name>/dialect.ts`.
 * 3. An npm driver is imported through its one file under `lib/deps/`, with a
 *    dynamic `import()` at the moment a database of that kind is first
 *    opened: importing `mod.ts`, or running `check` on a config without such
 *    a database, must not load it. Large parts that only backups use (a
 *    dump writer, a restore) are imported the same way.
 * 4. Register the dialect in `DIALECTS` (`dialects.ts`). `lockstep.json`
 *    accepts its URLs from then on.
 * 5. Add it to `BACKENDS` in `tests/helpers/app.ts`: the conformance suite
 *    (`tests/dialect_conformance_test.ts`) and every test written for each
 *    backend then run against it. Add tests of your own for what only your
 *    database has (its URL options, its lock).
 *
 * Guidelines, as golang-migrate gives its drivers:
 *
 * - Take every setting from the {@link DatabaseConfig}; never read the
 *   environment (the CLI resolves `passwordEnv`).
 * - Do not correct what the operator wrote: refuse with a message that names
 *   the database (`Cannot … database "main" (…): …`) and masks credentials
 *   (`redact()`).
 * - lockstep's own statements must not depend on the session state a
 *   migration leaves behind (`search_path` included): name ledger tables
 *   with {@link ledgerTable}, and make `resetSession` put the session back.
 * - Stream backups and restores: memory stays flat whatever the size.
 * - Bound every lock wait (`OpenOptions.lockTimeoutMs`): a wait past it is
 *   `LOCK_HELD` naming who holds the lock when the database can tell; a
 *   connection lost mid-statement is `DATABASE_UNREACHABLE`, never the
 *   driver's own error.
 * - A backup artifact carries every object of the managed schemas, or the
 *   backup is refused naming what it cannot carry (`BACKUP_INCOMPLETE`)
 *   unless a partial one was asked for; `trialRestore` proves it restores.
 *
 * @module
 */
import type { Database, Dialect, Sql } from "./driver.ts";

/** A configured database, resolved. */
export interface DatabaseConfig {
  /** The name used in `packages.*.database`. */
  readonly name: string;
  /** `sqlite:/absolute/path` or the `postgres://` URL as written (without password). */
  readonly url: string;
  /** The dialect, from the URL scheme. */
  readonly dialect: Dialect;
  /** SQLite: the absolute file path. */
  readonly path?: string;
  /** PostgreSQL: the password read from `passwordEnv`, if any. */
  readonly password?: string;
  /** PostgreSQL: the environment variable that holds the password. */
  readonly passwordEnv?: string;
  /** PostgreSQL: why `password` is missing although `passwordEnv` is set. */
  readonly passwordMissing?: "unset" | "not granted";
  /** PostgreSQL: the schemas lockstep manages (default `["public"]`). */
  readonly schemas: readonly string[];
}

/** Options for opening a database. */
export interface OpenOptions {
  /** Open for reading only (`check`, `status`): default `false`. */
  readOnly?: boolean;
  /**
   * How long a statement waits for a lock another connection holds, in ms:
   * PostgreSQL's `lock_timeout` for the session (a wait past it fails with
   * `LOCK_HELD` naming the sessions that hold locks), SQLite's busy timeout.
   * Default: SQLite 5000; PostgreSQL the server's setting.
   */
  lockTimeoutMs?: number;
  /** Receives PostgreSQL notices. */
  onNotice?: (message: string) => void;
}

/** The ledger table names, which lockstep never treats as application tables. */
export const LEDGER_TABLES = [
  "lockstep_migrations",
  "lockstep_packages",
  "lockstep_schema",
  "lockstep_events",
  "lockstep_hosts",
] as const;

/**
 * The `phase` column of `lockstep_migrations`, as created and as added to a
 * ledger an older lockstep made (the same text on every dialect).
 */
export const PHASE_COLUMN =
  "phase text not null default 'expand' check (phase in ('expand', 'contract'))";

/** One of the ledger's tables. */
export type LedgerTable = typeof LEDGER_TABLES[number];

/**
 * The ledger table `table` as lockstep's statements name it: qualified with
 * the connection's {@link Sql.ledgerSchema}, so that no `search_path` (or a
 * temporary table of the same name) changes which table it is.
 */
export function ledgerTable(sql: Pick<Sql, "ledgerSchema">, table: LedgerTable): string {
  return `${quoteIdent(sql.ledgerSchema)}.${table}`;
}

/** Quotes an SQL identifier (the same on SQLite and PostgreSQL). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** One applied (or stamped, or baselined) migration, as the ledger records it. */
export interface MigrationRecord {
  /** The migration's id. */
  readonly id: string;
  /** Its package; the package's version becomes this id. */
  readonly package: string;
  /** `v1:` and the SHA-256 of its file. */
  readonly checksum: string;
  /** When (ISO 8601, UTC): `applied_at`, the package's `updated_at` and the event's `at`. */
  readonly appliedAt: string;
  /** How long it ran. */
  readonly durationMs: number;
  /** What was done; also the event's kind. */
  readonly action: "applied" | "stamped" | "baseline";
  /** `expand` or `contract`: whether the previous release survives it. */
  readonly phase: "expand" | "contract";
  /** The code version that recorded it. */
  readonly codeVersion: string | null;
  /** The host that recorded it. */
  readonly host: string | null;
  /** The event's message. */
  readonly message: string;
}

/** One table as a dialect reads it for drift: kind → item name → normalised definition. */
export interface TableItems {
  /** SQLite's normalised `CREATE TABLE` text (PostgreSQL has none: its items say it all). */
  definition?: string;
  /** Columns. */
  column: Record<string, string>;
  /** Indexes. */
  index: Record<string, string>;
  /** Constraints. */
  constraint: Record<string, string>;
  /** Triggers. */
  trigger: Record<string, string>;
}

/**
 * How a database's backup artifact is written: `sqlite` (a database file),
 * `pg_dump` (custom format), `lockstep-sql` (lockstep's gzip'ed SQL script),
 * or `absent` (a SQLite file that did not exist yet: there is no artifact).
 */
export type ArtifactFormat = "sqlite" | "pg_dump" | "lockstep-sql" | "absent";

/** What a dialect wrote into a backup folder for one database. */
export interface BackupArtifact<T> {
  /** The artifact's file name in the folder (`""` when `absent`). */
  readonly artifact: string;
  /** How it was written. */
  readonly format: ArtifactFormat;
  /** Hex SHA-256 of the artifact. */
  readonly sha256: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Objects the artifact does not carry, as `kind name (schema s)`. */
  readonly skipped: readonly string[];
  /** What `DumpOptions.record` read, or `null` when the database does not exist. */
  readonly record: T | null;
  /**
   * True when `sha256` was computed by reading the artifact back from disk
   * after it was synced (SQLite's copy, written by SQLite itself): the
   * backup's own read-back need not hash it again.
   */
  readonly readBack?: boolean;
}

/** Options for {@link Dumper.backup}. */
export interface DumpOptions<T> {
  /** The artifact's file name without its extension (`db-main`). */
  readonly stem: string;
  /** Use the database's own dump tool when it may be run (PostgreSQL: `pg_dump`). */
  readonly tool: boolean;
  /**
   * Write the artifact even when it cannot carry every object (PostgreSQL's
   * built-in dump), listing them in `skipped`; otherwise such a backup is
   * refused with `BACKUP_INCOMPLETE` (default `false`).
   */
  readonly partial?: boolean;
  /** How long a read waits for a table another session locked, in ms (default: no limit). */
  readonly lockTimeoutMs?: number;
  /**
   * Reads what the backup records beside the artifact (the ledger), from a
   * config that shows the database as backed up: the copy itself when it is
   * a database (SQLite), else the live database just before the dump.
   */
  record(db: DatabaseConfig): Promise<T>;
}

/** What a URL says, once a dialect has read it. */
export interface ParsedUrl {
  /** The URL as stored in the config (a SQLite path made absolute). */
  readonly url: string;
  /** The database file, for file databases. */
  readonly path?: string;
}

/** How a database is named in `lockstep.json`, and where it lives. */
export interface UrlSyntax {
  /** The dialect's name, as `DatabaseConfig.dialect` and backup.json hold it. */
  readonly name: Dialect;
  /** Its name for people: `SQLite`, `PostgreSQL`. */
  readonly title: string;
  /** How its URLs start, for messages: `sqlite:`, `postgres://`. */
  readonly urlPrefix: string;
  /** True when a `passwordEnv` applies. */
  readonly takesPassword: boolean;
  /**
   * True for a server several hosts can reach: in a fleet (`fleet` in
   * lockstep.json) such a database is shared, and the host registry lives in it.
   */
  readonly shared: boolean;
  /** True when `url` names a database of this dialect (by its scheme). */
  matches(url: string): boolean;
  /**
   * Reads a URL that {@link matches}; relative paths resolve against `base`
   * (the config's folder). `fail` is called with what is wrong, worded to
   * follow the key: `names no file ("sqlite:PATH")`.
   */
  parseUrl(url: string, base: string, fail: (problem: string) => never): ParsedUrl;
  /** The schemas lockstep manages, given the configured ones (`undefined`: none given). */
  managedSchemas(configured: readonly string[] | undefined): readonly string[];
  /**
   * The files the database lives in (a file, its journals), which a files
   * backup must leave to the database's own backup; none for a server.
   */
  files(db: DatabaseConfig): readonly string[];
}

/** Connecting, and what a connection does differently. */
export interface Connector {
  /**
   * Opens `db`.
   *
   * @throws {LockstepError} `DATABASE_UNREACHABLE` (with `data.missing` when a
   * read-only open finds no SQLite file), `CONFIG_INVALID`.
   */
  open(db: DatabaseConfig, options?: OpenOptions): Promise<Database>;
  /**
   * Runs `fn` on one consistent snapshot of `db`, reading only: it works on
   * a read-only connection.
   */
  snapshot<T>(db: Database, fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * Runs a script of one or more statements outside any transaction, as a
   * `transaction: false` migration needs (every statement that succeeded
   * stays applied when a later one fails).
   */
  runWithoutTransaction(sql: Sql, script: string): Promise<void>;
  /**
   * Puts back the session state a migration may have changed (PostgreSQL:
   * every setting, `search_path` and the role included), inside or outside
   * a transaction, so that what runs next (lockstep's own statements, the
   * next migration) starts from the session as lockstep opened it.
   */
  resetSession(sql: Sql): Promise<void>;
}

/** The dialect's side of the ledger (`lib/migrations/ledger.ts` holds the rest). */
export interface LedgerSql {
  /**
   * DDL that creates every table of {@link LEDGER_TABLES} that is missing
   * but `lockstep_hosts` ({@link hostsDdlIn}), in the schema `schema` (the
   * connection's {@link Sql.ledgerSchema}), naming each table qualified.
   */
  ledgerDdlIn(schema: string): string;
  /** {@link ledgerDdlIn} for the default ledger schema (SQLite `main`, PostgreSQL `public`). */
  readonly ledgerDdl: string;
  /** True when the ledger exists in the connection's ledger schema. Reads only. */
  hasLedger(sql: Sql): Promise<boolean>;
  /**
   * One value that changes whenever a row of `lockstep_migrations` is
   * added, removed or changed (its id, package, checksum, action, time, code
   * version or host): `check`'s hint that the ledger is as it was. Reads
   * only; the ledger must exist.
   */
  ledgerFingerprint(sql: Sql): Promise<string>;
  /** True when ledger table `table` exists in the connection's ledger schema. Reads only. */
  hasLedgerTable(sql: Sql, table: LedgerTable): Promise<boolean>;
  /** The column names of ledger table `table` (empty when it is missing). Reads only. */
  ledgerColumns(sql: Sql, table: LedgerTable): Promise<Set<string>>;
  /**
   * DDL that creates `lockstep_hosts` (the fleet's host registry) when
   * missing, in `schema`: only a shared database (in a fleet) has one.
   */
  hostsDdlIn(schema: string): string;
  /**
   * The database's clock as a value of the ledger's time columns (the fleet
   * registry compares every host's last-seen time with one clock).
   */
  readonly now: string;
  /** Seconds from time column `column` to the database's clock, as a number. */
  ageSeconds(column: string): string;
  /**
   * Inserts the migration's row into `lockstep_migrations`, makes it its
   * package's version in `lockstep_packages`, and appends the event to
   * `lockstep_events`, in as few round trips as the database allows (every
   * table named with {@link ledgerTable}).
   */
  recordMigration(sql: Sql, record: MigrationRecord): Promise<void>;
}

/** Reading the schema for drift, and the SQL spellings the drift record needs. */
export interface SchemaReader {
  /**
   * Every managed table's items (with `only`, those of the tables it names),
   * keyed by the name reports use (`users`; `public.users` on PostgreSQL),
   * ledger tables left out. Reads only; call it inside a transaction
   * (PostgreSQL pins `search_path` with `set local`).
   */
  readTables(
    sql: Sql,
    schemas: readonly string[],
    only?: ReadonlySet<string>,
  ): Promise<Map<string, TableItems>>;
  /**
   * One cheap value that changes whenever a table {@link readTables} reads,
   * or the drift record in `lockstep_schema`, changes: on SQLite the text of
   * `sqlite_schema` and the record's hashes; on PostgreSQL the identity and
   * row version (`xmin`) of every catalog row a table's definition is read
   * from, and the record's hashes. Equal fingerprints mean an unchanged
   * schema and record; a different one only means "compare again". Reads
   * only; call it inside the same transaction as {@link readTables}.
   */
  fingerprint(sql: Sql, schemas: readonly string[]): Promise<string>;
  /**
   * For each table ({@link readTables}'s keys, ledger tables included), a
   * cheap value that changes whenever what {@link readTables} reads of it
   * changes: on SQLite the text of its `sqlite_schema` rows (the table's,
   * its indexes' and triggers'); on PostgreSQL the identity and row version
   * (`xmin`: every DDL writes new catalog rows) of each catalog row its
   * definition is printed from, including the functions, types, collations,
   * sequences and tables it names. Under the key `""`, the same for what no
   * one table owns (schemas, views…): when that changes, any table may have.
   * Equal values mean an unchanged table; a different one only means "read
   * it again". Reads only; call it inside the same transaction as
   * {@link readTables}.
   */
  tableFingerprints(sql: Sql, schemas: readonly string[]): Promise<Map<string, string>>;
  /**
   * A `FROM` item with one row per element of the JSON array in text
   * parameter `param` (`$1`), in a column `value`: the element as text, or
   * as JSON to take apart with {@link jsonElement}.
   */
  jsonRows(param: string, as: "text" | "json"): string;
  /** Element `index` of the JSON array in column `value`, as text. */
  jsonElement(index: number): string;
  /** Text parameter `param` (ISO 8601) as a value of the ledger's time columns. */
  timestamp(param: string): string;
}

/** Backing up, checking and restoring a database. */
export interface Dumper {
  /**
   * Writes `db`'s artifact into `folder` (owner-only, synced), streaming.
   *
   * @throws {LockstepError} `DATABASE_UNREACHABLE`, `BACKUP_TOOL_FAILED`,
   * `BACKUP_INCOMPLETE` (objects it cannot carry, without `partial`), `LOCK_HELD`.
   */
  backup<T>(
    db: DatabaseConfig,
    folder: string,
    options: DumpOptions<T>,
  ): Promise<BackupArtifact<T>>;
  /** Why the artifact at `path` is unusable (it does not open, it is cut short), or `undefined`. */
  checkArtifact(path: string, format: ArtifactFormat): Promise<string | undefined>;
  /**
   * Throws when an artifact of `format` could not be restored here (a tool
   * that may not be run): checked before a restore changes anything.
   *
   * @throws {LockstepError} `PERMISSION_DENIED`.
   */
  refuseUnrestorable(database: string, format: ArtifactFormat): void;
  /**
   * Puts the artifact at `path` back as `db`'s whole content, all or nothing
   * (`absent`: removes the database). Restoring twice gives the same result.
   *
   * @throws {LockstepError} `BACKUP_INVALID`, `BACKUP_TOOL_FAILED`,
   * `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`.
   */
  restore(db: DatabaseConfig, path: string, format: ArtifactFormat): Promise<void>;
  /**
   * Restores the artifact at `path` into a scratch copy of `db` that it
   * removes afterwards (PostgreSQL: a scratch database on the same server;
   * SQLite: a file in `scratchFolder`), as {@link restore} would restore it;
   * says why it did not restore, or `undefined`. The live database is only
   * read.
   *
   * @throws {LockstepError} `PERMISSION_DENIED`, `DATABASE_UNREACHABLE`.
   */
  trialRestore(
    db: DatabaseConfig,
    path: string,
    format: ArtifactFormat,
    scratchFolder: string,
  ): Promise<string | undefined>;
}

/** Everything that differs between databases: see the module documentation. */
export interface SqlDialect extends UrlSyntax, Connector, LedgerSql, SchemaReader, Dumper {}
