/**
 * The feed index (`feed.json`, or `feed-<channel>.json`): its format, parsed
 * and validated as pure data. Everything a hostile index could use to mean
 * two things, or to reach outside the feed, is refused here: duplicate JSON
 * keys, unknown keys, two entries for one release, a `file` that is not a
 * plain relative path (no `..`, scheme, backslash, `%` escape or absolute
 * path), control characters in the text an operator reads, and more entries
 * or longer notes than the limits allow.
 *
 * @module
 */
import { basename } from "node:path";
import { valid, validRange } from "../deps/semver.ts";
import { duplicateKey } from "../strict_json.ts";
import { CHANNEL, type FeedLimits } from "./config.ts";
import { refuseFeed, UNSAFE_TEXT } from "./refuse.ts";

/** How urgent a security release is. */
export type SecurityLevel = "critical" | "high" | "medium" | "low";

/** An entry's security flag. */
export interface FeedSecurity {
  /** `critical` makes `feed check` exit 8 where it applies. */
  readonly level: SecurityLevel;
  /** It applies to installed versions below this one (default: below the entry's version). */
  readonly below?: string;
  /** Advisory ids (`CVE-2026-0001`). */
  readonly advisories: readonly string[];
}

/** One release the feed offers: the app's, or a pack's. */
export interface FeedEntry {
  /** `app` or `pack`. */
  readonly kind: "app" | "pack";
  /** The app's name (the index's `app`) or the pack's. */
  readonly name: string;
  /** Its semantic version. */
  readonly version: string;
  /** The bundle's path in the feed, relative to the index (`packs/orders-0.4.0.zip`). */
  readonly file: string;
  /** Hex SHA-256 of the bundle file. */
  readonly sha256: string;
  /** The bundle file's size in bytes. */
  readonly size: number;
  /** npm range of installed versions it upgrades. */
  readonly upgradesFrom?: string;
  /** Prerequisites: `deno`, `lockstep`, `app` (for packs) and `pack:<name>` ranges. */
  readonly requires: Readonly<Record<string, string>>;
  /** When it was released. */
  readonly released?: string;
  /** Its security flag, when it is a security release. */
  readonly security?: FeedSecurity;
  /** Release notes, plain text. */
  readonly notes: string;
  /** Plain-text lines on the database changes it brings. */
  readonly database: readonly string[];
}

/** A parsed, validated index. */
export interface FeedIndex {
  /** The index format, 1. */
  readonly format: 1;
  /** The application it is for. */
  readonly app: string;
  /** Its channel. */
  readonly channel: string;
  /** Its sequence number, never lower than the last one accepted on the channel. */
  readonly seq: number;
  /** When it was issued (ISO 8601). */
  readonly issued: string;
  /** When it expires (ISO 8601). */
  readonly expires: string;
  /** The releases it offers. */
  readonly entries: readonly FeedEntry[];
}

const INDEX_KEYS = ["format", "app", "channel", "seq", "issued", "expires", "entries"];
const ENTRY_KEYS = [
  "kind",
  "name",
  "version",
  "file",
  "sha256",
  "size",
  "upgradesFrom",
  "requires",
  "released",
  "security",
  "notes",
  "database",
];
const APP_NAME = /^[A-Za-z0-9_-]+$/;
const PACK_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** A plain relative path: parts of letters, digits, `.`, `_`, `+`, `-`, none starting with a dot. */
const FILE_PATH = /^[A-Za-z0-9][A-Za-z0-9._+-]*(\/[A-Za-z0-9][A-Za-z0-9._+-]*)*$/;
/** What `pending/` accepts as a bundle's name. */
const BUNDLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*\.zip$/;
const LEVELS: readonly SecurityLevel[] = ["critical", "high", "medium", "low"];

type Fail = (reason: string, data?: Record<string, unknown>) => never;

/**
 * Parses and validates the bytes of an index read from `where`.
 *
 * @throws {LockstepError} `FEED_INVALID` (with `data.reason`), `FEED_TOO_LARGE`
 * (more entries or longer notes than `limits`).
 */
