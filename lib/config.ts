/**
 * `lockstep.json` → {@link Config}: {@link resolveConfig}, a pure resolver
 * (section by section: paths, databases, packages, backup, trust, limits),
 * and {@link loadConfig}, which reads the file and, by default, the
 * `passwordEnv` variables that `--allow-env=NAME` grants.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { explainPermission, LockstepError } from "./errors.ts";
import { boolean, type Fail, integer, object, onlyKeys, string, strings } from "./config_fields.ts";
import { redact } from "./redact.ts";
import type { DatabaseConfig } from "./sql/dialect.ts";
import { dialectForUrl, DIALECTS } from "./sql/dialects.ts";
import { type FleetConfig, readFleet } from "./fleet/config.ts";
import { type PacksConfig, readPacksConfig } from "./packs/settings.ts";

export type { PacksConfig } from "./packs/settings.ts";
import { type FeedConfig, type FeedLimits, readFeedConfig } from "./feed/config.ts";

/** A package of the application: one line of migrations on one database. */
export interface PackageConfig {
  /** The package name, the first part of each migration id. */
  readonly name: string;
  /** Absolute path of the migrations folder. */
  readonly migrations: string;
  /** The name of the database its migrations apply to. */
  readonly database: string;
}

/** Size limits for bundles (see DESIGN.md "Update bundles"). */
export interface Limits {
  /** Largest `bundle.json`, in bytes (default 1 MiB). */
  readonly manifestBytes: number;
  /** Most entries in one bundle (default 100,000). */
  readonly entries: number;
  /** Most uncompressed bytes in one bundle (default 4 GiB). */
  readonly totalBytes: number;
  /** Highest compression ratio for an entry over 1 MiB (default 200). */
  readonly ratio: number;
}

/** The resolved configuration; every path is absolute. */
export interface Config {
  /** Absolute path of the config file. */
  readonly file: string;
  /** The application's name, as bundles must name it. */
  readonly app: string;
  /** The application's code folder. */
  readonly root: string;
  /** The file holding the installed code version. */
  readonly versionFile: string;
  /** lockstep's folder: state, journals and work folders. */
  readonly updates: string;
  /** Where bundles wait to be installed. */
  readonly pending: string;
  /** Where installed bundles are kept. */
  readonly installed: string;
  /** Where backups are written. */
  readonly backups: string;
  /** Databases by name. */
  readonly databases: Readonly<Record<string, DatabaseConfig>>;
  /** Packages by name, in the order the file lists them. */
  readonly packages: Readonly<Record<string, PackageConfig>>;
  /** Globs under root that bundles never write or delete. */
  readonly protect: readonly string[];
  /** Backup settings. */
  readonly backup: { readonly exclude: readonly string[]; readonly keep: number };
  /** Signature trust settings. */
  readonly trust: { readonly keys: readonly string[]; readonly requireSignature: boolean };
  /** The fleet this host belongs to (PostgreSQL databases shared by hosts), or `null`. */
  readonly fleet: FleetConfig | null;
  /** Packs: where they live, which may be installed, their databases (see DESIGN.md "Packs"). */
  readonly packs: PacksConfig;
  /** Bundle and feed limits. */
  readonly limits: Limits & FeedLimits;
  /** The online (or mirrored) update feed; `null` when there is no `feed` section. */
  readonly feed: FeedConfig | null;
}

/**
 * Reads an environment variable by name: its value, or `undefined` when it
 * is not set. A lookup may throw `Deno.errors.NotCapable` for a variable it
 * may not read (as `Deno.env.get` does without `--allow-env=NAME`): the
 * database then says its password variable is not granted, rather than unset.
 */
