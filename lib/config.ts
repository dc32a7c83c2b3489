/**
 * `lockstep.json` → {@link Config}: a pure resolver. It never reads the
 * environment itself; the caller passes a lookup for the `passwordEnv` names.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { explainPermission, LockstepError } from "./errors.ts";
import { redact } from "./redact.ts";
import type { DatabaseConfig } from "./sql/dialect.ts";
import { dialectForUrl, DIALECTS } from "./sql/dialects.ts";

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
  /** Bundle limits. */
  readonly limits: Limits;
}

/** Reads an environment variable by name; `cli.ts` passes one backed by `Deno.env`. */
export type EnvLookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z0-9_-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_LIMITS: Limits = {
  manifestBytes: 1024 * 1024,
  entries: 100_000,
  totalBytes: 4 * 1024 ** 3,
  ratio: 200,
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
  const fail = (what: string): never => {
    throw new LockstepError(
      "CONFIG_INVALID",
      `Cannot use config "${path}": ${what}. Nothing was changed.`,
      { data: { file: path } },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`it is not valid JSON (${(error as Error).message})`);
  }
  const top = object(raw, "the top level", fail);
  onlyKeys(top, "the top level", [
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
  ], fail);

  const app = string(top.app, "app", fail);
  if (!NAME.test(app)) fail(`"app" must be letters, digits, "_" or "-", not "${app}"`);
  const at = (value: unknown, key: string, fallback: string) =>
    resolve(dir, value === undefined ? fallback : string(value, key, fail));
  const root = at(top.root, "root", ".");
  const updates = at(top.updates, "updates", "updates");
  const versionFile = resolve(
    root,
    top.versionFile === undefined ? "VERSION" : string(top.versionFile, "versionFile", fail),
  );

  const databases: Record<string, DatabaseConfig> = {};
  const dbs = object(top.databases ?? {}, "databases", fail);
  for (const [name, value] of Object.entries(dbs)) {
    if (!NAME.test(name)) fail(`database name "${name}" must be letters, digits, "_" or "-"`);
    databases[name] = database(name, value, dir, env, fail);
  }

  const packages: Record<string, PackageConfig> = {};
  const pkgs = object(top.packages ?? {}, "packages", fail);
  for (const [name, value] of Object.entries(pkgs)) {
    const where = `packages.${name}`;
    if (!NAME.test(name)) fail(`package name "${name}" must be letters, digits, "_" or "-"`);
    const pkg = object(value, where, fail);
    onlyKeys(pkg, where, ["migrations", "database"], fail);
    const db = string(pkg.database, `${where}.database`, fail);
    if (!(db in databases)) {
      fail(`"${where}.database" names "${db}", which is not under "databases"`);
    }
    const migrations = resolve(dir, string(pkg.migrations, `${where}.migrations`, fail));
    packages[name] = { name, migrations, database: db };
  }

  const backupRaw = object(top.backup ?? {}, "backup", fail);
  onlyKeys(backupRaw, "backup", ["exclude", "keep"], fail);
  const keep = backupRaw.keep === undefined ? 10 : integer(backupRaw.keep, "backup.keep", 1, fail);

  const trustRaw = object(top.trust ?? {}, "trust", fail);
  onlyKeys(trustRaw, "trust", ["keys", "requireSignature"], fail);
  const keys = strings(trustRaw.keys ?? [], "trust.keys", fail);
  const requireSignature = trustRaw.requireSignature === undefined
    ? keys.length > 0
    : boolean(trustRaw.requireSignature, "trust.requireSignature", fail);

  const limitsRaw = object(top.limits ?? {}, "limits", fail);
  onlyKeys(limitsRaw, "limits", Object.keys(DEFAULT_LIMITS), fail);
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    if (limitsRaw[key] !== undefined) {
      limits[key] = integer(limitsRaw[key], `limits.${key}`, 1, fail);
    }
  }

  return {
    file: path,
    app,
    root,
    versionFile,
    updates,
    pending: top.pending === undefined
      ? resolve(updates, "pending")
      : at(top.pending, "pending", ""),
    installed: top.installed === undefined
      ? resolve(updates, "installed")
      : at(top.installed, "installed", ""),
    backups: top.backups === undefined
      ? resolve(updates, "backups")
      : at(top.backups, "backups", ""),
    databases,
    packages,
    protect: strings(top.protect ?? [], "protect", fail),
    backup: { exclude: strings(backupRaw.exclude ?? [], "backup.exclude", fail), keep },
    trust: { keys, requireSignature },
    limits,
  };
}

function database(
  name: string,
  value: unknown,
  dir: string,
  env: EnvLookup,
  fail: (what: string) => never,
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
  const password = env(passwordEnv);
  return password === undefined ? { ...out, passwordEnv } : { ...out, passwordEnv, password };
}

type Fail = (what: string) => never;

function object(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`${where === "the top level" ? where : `"${where}"`} must be an object`);
  }
  return value as Record<string, unknown>;
}

function onlyKeys(
  value: Record<string, unknown>,
  where: string,
  known: readonly string[],
  fail: Fail,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
    const hint = near === undefined ? "" : ` (did you mean "${near}"?)`;
    const place = where === "the top level" ? where : `"${where}"`;
    fail(`unknown key "${key}" at ${place}${hint}`);
  }
}

function string(value: unknown, key: string, fail: Fail): string {
  if (typeof value !== "string" || value === "") return fail(`"${key}" must be a non-empty string`);
  return value;
}

function strings(value: unknown, key: string, fail: Fail): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
    return fail(`"${key}" must be a list of non-empty strings`);
  }
  return value as string[];
}

function boolean(value: unknown, key: string, fail: Fail): boolean {
  if (typeof value !== "boolean") return fail(`"${key}" must be true or false`);
  return value;
}

function integer(value: unknown, key: string, min: number, fail: Fail): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    return fail(`"${key}" must be a whole number of at least ${min}`);
  }
  return value as number;
}

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + cost);
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * Reads and resolves the config file at `path`.
 *
 * Permissions: `--allow-read` on the config file; `env` decides which variables are read (the CLI
 * reads only those granted with `--allow-env=NAME`).
 *
 * @throws {LockstepError} `CONFIG_NOT_FOUND` when there is no file, `CONFIG_INVALID`.
 * @example
 * ```ts ignore
 * const config = await loadConfig("/srv/shop/lockstep.json");
 * ```
 */
export async function loadConfig(path: string, env: EnvLookup = () => undefined): Promise<Config> {
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