export function parseIndex(bytes: Uint8Array, limits: FeedLimits, where: string): FeedIndex {
  const fail: Fail = (reason, data) => refuseFeed("FEED_INVALID", where, reason, data);
  const raw = readObject(bytes, fail);
  for (const key of Object.keys(raw)) {
    if (!INDEX_KEYS.includes(key)) fail(`the index has an unknown key "${key}"`);
  }
  if (raw.format !== 1) fail(`the index has format ${JSON.stringify(raw.format)}, not 1`);
  const app = text(raw.app, "app", fail);
  if (!APP_NAME.test(app)) fail(`"app" is not an app name: ${JSON.stringify(app)}`);
  const channel = text(raw.channel, "channel", fail);
  if (!CHANNEL.test(channel)) fail(`"channel" is not a channel name: ${JSON.stringify(channel)}`);
  if (!Number.isSafeInteger(raw.seq) || (raw.seq as number) < 0) {
    fail(`"seq" must be a whole number of at least 0`);
  }
  const issued = date(raw.issued, "issued", fail);
  const expires = date(raw.expires, "expires", fail);
  if (Date.parse(expires) <= Date.parse(issued)) {
    fail(`it expires (${expires}) before it was issued`);
  }
  if (!Array.isArray(raw.entries)) return fail(`"entries" must be a list`);
  if (raw.entries.length > limits.feedEntries) {
    refuseFeed(
      "FEED_TOO_LARGE",
      where,
      `it has ${raw.entries.length} entries, over the limit of ${limits.feedEntries} (limits.feedEntries)`,
      { limit: "feedEntries" },
    );
  }
  const entries = raw.entries.map((entry, i) => parseEntry(entry, i, app, limits, where, fail));
  refuseTwins(entries, fail);
  return { format: 1, app, channel, seq: raw.seq as number, issued, expires, entries };
}

/**
 * Refuses bytes that are not a JSON text at all (an HTML error page, a
 * truncated file) before their signature is judged, so that the operator
 * reads what came instead of "the signature does not match".
 *
 * @throws {LockstepError} `FEED_INVALID`.
 */
export function refuseNonJson(bytes: Uint8Array, where: string): void {
  readJson(bytes, (reason, data) => refuseFeed("FEED_INVALID", where, reason, data));
}

function readJson(bytes: Uint8Array, fail: Fail): { body: string; raw: unknown } {
  let body: string;
  try {
    body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return fail("the index is not UTF-8 text");
  }
  try {
    return { body, raw: JSON.parse(body) };
  } catch (error) {
    const html = /^\s*</.test(body) ? ": it looks like an HTML page (a server's error page?)" : "";
    return fail(`the index is not JSON${html || ` (${(error as Error).message})`}`);
  }
}

function readObject(bytes: Uint8Array, fail: Fail): Record<string, unknown> {
  const { body, raw } = readJson(bytes, fail);
  const twice = duplicateKey(body);
  if (twice !== undefined) {
    fail(`the index has the key ${twice} twice (JSON readers disagree on which one counts)`, {
      key: twice,
    });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail("the index is not a JSON object");
  }
  return raw as Record<string, unknown>;
}

function text(value: unknown, key: string, fail: Fail): string {
  if (typeof value !== "string" || value === "") return fail(`"${key}" must be a non-empty string`);
  if (UNSAFE_TEXT.test(value)) fail(`"${key}" holds a control character`);
  return value;
}

function date(value: unknown, key: string, fail: Fail): string {
  const when = text(value, key, fail);
  if (!/^\d{4}-\d\d-\d\dT/.test(when) || Number.isNaN(Date.parse(when))) {
    fail(`"${key}" is not an ISO 8601 time: ${JSON.stringify(when)}`);
  }
  return when;
}