export type EnvLookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z0-9_-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEY_ID = /^[A-Za-z0-9._-]+$/;
const TOP_KEYS = [
  "$schema",
  "app",
  "root",
  "versionFile",
  "updates",
  "pending",
  "installed",
  "backups",
  "databases",
  "packages",
  "protect",
  "backup",
  "trust",
  "limits",
  "fleet",
  "packs",
  "feed",
];
/** The limits when `lockstep.json` sets none (and for `feed build`, which reads no config). */
export const DEFAULT_LIMITS: Limits & FeedLimits = {
  manifestBytes: 1024 * 1024,
  entries: 100_000,
  totalBytes: 4 * 1024 ** 3,
  ratio: 200,
  feedIndexBytes: 1024 * 1024,
  feedSignatureBytes: 4096,
  feedEntries: 10_000,
  feedNotesBytes: 4096,
  feedMinBytesPerSecond: 1024,
};

/**
 * Resolves the text of a config file found at `file` into a {@link Config}.
 *
 * Permissions: none. It reads nothing: the caller passes the text and the environment.
 *
 * @throws {LockstepError} `CONFIG_INVALID` naming the key and what is wrong.
 * @example
 * ```ts ignore
 * const config = resolveConfig("/srv/shop/lockstep.json", text, (name) => Deno.env.get(name));
 * ```
 */
export function resolveConfig(
  file: string,
  text: string,
  env: EnvLookup = () => undefined,
): Config {
  const path = resolve(file);
  const dir = dirname(path);
  const fail: Fail = (what) => {
    throw new LockstepError(
      "CONFIG_INVALID",
      `Cannot use config "${path}": ${what}. Nothing was changed.`,
      { data: { file: path } },
    );
  };
  const top = topLevel(text, fail);
  const app = string(top.app, "app", fail);
  if (!NAME.test(app)) fail(`"app" must be letters, digits, "_" or "-", not "${app}"`);
  const databases = readDatabases(top.databases, dir, env, fail);
  const paths = readPaths(top, dir, fail);
  const trust = readTrust(top.trust, fail);
  return {
    file: path,
    app,
    ...paths,
    databases,
    packages: readPackages(top.packages, dir, databases, fail),
    protect: strings(top.protect ?? [], "protect", fail),
    backup: readBackup(top.backup, fail),
    trust,
    limits: readLimits(top.limits, fail),
    fleet: readFleet(top.fleet, fail),
    packs: readPacksConfig(top.packs, { dir, ...paths }, Object.keys(databases), fail),
    feed: readFeedConfig(top.feed, dir, fail, {
      list: (value, where) => keyList(value, where, fail),
      trustKeys: trust.keys.length,
    }),
  };
}

function topLevel(text: string, fail: Fail): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`it is not valid JSON (${(error as Error).message})`);
  }
  const top = object(raw, "the top level", fail);
  onlyKeys(top, "the top level", TOP_KEYS, fail);
  return top;
}

type Paths = Pick<Config, "root" | "versionFile" | "updates" | "pending" | "installed" | "backups">;

/** The folders and the version file, absolute; defaults under `root` and `updates`. */
function readPaths(top: Record<string, unknown>, dir: string, fail: Fail): Paths {
  const at = (key: string, base: string, fallback: string) =>
    resolve(base, top[key] === undefined ? fallback : string(top[key], key, fail));
  const root = at("root", dir, ".");
  const updates = at("updates", dir, "updates");
  return {
    root,
    versionFile: at("versionFile", root, "VERSION"),
    updates,
    pending: top.pending === undefined ? resolve(updates, "pending") : at("pending", dir, ""),
    installed: top.installed === undefined
      ? resolve(updates, "installed")
      : at("installed", dir, ""),
    backups: top.backups === undefined ? resolve(updates, "backups") : at("backups", dir, ""),
  };
}

function readDatabases(
  value: unknown,
  dir: string,
  env: EnvLookup,
  fail: Fail,
): Record<string, DatabaseConfig> {
  const databases: Record<string, DatabaseConfig> = {};
  for (const [name, db] of Object.entries(object(value ?? {}, "databases", fail))) {
    if (!NAME.test(name)) fail(`database name "${name}" must be letters, digits, "_" or "-"`);
    databases[name] = database(name, db, dir, env, fail);
  }
  return databases;
}

