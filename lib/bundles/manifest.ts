/**
 * `bundle.json`: the manifest of an update bundle, parsed and validated as
 * pure data. Every refusal is a `LockstepError` with its own code.
 *
 * @module
 */
import { satisfies, valid, validRange } from "../deps/semver.ts";
import { LockstepError } from "../errors.ts";
import { unsafePathReason } from "../files.ts";

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
  /** Prerequisites, such as `{ "deno": ">=2.9" }`. */
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
  "upgradesFrom",
  "released",
  "security",
  "notes",
  "database",
  "requires",
  "files",
  "remove",
]);

/**
 * Parses and validates the bytes of `bundle.json`.
 *
 * @throws {LockstepError} `BUNDLE_MANIFEST_INVALID` (with `data.reason`),
 * `BUNDLE_PATH_UNSAFE`, `BUNDLE_PATH_COLLISION`.
 */
export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  const fail = (reason: string): never => {
    throw new LockstepError(
      "BUNDLE_MANIFEST_INVALID",
      `Cannot use bundle "${where}": its bundle.json ${reason}. Nothing was changed.`,
      { data: { bundle: where, reason } },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    return fail(`is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail("is not an object");
  }
  const m = raw as Record<string, unknown>;
  for (const key of Object.keys(m)) if (!KEYS.has(key)) fail(`has an unknown key "${key}"`);
  if (m.format !== 1) fail(`has format ${JSON.stringify(m.format)}; this lockstep reads format 1`);
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
  const database = m.database ?? [];
  if (!Array.isArray(database) || !database.every((d) => typeof d === "string")) {
    fail(`has "database" that is not a list of text lines`);
  }
  const requires = m.requires ?? {};
  if (typeof requires !== "object" || requires === null || Array.isArray(requires)) {
    fail(`has "requires" that is not an object`);
  }
  for (const [name, range] of Object.entries(requires as Record<string, unknown>)) {
    if (name !== "deno" && name !== "lockstep") {
      fail(`requires "${name}", which lockstep cannot check (deno, lockstep)`);
    }
    if (typeof range !== "string" || validRange(range) === null) {
      fail(`has requires.${name} that is not a version range`);
    }
  }
  const files = parseFiles(m.files, fail, where);
  const remove = m.remove ?? [];
  if (!Array.isArray(remove) || !remove.every((p) => typeof p === "string")) {
    fail(`has "remove" that is not a list of paths`);
  }
  checkPaths(remove as string[], where, "remove");
  for (const path of remove as string[]) {
    if (path in files) fail(`both installs and removes "${path}"`);
  }
  return {
    format: 1,
    app,
    version,
    ...(upgradesFrom === undefined ? {} : { upgradesFrom }),
    ...(released === undefined ? {} : { released }),
    security: m.security === true,
    notes: (m.notes as string | undefined) ?? "",
    database: database as string[],
    requires: requires as Record<string, string>,
    files,
    remove: remove as string[],
  };
}

function parseFiles(
  value: unknown,
  fail: (reason: string) => never,
  where: string,
): Record<string, ManifestFile> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`needs "files" as an object`);
  }
  const out: Record<string, ManifestFile> = {};
  for (const [path, entry] of Object.entries(value as Record<string, unknown>)) {
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
    out[path] = { sha256: e.sha256 as string, size: e.size as number, mode };
  }
  checkPaths(Object.keys(out), where, "files");
  return out;
}

/**
 * Refuses non-canonical paths and paths that collide once case and Unicode
 * normalisation are folded (they would overwrite each other on some hosts).
 *
 * @throws {LockstepError} `BUNDLE_PATH_UNSAFE`, `BUNDLE_PATH_COLLISION`.
 */
export function checkPaths(paths: readonly string[], where: string, list: string): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const reason = unsafePathReason(path);
    if (reason !== undefined) {
      throw new LockstepError(
        "BUNDLE_PATH_UNSAFE",
        `Cannot use bundle "${where}": ${list} entry ${
          JSON.stringify(path)
        } is unsafe: ${reason}. Nothing was changed.`,
        { data: { bundle: where, path, reason } },
      );
    }
    const folded = path.normalize("NFC").toLowerCase();
    const other = seen.get(folded);
    if (other !== undefined) {
      throw new LockstepError(
        "BUNDLE_PATH_COLLISION",
        `Cannot use bundle "${where}": ${list} entries "${other}" and "${path}" collide by case or ` +
          `Unicode normalisation. Nothing was changed.`,
        { data: { bundle: where, paths: [other, path] } },
      );
    }
    seen.set(folded, path);
  }
}

/** Whether `manifest.requires` holds for this runtime; the unmet prerequisites otherwise. */
export function unmetRequirements(
  manifest: Pick<Manifest, "requires">,
  versions: { deno: string; lockstep: string },
): string[] {
  const unmet: string[] = [];
  for (const [name, range] of Object.entries(manifest.requires)) {
    const have = versions[name as "deno" | "lockstep"];
    if (!satisfies(have, range, { includePrerelease: true })) {
      unmet.push(`${name} ${range} (have ${have})`);
    }
  }
  return unmet;
}
