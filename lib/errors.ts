/**
 * The one error type operators handle, with a stable string `code`, and the
 * mapping from codes to process exit codes.
 *
 * @module
 */
import { describeOsError, saysDiskFull } from "./os_errors.ts";

/** Every error code lockstep raises; the README lists each with its meaning. */
export const ERROR_CODES = [
  "CONFIG_NOT_FOUND",
  "CONFIG_INVALID",
  "USAGE",
  "CONFIRMATION_REQUIRED",
  "PERMISSION_DENIED",
  "ACCESS_DENIED",
  "IO_FAILED",
  "PATH_UNSAFE",
  "FILE_NOT_FOUND",
  "FILE_INVALID",
  "DATABASE_UNREACHABLE",
  "DATABASE_AHEAD",
  "DATABASE_NOT_ADOPTED",
  "COMMAND_NOT_FOUND",
  "LOCK_HELD",
  "LOCK_LOST",
  "MIGRATION_FILE_INVALID",
  "MIGRATION_INVALID",
  "MIGRATION_DUPLICATE",
  "MIGRATION_CYCLE",
  "MIGRATION_UNKNOWN_DEPENDENCY",
  "MIGRATION_ANCESTOR_UNAPPLIED",
  "MIGRATION_CHANGED",
  "MIGRATION_NOT_FOUND",
  "MIGRATION_FAILED",
  "MIGRATION_EXISTS",
  "KEY_EXISTS",
  "KEY_INVALID",
  "BUNDLE_NAME_UNSAFE",
  "BUNDLE_CORRUPT",
  "BUNDLE_HEADER_MISMATCH",
  "BUNDLE_ENTRIES_OVERLAP",
  "BUNDLE_HIDDEN_DATA",
  "BUNDLE_DUPLICATE_KEY",
  "BUNDLE_ENTRY_UNSUPPORTED",
  "BUNDLE_TOO_LARGE",
  "BUNDLE_MANIFEST_INVALID",
  "BUNDLE_PATH_UNSAFE",
  "BUNDLE_PATH_COLLISION",
  "BUNDLE_CONTENT_MISMATCH",
  "BUNDLE_SIGNATURE_INVALID",
  "BUNDLE_WRONG_APP",
  "BUNDLE_VERSION_REFUSED",
  "BUNDLE_NOT_APPLICABLE",
  "BUNDLE_AMBIGUOUS",
  "BUNDLE_REQUIREMENT_UNMET",
  "BUNDLE_PROTECTED_PATH",
  "BUNDLE_TARGET_UNWRITABLE",
  "BUNDLE_SECRET_FILE",
  "BUNDLE_SOURCE_LINK",
  "DISK_FULL",
  "DISK_SPACE_SHORT",
  "JOURNAL_OPEN",
  "UNDO_OPEN",
  "BACKUP_NOT_FOUND",
  "BACKUP_INVALID",
  "BACKUP_WRONG_APP",
  "BACKUP_TOOL_FAILED",
  "BACKUP_INCOMPLETE",
  "UPDATE_BLOCKED",
  "UPDATE_FAILED",
  "GATE_REFUSED",
  "SCHEMA_DRIFT",
  "PREREQUISITE_UNMET",
  "VERSION_FILE_MISSING",
  "MIGRATIONS_PENDING",
  "BUNDLES_PENDING",
  "MAINTENANCE_ON",
  "SCHEMA_UNRECORDED",
  "INTERRUPTED",
  "SCHEMA_UNDETERMINED",
  "CONTRACT_WAITING",
  "NEWER_RELEASE_EXPANDED",
  "FLEET_MIXED_VERSIONS",
  "FLEET_UNREGISTERED",
  "FLEET_NOT_CONFIGURED",
  "FLEET_HOST_UNKNOWN",
  "FLEET_HOST_ACTIVE",
  "PACK_INVALID",
  "PACK_NAME_INVALID",
  "PACK_NOT_ALLOWED",
  "PACK_FOLDER_OWNED",
  "PACK_NOT_FOUND",
  "PACK_NOT_INSTALLED",
  "PACK_REQUIREMENT_UNMET",
  "PACK_CYCLE",
  "PACK_HAS_DEPENDENTS",
  "PACK_PURGE_REFUSED",
  "FEED_NOT_CONFIGURED",
  "FEED_UNREACHABLE",
  "FEED_TIMEOUT",
  "FEED_TOO_LARGE",
  "FEED_REDIRECT_REFUSED",
  "FEED_INVALID",
  "FEED_SIGNATURE_INVALID",
  "FEED_WRONG_APP",
  "FEED_ROLLBACK",
  "FEED_EXPIRED",
  "FEED_ENTRY_REFUSED",
  "FEED_DOWNLOAD_MISMATCH",
  "FEED_STALE",
  "CLOCK_SUSPECT",
  "SECURITY_UPDATE_AVAILABLE",
  "INTERNAL",
] as const;