function database(
  name: string,
  value: unknown,
  dir: string,
  env: EnvLookup,
  fail: Fail,
): DatabaseConfig {
  const where = `databases.${name}`;
  const db = object(value, where, fail);
  onlyKeys(db, where, ["url", "passwordEnv", "schemas"], fail);
  const url = string(db.url, `${where}.url`, fail);
  const configured = db.schemas === undefined
    ? undefined
    : strings(db.schemas, `${where}.schemas`, fail);
  const dialect = dialectForUrl(url);
  if (dialect === undefined) {
    const prefixes = DIALECTS.map((d) => `"${d.urlPrefix}"`).join(" or ");
    return fail(`"${where}.url" must start with ${prefixes}, not "${redact(url)}"`);
  }
  if (db.passwordEnv !== undefined && !dialect.takesPassword) {
    const takers = DIALECTS.filter((d) => d.takesPassword).map((d) => d.title).join(" and ");
    fail(`"${where}.passwordEnv" applies to ${takers} only`);
  }
  const parsed = dialect.parseUrl(url, dir, (problem) => fail(`"${where}.url" ${problem}`));
  const out: DatabaseConfig = {
    name,
    dialect: dialect.name,
    ...parsed,
    schemas: dialect.managedSchemas(configured),
  };
  if (db.passwordEnv === undefined) return out;
  const passwordEnv = string(db.passwordEnv, `${where}.passwordEnv`, fail);
  if (!ENV_NAME.test(passwordEnv)) fail(`"${where}.passwordEnv" is not a variable name`);
  return { ...out, passwordEnv, ...readPassword(env, passwordEnv) };
}

/** The password, or why there is none: the variable is not set, or may not be read. */
function readPassword(
  env: EnvLookup,
  name: string,
): Pick<DatabaseConfig, "password" | "passwordMissing"> {
  let password: string | undefined;
  try {
    password = env(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return { passwordMissing: "not granted" };
    throw error;
  }
  return password === undefined ? { passwordMissing: "unset" } : { password };
}

function readPackages(
  value: unknown,
  dir: string,
  databases: Readonly<Record<string, DatabaseConfig>>,
  fail: Fail,
): Record<string, PackageConfig> {
  const packages: Record<string, PackageConfig> = {};
  for (const [name, raw] of Object.entries(object(value ?? {}, "packages", fail))) {
    const where = `packages.${name}`;
    if (!NAME.test(name)) fail(`package name "${name}" must be letters, digits, "_" or "-"`);
    const pkg = object(raw, where, fail);
    onlyKeys(pkg, where, ["migrations", "database"], fail);
    const db = string(pkg.database, `${where}.database`, fail);
    if (!(db in databases)) {
      fail(`"${where}.database" names "${db}", which is not under "databases"`);
    }
    const migrations = resolve(dir, string(pkg.migrations, `${where}.migrations`, fail));
    packages[name] = { name, migrations, database: db };
  }
  return packages;
}

function readBackup(value: unknown, fail: Fail): Config["backup"] {
  const backup = object(value ?? {}, "backup", fail);
  onlyKeys(backup, "backup", ["exclude", "keep"], fail);
  return {
    exclude: strings(backup.exclude ?? [], "backup.exclude", fail),
    keep: backup.keep === undefined ? 10 : integer(backup.keep, "backup.keep", 1, fail),
  };
}

function readTrust(value: unknown, fail: Fail): Config["trust"] {
  const trust = object(value ?? {}, "trust", fail);
  onlyKeys(trust, "trust", ["keys", "requireSignature"], fail);
  const keys = keyList(trust.keys ?? [], "trust.keys", fail);
  const requireSignature = trust.requireSignature === undefined
    ? keys.length > 0
    : boolean(trust.requireSignature, "trust.requireSignature", fail);
  return { keys, requireSignature };
}

/** A list of key entries (`trust.keys`, `feed.keys`), each well-formed, no id twice. */
function keyList(value: unknown, where: string, fail: Fail): string[] {
  const keys = strings(value, where, fail);
  const ids = new Map<string, number>();
  keys.forEach((entry, index) => {
    const id = trustKeyId(entry, index, fail, where);
    const other = ids.get(id);
    if (other !== undefined) {
      fail(`"${where}" entries ${other + 1} and ${index + 1} both name key "${id}": keep one`);
    }
    ids.set(id, index);
  });
  return keys;
}

/**
 * The key id of a `trust.keys` (or `feed.keys`) entry, `<key id>:<base64 of the raw 32-byte
 * Ed25519 public key>`; a malformed entry is a config error naming it, so it
 * never leaves every signed bundle unusable at install time.
 */
function trustKeyId(entry: string, index: number, fail: Fail, where = "trust.keys"): string {
  const colon = entry.indexOf(":");
  const id = colon > 0 ? entry.slice(0, colon) : "";
  const shown = entry.length > 60 ? `${entry.slice(0, 57)}...` : entry;
  const bad = (why: string): never =>
    fail(
      `"${where}" entry ${index + 1} ("${shown}") ${why}: write it as "<key id>:<base64 of ` +
        `the 32-byte Ed25519 public key>", the line "lockstep keygen" printed`,
    );
  if (!KEY_ID.test(id)) return bad(`has no key id (letters, digits, ".", "_" or "-") before ":"`);
  let bytes: number;
  try {
    bytes = atob(entry.slice(colon + 1)).length;
  } catch {
    return bad("holds no valid base64 after the key id");
  }
  if (bytes !== 32) bad(`holds a ${bytes}-byte key, not 32 bytes`);
  return id;
}

function readLimits(value: unknown, fail: Fail): Limits & FeedLimits {
  const raw = object(value ?? {}, "limits", fail);
  onlyKeys(raw, "limits", Object.keys(DEFAULT_LIMITS), fail);
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
    if (raw[key] !== undefined) limits[key] = integer(raw[key], `limits.${key}`, 1, fail);
  }
  return limits;
}

