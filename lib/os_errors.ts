/**
 * Operating-system errors worded for operators: a folder the user may not
 * write, a read-only or full file system, a path that is not there. Deno's
 * file errors carry the OS code (`EACCES`) and the operation and path in the
 * message (`Permission denied (os error 13): mkdir '/srv/shop/updates'`);
 * this reads them back into "Cannot create folder "/srv/shop/updates": …",
 * naming the user lockstep runs as, who owns the folder, and the fix.
 *
 * Pure wording: it returns what `explainPermission` (in `errors.ts`) turns
 * into a `LockstepError`, and reads nothing but the owner of the path, and
 * that only where `--allow-read` is already granted.
 *
 * @module
 */
import { dirname } from "node:path";

/** The codes an operating-system error becomes. */
export type OsErrorCode = "ACCESS_DENIED" | "DISK_FULL" | "FILE_NOT_FOUND" | "IO_FAILED";

/** An operating-system error, worded. */
export interface OsErrorWording {
  readonly code: OsErrorCode;
  readonly message: string;
  readonly data: Readonly<Record<string, unknown>>;
}

const ACCESS = new Set(["EACCES", "EPERM", "EROFS"]);
const FULL = new Set(["ENOSPC", "EDQUOT"]);
const OTHER = new Set([
  "EISDIR",
  "ENOTDIR",
  "EEXIST",
  "ELOOP",
  "ENAMETOOLONG",
  "EMFILE",
  "ENFILE",
  "EIO",
  "EBUSY",
  "ETXTBSY",
  "EXDEV",
  "ENOTEMPTY",
  "EFBIG",
  "EMLINK",
  "ENXIO",
]);

/** How a full disk (or quota) reads in error messages, SQLite's own "database or disk is full" included. */
const DISK_FULL_TEXT =
  /No space left on device|ENOSPC|os error 28|Disk quota exceeded|database or disk is full|SQLITE_FULL/i;

/** True when `message` says the disk (or the user's quota) is full. */
export function saysDiskFull(message: string): boolean {
  return DISK_FULL_TEXT.test(message);
}

