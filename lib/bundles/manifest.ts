/**
 * `bundle.json`: the manifest of an update bundle, parsed and validated as
 * pure data. Every refusal is a `LockstepError` with its own code.
 *
 * @module
 */
import { satisfies, valid, validRange } from "../deps/semver.ts";
import { LockstepError } from "../errors.ts";
import { checkPaths, checkRemovals } from "./paths.ts";

/** One payload file as the manifest lists it. */
export interface ManifestFile {
  /** Lowercase hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
  /** Unix permission bits, default 0o644. */
  readonly mode: number;
}

/** A parsed, validated `bundle.json`. */
export interface Manifest {
  /** The manifest format, 1. */
  readonly format: 1;
  /** The application it is for. */
  readonly app: string;
  /** The release's semantic version. */
  readonly version: string;
  /**
   * A pack bundle's pack name. Its `files` and `remove` are relative to the
   * pack's folder in the archive; a pending bundle's manifest holds them
   * relative to the app root (the folder's prefix added).
   */
  readonly pack?: string;
  /** npm range of installed versions this bundle upgrades; `undefined` means any lower one. */
  readonly upgradesFrom?: string;
  /** When it was released (ISO 8601). */
  readonly released?: string;
  /** A security release. */
  readonly security: boolean;
  /** Release notes, plain text. */
  readonly notes: string;
  /** Plain-text lines on the database changes it brings. */
  readonly database: readonly string[];
  /** Prerequisites, such as `{ "deno": ">=2.9" }`; a pack's also `app` and `pack:<name>`. */
  readonly requires: Readonly<Record<string, string>>;
  /** Payload files by path relative to the app root. */
  readonly files: Readonly<Record<string, ManifestFile>>;
  /** Paths of the previous release that this one no longer has. */
  readonly remove: readonly string[];
}

const KEYS = new Set([
  "format",
  "app",
  "version",
  "pack",
  "upgradesFrom",
  "released",
  "security",
  "notes",
  "database",
  "requires",
  "files",
  "remove",
]);

type Fail = (reason: string) => never;

/**
 * Parses and validates the bytes of `bundle.json`.
 *
 * @throws {LockstepError} `BUNDLE_MANIFEST_INVALID` (with `data.reason`),
 * `BUNDLE_PATH_UNSAFE`, `BUNDLE_PATH_COLLISION`.
 */
export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  const fail: Fail = (reason) => {
    throw new LockstepError(
      "BUNDLE_MANIFEST_INVALID",
      `Cannot use bundle "${where}": its bundle.json ${reason}. Nothing was changed.`,
      { data: { bundle: where, reason } },
    );
  };
  const m = parseObject(bytes, fail);
  for (const key of Object.keys(m)) if (!KEYS.has(key)) fail(`has an unknown key "${key}"`);
  if (m.format !== 1) fail(`has format ${JSON.stringify(m.format)}; this lockstep reads format 1`);
  const release = parseRelease(m, fail);
  const database = parseDatabase(m.database, fail);
  const requires = parseRequires(m.requires, release.pack !== undefined, fail);
  const files = parseFiles(m.files, fail, where);
  const remove = parseRemove(m.remove, files, fail, where);
  return { format: 1, ...release, database, requires, files, remove };
}