/**
 * The environment lookup {@link loadConfig} uses by default: `Deno.env.get`,
 * asked only for a variable that `--allow-env=NAME` (or `--allow-env`)
 * grants. It never prompts: for a variable not granted it throws
 * `Deno.errors.NotCapable`, so the message can say "grant --allow-env=NAME"
 * rather than "not set".
 */
export function grantedEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    throw new Deno.errors.NotCapable(`Requires env access to "${name}"`);
  }
  return Deno.env.get(name);
}

/**
 * Reads and resolves the config file at `path`. By default it also reads
 * each database's `passwordEnv` variable, where `--allow-env=NAME` grants it
 * (it never prompts), so a program that calls `gate()` or `migrate()` gets
 * the same passwords as the command line; pass `env` to look them up
 * elsewhere (a secrets store), or `() => undefined` to read none.
 *
 * Permissions: `--allow-read` on the config file; `--allow-env=NAME` for each `passwordEnv` the
 * program should read (a variable not granted is reported when its database is opened, naming the
 * flag).
 *
 * @throws {LockstepError} `CONFIG_NOT_FOUND` when there is no file, `CONFIG_INVALID`,
 * `PERMISSION_DENIED` (no `--allow-read` on it), `ACCESS_DENIED`.
 * @example
 * ```ts ignore
 * const config = await loadConfig("/srv/shop/lockstep.json"); // reads CLIENTS_PGPASSWORD if granted
 * ```
 */
export async function loadConfig(path: string, env: EnvLookup = grantedEnv): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LockstepError(
        "CONFIG_NOT_FOUND",
        `Cannot read config "${resolve(path)}": no such file. ` +
          `Pass --config PATH or set LOCKSTEP_CONFIG.`,
        { cause: error, data: { file: resolve(path) } },
      );
    }
    throw explainPermission(error, `read config "${resolve(path)}"`);
  }
  return resolveConfig(path, text, env);
}