/** Deno: `Permission denied (os error 13): mkdir '/x'`, `rename '/a' -> '/b'`. */
const DENO_MESSAGE = /^(.*?) \(os error \d+\)(?:: (\w+) '([^']*)'(?: -> '([^']*)')?)?$/s;
/** node: `EACCES: permission denied, mkdir '/x'`. */
const NODE_MESSAGE = /^E[A-Z]+: ([^,]+), (\w+) '([^']*)'(?: -> '([^']*)')?/s;

const VERBS: Readonly<Record<string, string>> = {
  mkdir: "create folder",
  writefile: "write",
  write: "write",
  open: "open",
  rename: "move",
  remove: "remove",
  rmdir: "remove",
  unlink: "remove",
  copy: "copy",
  copyfile: "copy",
  readdir: "read folder",
  scandir: "read folder",
  readfile: "read",
  stat: "look at",
  lstat: "look at",
  chmod: "change the mode of",
  chown: "change the owner of",
  link: "link",
  symlink: "link",
  realpath: "resolve",
  truncate: "truncate",
  utime: "set the times of",
  mkdtemp: "create a folder in",
};

/** What the message says: the OS's reason, the operation, its path (and target). */
interface Parsed {
  readonly reason: string;
  readonly op?: string;
  readonly path?: string;
  readonly to?: string;
}

/**
 * Words `error` when it is an operating-system error on a path (or without
 * one: then `action` says what lockstep was doing); `undefined` for anything
 * else, which the caller keeps as it is. `path`, when given, is the path to
 * name instead of the one in the message (the file a temp file stands for).
 */
export function describeOsError(
  error: unknown,
  action: string,
  path?: string,
): OsErrorWording | undefined {
  const found = classify(error);
  if (found === undefined) return undefined;
  const { osCode, code } = found;
  const said = parse((error as Error).message);
  const parsed: Parsed = path === undefined ? said : { reason: said.reason };
  const subject = parsed.path === undefined
    ? action
    : `${VERBS[parsed.op ?? ""] ?? parsed.op} "${parsed.path}"` +
      (parsed.to === undefined ? "" : ` to "${parsed.to}"`);
  const where = path ?? parsed.to ?? parsed.path;
  const data = {
    osCode,
    ...(parsed.op === undefined ? {} : { operation: parsed.op }),
    ...(where === undefined ? {} : { path: where }),
  };
  const reason = parsed.reason.toLowerCase();
  return { code, message: wording(code, { subject, osCode, reason, where }), data };
}

/** The OS code of `error` and the code it becomes; SQLite's "disk is full" counts as ENOSPC. */
function classify(error: unknown): { osCode: string; code: OsErrorCode } | undefined {
  if (!(error instanceof Error)) return undefined;
  const own = (error as { code?: unknown }).code;
  const osCode = typeof own === "string" && /^E[A-Z0-9]+$/.test(own)
    ? own
    : saysDiskFull(error.message)
    ? "ENOSPC"
    : undefined;
  if (osCode === undefined) return undefined;
  if (ACCESS.has(osCode)) return { osCode, code: "ACCESS_DENIED" };
  if (FULL.has(osCode)) return { osCode, code: "DISK_FULL" };
  if (osCode === "ENOENT") return { osCode, code: "FILE_NOT_FOUND" };
  if (OTHER.has(osCode)) return { osCode, code: "IO_FAILED" };
  return undefined;
}

/** The message for `code`: "Cannot <subject>: <state>. <fix>." */
function wording(
  code: OsErrorCode,
  facts: { subject: string; osCode: string; reason: string; where: string | undefined },
): string {
  const { subject, osCode, reason, where } = facts;
  if (code === "ACCESS_DENIED") return accessDenied(subject, osCode, reason, where);
  if (code === "DISK_FULL") {
    const quota = osCode === "EDQUOT" ? `the disk quota of ${runningUser()} is used up` : "";
    return `Cannot ${subject}: ${quota || "the disk is full"}${
      where === undefined ? "" : ` (on the file system holding "${where}")`
    }. Free space there (old backups go with "lockstep backup prune"), then retry.`;
  }
  if (code === "FILE_NOT_FOUND") {
    const missing = where === undefined ? "a path it needs" : firstMissing(where);
    return `Cannot ${subject}: ${missing} does not exist. Create it, or correct the path ` +
      `(in lockstep.json, relative paths start at its folder).`;
  }
  return `Cannot ${subject}: the operating system said "${reason}" (${osCode}). ` +
    `Check that path and its file system, then retry.`;
}

function parse(message: string): Parsed {
  const deno = DENO_MESSAGE.exec(message);
  const match = deno ?? NODE_MESSAGE.exec(message);
  if (!match) return { reason: message };
  const [, reason, op, path, to] = match;
  return {
    reason: reason!,
    ...(op === undefined ? {} : { op: op.toLowerCase() }),
    ...(path === undefined ? {} : { path }),
    ...(to === undefined ? {} : { to }),
  };
}

/**
 * "Cannot <subject>: <reason> for the user running lockstep. "<path>"
 * belongs to uid N (mode M). <fix>." for a path the operating system (or a
 * library on its behalf, such as SQLite) refused.
 */
export function accessDeniedMessage(subject: string, reason: string, where: string): string {
  return accessDenied(subject, "EACCES", reason, where);
}

function accessDenied(
  subject: string,
  osCode: string,
  reason: string,
  where: string | undefined,
): string {
  const user = runningUser();
  if (osCode === "EROFS") {
    return `Cannot ${subject}: ${
      where === undefined ? "it is" : `"${where}" is`
    } on a read-only file system (lockstep runs as ${user}). Remount it read-write, or point ` +
      `lockstep.json ("root", "updates") at a writable folder.`;
  }
  const owner = where === undefined ? undefined : ownerOf(where);
  const uid = currentUid();
  const own = owner === undefined
    ? ""
    : ` "${owner.path}" belongs to uid ${owner.uid} (mode ${owner.mode}).`;
  const fix = owner !== undefined && owner.uid === uid
    ? `It is already this user's, so a read-only mount or an immutable attribute refuses it ` +
      `(see "mount" and "lsattr -d ${owner.path}").`
    : `Run lockstep as ${owner === undefined ? "the user that owns the app" : `uid ${owner.uid}`}` +
      `, or give ${uid === undefined ? "this user" : `uid ${uid}`} access` +
      `${owner === undefined ? "" : ` to "${owner.path}"`} (chown or chmod).`;
  return `Cannot ${subject}: ${reason} for ${user}.${own} ${fix}`;
}

/** "the user running lockstep (uid 1000)"; the uid only where `--allow-sys=uid` is granted. */
function runningUser(): string {
  const uid = currentUid();
  return uid === undefined ? "the user running lockstep" : `the user running lockstep (uid ${uid})`;
}

function currentUid(): number | undefined {
  const state = Deno.permissions.querySync({ name: "sys", kind: "uid" }).state;
  return state === "granted" ? Deno.uid() ?? undefined : undefined;
}

/**
 * What is missing on the way to `path`: `the folder "/srv/shop/no"` when a
 * folder above it is, else `"<path>"` itself. Looked up only where reading
 * is granted.
 */
function firstMissing(path: string): string {
  let missing = path;
  for (let at = dirname(path); at !== missing; missing = at, at = dirname(at)) {
    if (Deno.permissions.querySync({ name: "read", path: at }).state !== "granted") break;
    try {
      Deno.lstatSync(at);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) break;
    }
  }
  return missing === path ? `"${path}"` : `the folder "${missing}"`;
}

/**
 * The owner and mode of `path`, or of its nearest existing folder, read only
 * where reading is already granted (a query never prompts).
 */
function ownerOf(path: string): { path: string; uid: number; mode: string } | undefined {
  let at = path;
  for (;;) {
    if (Deno.permissions.querySync({ name: "read", path: at }).state !== "granted") return;
    try {
      const info = Deno.statSync(at);
      if (info.uid === null || info.mode === null) return undefined;
      return { path: at, uid: info.uid, mode: (info.mode & 0o7777).toString(8).padStart(4, "0") };
    } catch (error) {
      // Not there, or not visible to this user: look at the folder holding it.
      const hidden = error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.PermissionDenied;
      if (!hidden) return undefined;
    }
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}