/** A stable error code: compare on this, never on the message. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Process exit codes shared by every command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  bundlesPending: 3,
  migrationsPending: 4,
  blocked: 5,
  busy: 6,
  updatesAvailable: 7,
  securityUpdate: 8,
} as const;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  "CONFIG_NOT_FOUND",
  "CONFIG_INVALID",
  "USAGE",
  "CONFIRMATION_REQUIRED",
  "FLEET_NOT_CONFIGURED",
  "FEED_NOT_CONFIGURED",
]);

/**
 * The shape of `data` for the codes whose facts callers act on. Codes not
 * listed carry a plain record.
 */
export interface ErrorDataMap {
  /** The interrupted operation's label (`install shop 1.5.0`) and when it began. */
  JOURNAL_OPEN: { readonly label: string | null; readonly created: string | null };
  /** Ledger ids the code does not know, and the databases holding them. */
  DATABASE_AHEAD: { readonly ids: readonly string[]; readonly databases: readonly string[] };
  /** Each applied migration whose file changed, with both checksums. */
  MIGRATION_CHANGED: {
    readonly changed: readonly { id: string; recorded: string; current: string }[];
  };
  /**
   * The drifted databases, and every change (a `DriftChange`: table, kind,
   * name, change, recorded, live) with its database.
   */
  SCHEMA_DRIFT: {
    readonly databases: readonly string[];
    readonly changes: readonly Readonly<{ database: string }>[];
  };
  /** The runtime versions and the requirements this host does not meet. */
  PREREQUISITE_UNMET: {
    readonly deno: string;
    readonly lockstep: string;
    readonly requires: Readonly<Record<string, string>>;
    readonly unmet: readonly string[];
  };
  /** Pending migration ids, in order. */
  MIGRATIONS_PENDING: { readonly pending: readonly string[] };
  /** The database that has tables but no migration applied, and those tables. */
  DATABASE_NOT_ADOPTED: { readonly database: string; readonly tables: readonly string[] };
  /** Applicable bundle files, in version order, and whether any is a security release. */
  BUNDLES_PENDING: { readonly bundles: readonly string[]; readonly security: boolean };
  /** The maintenance flag as it is. */
  MAINTENANCE_ON: {
    readonly on: boolean;
    readonly since: string | null;
    readonly message: string | null;
    readonly by: string | null;
  };
  /** The database and why its record is not current. */
  SCHEMA_UNRECORDED: { readonly database: string; readonly record: "stale" | "unrecorded" };
  /** What held the lock, where. */
  LOCK_HELD: Readonly<Record<string, unknown>>;
  /** The migration that failed, its database, and what this run applied before it. */
  MIGRATION_FAILED: {
    readonly id: string;
    readonly database: string;
    readonly applied: readonly string[];
  };
  /**
   * The step that failed, its error code, the backup taken first, whether
   * everything the run changed was put back, and the databases restored from
   * the backup (whose writes since it are gone).
   */
  UPDATE_FAILED: {
    readonly step: string;
    readonly code: string;
    readonly backup: string | null;
    readonly restored: boolean;
    readonly databases: readonly string[];
  };
  /** The blocking problems' codes. */
  UPDATE_BLOCKED: { readonly problems: readonly string[] };
  /** check's exit code (3, 4 or 5) and its whole report. */
  GATE_REFUSED: { readonly exitCode: 3 | 4 | 5; readonly report: unknown };
  /** Each held contract migration with the hosts it waits for. */
  CONTRACT_WAITING: { readonly contracts: readonly Readonly<Record<string, unknown>>[] };
  /** The newer release's expand migrations in a shared database. */
  NEWER_RELEASE_EXPANDED: {
    readonly ids: readonly string[];
    readonly releases: readonly string[];
    readonly databases: readonly string[];
  };
  /** The code versions the running hosts run, and for how long they have differed. */
  FLEET_MIXED_VERSIONS: {
    readonly versions: readonly string[];
    readonly sinceSeconds: number;
    readonly limitSeconds: number;
  };
  /** Why this host could not register. */
  FLEET_UNREGISTERED: { readonly reasons: readonly string[] };
}

/**
 * The `data` of an error with code `C`: typed for the codes in
 * {@link ErrorDataMap}, a plain record otherwise.
 */
export type ErrorData<C extends ErrorCode> = C extends keyof ErrorDataMap ? ErrorDataMap[C]
  : Readonly<Record<string, unknown>>;