function parseEntry(
  value: unknown,
  index: number,
  app: string,
  limits: FeedLimits,
  where: string,
  fail: Fail,
): FeedEntry {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`entry ${index + 1} is not an object`);
  }
  const e = value as Record<string, unknown>;
  const at = (what: string) =>
    `entry ${index + 1}${e.name ? ` (${JSON.stringify(e.name)})` : ""} ${what}`;
  const own: Fail = (reason, data) => fail(at(reason), data);
  for (const key of Object.keys(e)) {
    if (!ENTRY_KEYS.includes(key)) own(`has an unknown key "${key}"`);
  }
  if (e.kind !== "app" && e.kind !== "pack") return own(`has "kind" that is not "app" or "pack"`);
  const name = text(e.name, `entries[${index}].name`, fail);
  if (e.kind === "app" && name !== app) {
    own(`is an app release of "${name}", in the feed of "${app}"`);
  }
  if (e.kind === "pack" && !PACK_NAME.test(name)) own("has a pack name that is not a-z, 0-9 and -");
  const version = text(e.version, `entries[${index}].version`, fail);
  if (valid(version) !== version) {
    own(`has "version" ${JSON.stringify(version)}, not a semantic version`);
  }
  const file = text(e.file, `entries[${index}].file`, fail);
  if (file.length > 255 || !FILE_PATH.test(file) || !BUNDLE_NAME.test(basename(file))) {
    own(
      `has "file" ${
        JSON.stringify(file)
      }, which is not a plain relative path to a .zip (parts of ` +
        `letters, digits, ".", "_", "+", "-"; no "..", scheme, "%", backslash or leading "/")`,
      { file },
    );
  }
  if (typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)) own("has a bad sha256");
  if (!Number.isSafeInteger(e.size) || (e.size as number) < 1) own("has a bad size");
  const notes = e.notes === undefined ? "" : lines([e.notes], "notes", own)[0]!;
  if (new TextEncoder().encode(notes).length > limits.feedNotesBytes) {
    refuseFeed(
      "FEED_TOO_LARGE",
      where,
      at(`has notes over ${limits.feedNotesBytes} bytes (limits.feedNotesBytes)`),
      {
        limit: "feedNotesBytes",
      },
    );
  }
  return {
    kind: e.kind,
    name,
    version,
    file,
    sha256: e.sha256 as string,
    size: e.size as number,
    ...optional(e, own),
    requires: requires(e.requires, own),
    notes,
    database: e.database === undefined ? [] : lines(e.database, "database", own),
  };
}

function optional(
  e: Record<string, unknown>,
  own: Fail,
): Pick<FeedEntry, "upgradesFrom" | "released" | "security"> {
  const out: { upgradesFrom?: string; released?: string; security?: FeedSecurity } = {};
  if (e.upgradesFrom !== undefined) {
    if (typeof e.upgradesFrom !== "string" || validRange(e.upgradesFrom) === null) {
      own(`has "upgradesFrom" that is not a version range`);
    }
    out.upgradesFrom = e.upgradesFrom as string;
  }
  if (e.released !== undefined) out.released = date(e.released, "released", own);
  if (e.security !== undefined) out.security = security(e.security, own);
  return out;
}

function security(value: unknown, own: Fail): FeedSecurity {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return own(`has "security" that is not an object`);
  }
  const s = value as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!["level", "below", "advisories"].includes(key)) {
      own(`has an unknown key "security.${key}"`);
    }
  }
  if (!LEVELS.includes(s.level as SecurityLevel)) {
    own(`has "security.level" that is not ${LEVELS.join(", ")}`);
  }
  if (s.below !== undefined && (typeof s.below !== "string" || valid(s.below) !== s.below)) {
    own(`has "security.below" that is not a semantic version`);
  }
  return {
    level: s.level as SecurityLevel,
    ...(s.below === undefined ? {} : { below: s.below as string }),
    advisories: s.advisories === undefined ? [] : lines(s.advisories, "security.advisories", own),
  };
}

function requires(value: unknown, own: Fail): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return own(`has "requires" that is not an object`);
  }
  for (const [name, range] of Object.entries(value)) {
    const known = ["deno", "lockstep", "app"].includes(name) ||
      /^pack:[a-z0-9][a-z0-9-]{0,63}$/.test(name);
    if (!known) own(`requires "${name}" (deno, lockstep, app or pack:<name>)`);
    if (typeof range !== "string" || validRange(range) === null) {
      own(`has requires.${name} that is not a version range`);
    }
  }
  return value as Record<string, string>;
}

function lines(value: unknown, key: string, own: Fail): string[] {
  if (!Array.isArray(value) || !value.every((line) => typeof line === "string")) {
    return own(`has "${key}" that is not ${key === "notes" ? "text" : "a list of text lines"}`);
  }
  if (value.some((line) => UNSAFE_TEXT.test(line))) {
    own(`has "${key}" holding a control character (only line feeds and tabs may appear)`);
  }
  return value as string[];
}

/** Two entries for one release, or two releases in one file, mean two things. */
function refuseTwins(entries: readonly FeedEntry[], fail: Fail): void {
  const releases = new Map<string, FeedEntry>();
  const names = new Map<string, FeedEntry>();
  for (const entry of entries) {
    const release = `${entry.kind} ${entry.name} ${entry.version}`;
    if (releases.has(release)) {
      fail(`two entries give ${entry.kind} "${entry.name}" ${entry.version}`, { release });
    }
    releases.set(release, entry);
    const file = basename(entry.file).toLowerCase();
    const other = names.get(file);
    if (other !== undefined) {
      fail(
        `"${other.file}" and "${entry.file}" would both be "${basename(entry.file)}" in pending/`,
      );
    }
    names.set(file, entry);
  }
}