function parseObject(bytes: Uint8Array, fail: Fail): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    return fail(`is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail("is not an object");
  }
  return raw as Record<string, unknown>;
}

/** The release's own fields: app, version, upgradesFrom, released, security, notes. */
function parseRelease(
  m: Record<string, unknown>,
  fail: Fail,
): Pick<
  Manifest,
  "app" | "version" | "pack" | "upgradesFrom" | "released" | "security" | "notes"
> {
  const text = (key: string, optional = false): string | undefined => {
    const value = m[key];
    if (value === undefined && optional) return undefined;
    if (typeof value !== "string" || value === "") {
      return fail(`needs "${key}" as a non-empty string`);
    }
    return value;
  };
  const app = text("app")!;
  const version = text("version")!;
  if (valid(version) !== version) {
    fail(`has "version" "${version}", which is not a semantic version`);
  }
  // Whether the name is one a pack may have is judged with the host's config (PACK_NAME_INVALID).
  const pack = text("pack", true);
  const upgradesFrom = text("upgradesFrom", true);
  if (upgradesFrom !== undefined && validRange(upgradesFrom) === null) {
    fail(`has "upgradesFrom" "${upgradesFrom}", which is not a version range`);
  }
  const released = text("released", true);
  if (released !== undefined && Number.isNaN(Date.parse(released))) {
    fail(`has "released" that is not a date`);
  }
  if (m.security !== undefined && typeof m.security !== "boolean") {
    fail(`has "security" that is not true or false`);
  }
  if (m.notes !== undefined && typeof m.notes !== "string") fail(`has "notes" that is not text`);
  return {
    app,
    version,
    ...(pack === undefined ? {} : { pack }),
    ...(upgradesFrom === undefined ? {} : { upgradesFrom }),
    ...(released === undefined ? {} : { released }),
    security: m.security === true,
    notes: (m.notes as string | undefined) ?? "",
  };
}

function parseDatabase(value: unknown, fail: Fail): string[] {
  const database = value ?? [];
  if (!Array.isArray(database) || !database.every((d) => typeof d === "string")) {
    fail(`has "database" that is not a list of text lines`);
  }
  return database as string[];
}

function parseRequires(value: unknown, pack: boolean, fail: Fail): Record<string, string> {
  const requires = value ?? {};
  if (typeof requires !== "object" || requires === null || Array.isArray(requires)) {
    fail(`has "requires" that is not an object`);
  }
  for (const [name, range] of Object.entries(requires as Record<string, unknown>)) {
    const between = pack && (name === "app" || /^pack:[a-z0-9][a-z0-9-]{0,63}$/.test(name));
    if (name !== "deno" && name !== "lockstep" && !between) {
      const known = pack ? "deno, lockstep, app, pack:<name>" : "deno, lockstep";
      fail(`requires "${name}", which lockstep cannot check (${known})`);
    }
    if (typeof range !== "string" || validRange(range) === null) {
      fail(`has requires.${name} that is not a version range`);
    }
  }
  return requires as Record<string, string>;
}

function parseRemove(
  value: unknown,
  files: Readonly<Record<string, ManifestFile>>,
  fail: Fail,
  where: string,
): string[] {
  const remove = value ?? [];
  if (!Array.isArray(remove) || !remove.every((p) => typeof p === "string")) {
    fail(`has "remove" that is not a list of paths`);
  }
  const paths = remove as string[];
  checkPaths(paths, where, "remove");
  for (const path of paths) {
    if (path in files) fail(`both installs and removes "${path}"`);
  }
  checkRemovals(Object.keys(files), paths, where);
  return paths;
}

function parseFiles(
  value: unknown,
  fail: Fail,
  where: string,
): Record<string, ManifestFile> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`needs "files" as an object`);
  }
  const out: Record<string, ManifestFile> = {};
  for (const [path, entry] of Object.entries(value as Record<string, unknown>)) {
    out[path] = parseFile(path, entry, fail);
  }
  checkPaths(Object.keys(out), where, "files");
  return out;
}

function parseFile(path: string, entry: unknown, fail: Fail): ManifestFile {
  if (typeof entry !== "object" || entry === null) {
    fail(`lists "${path}" without { sha256, size }`);
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!["sha256", "size", "mode"].includes(key)) {
      fail(`lists "${path}" with unknown key "${key}"`);
    }
  }
  if (typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)) {
    fail(`lists "${path}" with a bad sha256`);
  }
  if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) {
    fail(`lists "${path}" with a bad size`);
  }
  let mode = 0o644;
  if (e.mode !== undefined) {
    if (typeof e.mode !== "string" || !/^0?[0-7]{3}$/.test(e.mode)) {
      fail(`lists "${path}" with a bad mode (octal text like "0644")`);
    }
    mode = parseInt(e.mode as string, 8);
    if ((mode & 0o7000) !== 0) fail(`lists "${path}" with setuid, setgid or sticky bits`);
  }
  return { sha256: e.sha256 as string, size: e.size as number, mode };
}

/** Whether `manifest.requires` holds for this runtime; the unmet prerequisites otherwise. */
export function unmetRequirements(
  manifest: Pick<Manifest, "requires">,
  versions: { deno: string; lockstep: string },
): string[] {
  const unmet: string[] = [];
  for (const [name, range] of Object.entries(manifest.requires)) {
    // A pack's `app` and `pack:<name>` are judged against the installed parts (lib/packs/).
    if (name !== "deno" && name !== "lockstep") continue;
    const have = versions[name];
    if (!satisfies(have, range, { includePrerelease: true })) {
      unmet.push(`${name} ${range} (have ${have})`);
    }
  }
  return unmet;
}
