/**
 * The shapes shared by discovery, planning and running migrations.
 *
 * @module
 */
import type { Sql } from "../sql/driver.ts";
import type { RootFiles } from "../files.ts";

/** What a migration's hooks receive. */
export interface MigrationContext {
  /** The migration's database; inside its transaction unless `transaction: false`. */
  readonly sql: Sql;
  /** The application's files, confined to the app root; changes are undone if the migration fails. */
  readonly files: RootFiles;
  /** Records a line in the run's log (shown by the CLI, kept in `lockstep_events`). */
  readonly log: (message: string) => void;
  /** Reports progress of a long step: `done` out of `total`. */
  readonly progress: (done: number, total: number) => void;
  /** True in unattended mode (`--yes`): never wait for input, use defaults. */
  readonly yes: boolean;
}

/** What a `.ts` migration default-exports. */
export interface MigrationModule {
  /** One line saying what the migration does. */
  info: string;
  /** Ids of other packages' migrations (or release markers) that must run first. */
  dependsOn?: string[];
  /** `false` runs without a transaction, one statement per query (default `true`). */
  transaction?: boolean;
  /**
   * `expand` (default): the previous release keeps working after it.
   * `contract`: it breaks the previous release; in a fleet it waits until no
   * running host has older code (see {@link Phase}).
   */
  phase?: Phase;
  /** Expected duration in seconds, shown by `migrate --dry-run`. */
  estimate?(ctx: MigrationContext): number | Promise<number>;
  /** Runs before `up`, in the same transaction. */
  pre?(ctx: MigrationContext): void | Promise<void>;
  /** The change. */
  up(ctx: MigrationContext): void | Promise<void>;
  /** Runs after `up`, in the same transaction. */
  post?(ctx: MigrationContext): void | Promise<void>;
  /** Reverts `up`; lockstep never runs it on its own (downgrades are not supported). */
  down?(ctx: MigrationContext): void | Promise<void>;
}

/**
 * Whether the previous release survives a migration: `expand` (additive: new
 * tables, nullable columns, new indexes) or `contract` (drops, renames, NOT
 * NULL on existing columns). Old code tolerates unknown `expand` migrations
 * in the ledger; an unknown `contract` one is "database ahead".
 */
export type Phase = "expand" | "contract";

/** A ledger row as the planner needs it. */
export interface AppliedRef {
  /** The migration id. */
  readonly id: string;
  /** The checksum recorded when it was applied. */
  readonly checksum: string;
  /** Its phase as recorded (rows written before phases were recorded: `expand`). */
  readonly phase?: Phase;
  /** The code version that applied it. */
  readonly codeVersion?: string | null;
  /** The package it belongs to. */
  readonly package?: string;
  /** The database whose ledger holds it. */
  readonly database?: string;
}

/** The facts the planner needs about one migration: pure data. */
export interface MigrationNode {
  /** `<package>/<file stem>`. */
  readonly id: string;
  /** The package it belongs to. */
  readonly package: string;
  /** The 14-digit timestamp of its file name. */
  readonly timestamp: string;
  /** Explicit dependencies (the previous migration of the package is implied). */
  readonly dependsOn: readonly string[];
  /** `v1:<sha256 hex of the file bytes>`. */
  readonly checksum: string;
  /** `contract` when it breaks the previous release; absent means `expand`. */
  readonly phase?: Phase;
}

/** A migration found on disk. */
export interface Migration extends MigrationNode {
  /** The file stem: `<timestamp>_<name>`. */
  readonly stem: string;
  /** Absolute path of the file. */
  readonly path: string;
  /** `sql` or `ts`. */
  readonly kind: "sql" | "ts";
  /** One line saying what it does. */
  readonly info: string;
  /** `false` for `-- lockstep:no-transaction` / `transaction: false`. */
  readonly transaction: boolean;
  /** For release markers: the release version. */
  readonly release?: string;
  /** `.sql` only: the statements to apply. */
  readonly up?: string;
  /** `.sql` only: the `-- lockstep:down` section. */
  readonly down?: string;
  /** `.ts` only: the loaded module. */
  readonly module?: MigrationModule;
}

/** A package's baseline: the schema as of one of its migrations, for empty databases. */
export interface Baseline {
  /** The package. */
  readonly package: string;
  /** Absolute path of `baseline.sql` or `baseline.ts`. */
  readonly path: string;
  /** The id of the last migration the baseline covers. */
  readonly covers: string;
  /** `.sql`: the script. */
  readonly up?: string;
  /** `.ts`: the loaded module. */
  readonly module?: Pick<MigrationModule, "up" | "info">;
  /** `v1:<sha256>` of the file. */
  readonly checksum: string;
}

/** One row of `lockstep_migrations`. */
export interface LedgerRow {
  readonly id: string;
  readonly package: string;
  readonly checksum: string;
  readonly appliedAt: string;
  readonly durationMs: number;
  readonly action: "applied" | "stamped" | "baseline";
  /** `expand` or `contract`, as the code that applied it declared. */
  readonly phase: Phase;
  readonly codeVersion: string | null;
  readonly host: string | null;
  /** The database whose ledger holds the row. */
  readonly database: string;
}