/**
 * An error an operator must handle. `code` is stable across releases; `data`
 * carries the facts behind it (the ids in a cycle, the offending path), typed
 * for the codes in {@link ErrorDataMap} once narrowed with
 * {@link isLockstepError}.
 *
 * Permissions: none.
 *
 * @example
 * ```ts ignore
 * throw new LockstepError("USAGE", "Cannot back up: --files-only and --db-only exclude each
 * other.");
 * ```
 */
export class LockstepError extends Error {
  /** The stable code, for example `"MIGRATION_CYCLE"`. */
  readonly code: ErrorCode;
  /** Structured facts about the failure, safe to print (credentials redacted). */
  readonly data: Readonly<Record<string, unknown>>;

  /** Makes an error with a stable `code`, a message that says what and how to fix it, and data. */
  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; data?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LockstepError";
    this.code = code;
    this.data = options.data ?? {};
  }
}

/** A {@link LockstepError} narrowed to code `C`, its `data` typed. */
export type LockstepErrorOf<C extends ErrorCode> = LockstepError & {
  readonly code: C;
  readonly data: ErrorData<C>;
};

/** Makes a {@link LockstepError} whose `data` is checked against its code's shape. */
export function lockstepError<C extends ErrorCode>(
  code: C,
  message: string,
  options: { cause?: unknown; data: ErrorData<C> },
): LockstepErrorOf<C> {
  return new LockstepError(code, message, options) as LockstepErrorOf<C>;
}

/**
 * Permissions: none.
 *
 * @throws Nothing.
 * @example
 * ```ts ignore
 * if (isLockstepError(error, "GATE_REFUSED")) Deno.exit(error.data.exitCode);
 * ```
 */
export function isLockstepError<C extends ErrorCode>(
  error: unknown,
  ...codes: C[]
): error is LockstepErrorOf<C> {
  return error instanceof LockstepError && (codes.length === 0 || codes.includes(error.code as C));
}

/**
 * Permissions: none.
 *
 * @throws Nothing.
 * @example
 * ```ts ignore
 * Deno.exit(exitCodeFor(error)); // 6 for LOCK_HELD, 2 for CONFIG_INVALID, …
 * ```
 */
export function exitCodeFor(error: unknown): number {
  // The startup gate exits with check's own code (3, 4 or 5).
  if (isLockstepError(error, "GATE_REFUSED")) return error.data.exitCode;
  if (!isLockstepError(error)) return EXIT.failed;
  if (error.code === "LOCK_HELD") return EXIT.busy;
  if (USAGE_CODES.has(error.code)) return EXIT.usage;
  return EXIT.failed;
}

/**
 * Turns a Deno permission failure into a `PERMISSION_DENIED` error naming the
 * flag it needs, and an operating-system error into an operator error naming
 * the path, the user and the fix: `ACCESS_DENIED` (a folder this user may not
 * write, a read-only file system), `DISK_FULL`, `FILE_NOT_FOUND` or
 * `IO_FAILED`. Returns any other error unchanged. The path is the one the
 * error names, or `path` when given (the file a temp file stands for); the
 * message then starts "Cannot <action>".
 *
 * Permissions: none (it names the owner of the path only where `--allow-read` is granted, and the
 * user's uid only where `--allow-sys=uid` is).
 *
 * @throws Nothing: it returns the error to throw.
 * @example
 * ```ts ignore
 * catch (error) { throw explainPermission(error, "read the config"); }
 * ```
 */
export function explainPermission(error: unknown, action: string, path?: string): unknown {
  // Already worded (a failed migration may quote "disk is full"): keep it as it is.
  if (error instanceof LockstepError) return error;
  const os = describeOsError(error, action, path);
  if (os !== undefined) {
    return new LockstepError(os.code, os.message, { cause: error, data: os.data });
  }
  if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
    return error;
  }
  const message = error.message;
  if (error instanceof Deno.errors.PermissionDenied && !/Requires .* access/.test(message)) {
    return error;
  }
  return new LockstepError(
    "PERMISSION_DENIED",
    `Cannot ${action}: ${message.replace(/,? run again with.*$/, "")}. ` +
      `Grant it with ${flagHint(message)} (see the README's permission table).`,
    { cause: error, data: { permission: message } },
  );
}

function flagHint(message: string): string {
  const match = /Requires (\w+) access(?: to "([^"]*)")?/.exec(message);
  if (!match) return "the flag the README lists for this command";
  const [, kind, target] = match;
  const flag = `--allow-${kind}`;
  return target === undefined ? flag : `${flag}=${target}`;
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True when `error` says the disk (or the user's quota) is full; SQLite's own wording included. */
export function isDiskFull(error: unknown): boolean {
  if (error instanceof LockstepError && error.code === "DISK_FULL") return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || saysDiskFull(messageOf(error));
}
