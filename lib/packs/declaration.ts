/**
 * `lockstep-package.json`: a pack's declaration, in its folder
 * (`<packs.dir>/<name>/`) and in every pack bundle's payload. Read as
 * strictly as `lockstep.json`: unknown keys and bad values are refused,
 * naming the file and the key.
 *
 * ```json
 * { "format": 1, "name": "orders", "version": "0.4.0", "source": "shop",
 *   "migrations": "migrations", "database": "main",
 *   "requires": { "app": ">=1.4 <2", "pack:core-ui": "^2" } }
 * ```
 *
 * @module
 */
import { valid, validRange } from "../deps/semver.ts";
import { LockstepError } from "../errors.ts";
import { object, onlyKeys, string } from "../config_fields.ts";
import { duplicateKey } from "../strict_json.ts";
import { bundlePathReason } from "../bundles/paths.ts";
import { PACK_NAME } from "./names.ts";

/** The file name of a pack's declaration, at the top of its folder. */
export const DECLARATION = "lockstep-package.json";

/** A pack's declaration. */
export interface PackDeclaration {
  /** The format, 1. */
  readonly format: 1;
  /** The pack's name, its folder's name and the package name of its migrations. */
  readonly name: string;
  /** Its semantic version. */
  readonly version: string;
  /** The feed that may update it, or `local` (never matched by a feed). */
  readonly source: string;
  /** Its migrations folder, relative to the pack's folder (default `migrations`). */
  readonly migrations: string;
  /** The configured database its migrations apply to (`packs.databases` may map it instead). */
  readonly database?: string;
  /** What it needs: `app` and `pack:<name>`, each an npm version range. */
  readonly requires: Readonly<Record<string, string>>;
}

const KEYS = ["format", "name", "version", "source", "migrations", "database", "requires"];
const SOURCE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A declaration is small; anything larger is not one. */
export const DECLARATION_LIMIT = 64 * 1024;

/**
 * Parses the text of a declaration found at `where` (a path, or
 * `<bundle>: lockstep-package.json`).
 *
 * @throws {LockstepError} `PACK_INVALID` naming `where` and the key.
 */
export function parseDeclaration(text: string, where: string): PackDeclaration {
  const fail = (what: string): never => {
    throw new LockstepError(
      "PACK_INVALID",
      `Cannot use pack declaration "${where}": ${what}. Nothing was changed.`,
      { data: { file: where, reason: what } },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`it is not valid JSON (${(error as Error).message})`);
  }
  const twice = duplicateKey(text);
  if (twice !== undefined) fail(`it has the key ${twice} twice`);
  const top = object(raw, "the top level", fail);
  onlyKeys(top, "the top level", KEYS, fail);
  if (top.format !== 1) fail(`"format" is ${JSON.stringify(top.format)}; this lockstep reads 1`);
  const name = string(top.name, "name", fail);
  if (!PACK_NAME.test(name)) fail(`"name" ${JSON.stringify(name)} is not a pack name`);
  const version = string(top.version, "version", fail);
  if (valid(version) !== version) fail(`"version" "${version}" is not a semantic version`);
  const source = string(top.source, "source", fail);
  if (!SOURCE.test(source)) fail(`"source" "${source}" is not a feed name or "local"`);
  const migrations = top.migrations === undefined
    ? "migrations"
    : string(top.migrations, "migrations", fail);
  const unsafe = bundlePathReason(migrations);
  if (unsafe !== undefined) fail(`"migrations" "${migrations}" is unsafe: ${unsafe}`);
  const database = top.database === undefined ? undefined : string(top.database, "database", fail);
  return {
    format: 1,
    name,
    version,
    source,
    migrations,
    ...(database === undefined ? {} : { database }),
    requires: parsePackRequires(top.requires ?? {}, "requires", fail),
  };
}

/**
 * A pack's `requires`: `app` and `pack:<name>` keys, each a version range.
 * Shared by declarations and pack bundles' manifests.
 */
export function parsePackRequires(
  value: unknown,
  key: string,
  fail: (what: string) => never,
): Record<string, string> {
  const requires = object(value, key, fail);
  for (const [name, range] of Object.entries(requires)) {
    const pack = name.startsWith("pack:") ? name.slice(5) : undefined;
    if (name !== "app" && (pack === undefined || !PACK_NAME.test(pack))) {
      fail(`"${key}" names "${name}": a pack requires "app" or "pack:<name>"`);
    }
    if (typeof range !== "string" || validRange(range) === null) {
      fail(`"${key}.${name}" is not a version range`);
    }
  }
  return requires as Record<string, string>;
}
