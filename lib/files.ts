/**
 * The filesystem abstraction: paths confined to a root (every component
 * lstat'ed, no links followed), atomic replacement (temp file, fsync,
 * rename), and an undo log so that a failed migration's file changes are
 * put back with its database changes.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { explainPermission, LockstepError } from "./errors.ts";

/**
 * The reason `path` is not a canonical relative path (no `..`, `.` or empty
 * components, not absolute, no drive letter, backslash, NUL or control
 * character), or `undefined` when it is one.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path === "") return "it is empty";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return "it holds a control character";
  if (path.includes("\\")) return "it holds a backslash";
  if (path.startsWith("/")) return "it is absolute";
  if (/^[A-Za-z]:/.test(path)) return "it starts with a drive letter";
  for (const part of path.split("/")) {
    if (part === "") return "it has an empty component";
    if (part === ".") return 'it has a "." component';
    if (part === "..") return "it leaves the root";
  }
  return undefined;
}

/**
 * Resolves `path` under `root`, refusing unsafe paths and any existing
 * component that is a symbolic link.
 *
 * @throws {LockstepError} `PATH_UNSAFE` with `data.path` and `data.reason`.
 */
export async function confined(root: string, path: string, action: string): Promise<string> {
  const reason = unsafePathReason(path);
  if (reason !== undefined) throw unsafe(action, path, reason);
  let at = resolve(root);
  for (const part of path.split("/")) {
    at = join(at, part);
    try {
      const info = await Deno.lstat(at);
      if (info.isSymlink) throw unsafe(action, path, `"${relative(root, at)}" is a symbolic link`);
    } catch (error) {
      // Nothing (or a file) at this component: the rest does not exist yet.
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        break;
      }
      throw error;
    }
  }
  return join(resolve(root), ...path.split("/"));
}

/**
 * {@link confined}, synchronous, through `lstat` (which returns `undefined`
 * where nothing is): a caller checking many paths passes one that remembers
 * what it saw, so that each folder costs one call.
 *
 * @throws {LockstepError} `PATH_UNSAFE` with `data.path` and `data.reason`.
 */
export function confinedSync(
  root: string,
  path: string,
  action: string,
  lstat: (path: string) => Deno.FileInfo | undefined = lstatOrNothing,
): string {
  const reason = unsafePathReason(path);
  if (reason !== undefined) throw unsafe(action, path, reason);
  let at = resolve(root);
  for (const part of path.split("/")) {
    at = join(at, part);
    const info = lstat(at);
    // Nothing (or a file) at this component: the rest does not exist yet.
    if (info === undefined) break;
    if (info.isSymlink) throw unsafe(action, path, `"${relative(root, at)}" is a symbolic link`);
    if (!info.isDirectory) break;
  }
  return join(resolve(root), ...path.split("/"));
}

/** `Deno.lstatSync`, or `undefined` where nothing is (or a file stands where a folder would). */
export function lstatOrNothing(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

function unsafe(action: string, path: string, reason: string): LockstepError {
  return new LockstepError("PATH_UNSAFE", `Cannot ${action} "${path}": ${reason}`, {
    data: { path, reason },
  });
}

/**
 * Replaces `path` with `data` atomically: a temp file beside it, written,
 * fsync'ed, then renamed over it; the folder is fsync'ed after. On failure
 * the temp file is removed and `path` is as it was.
 *
 * @throws {LockstepError} an operating-system error worded for `path` (not
 * the temp file): `DISK_FULL`, `ACCESS_DENIED` (naming the user and the
 * folder's owner), `IO_FAILED`; `PERMISSION_DENIED` for a Deno flag.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const { mode = 0o644 } = options;
  const folder = dirname(path);
  const temp = join(folder, `.${path.slice(folder.length + 1)}.lockstep-${crypto.randomUUID()}`);
  let file: Deno.FsFile | undefined;
  try {
    await Deno.mkdir(folder, { recursive: true });
    file = await Deno.open(temp, { write: true, createNew: true, mode });
    try {
      await writeAll(file, data);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (error) {
    if (file !== undefined) await Deno.remove(temp).catch(() => undefined);
    throw explainPermission(error, `write "${path}"`, path);
  }
  await syncFolder(folder);
}

/** fsyncs a folder so that renames in it survive a power cut. */
export async function syncFolder(folder: string): Promise<void> {
  const dir = await Deno.open(folder, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await file.write(data.subarray(written));
}

/** The files of the application, as a migration sees them in `ctx.files`. */
export interface RootFiles {
  /** The absolute app root. */
  readonly root: string;
  /** Reads a text file; `undefined` when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** Replaces (or creates) a text file atomically. */
  writeText(path: string, text: string): Promise<void>;
  /**
   * Reads and parses a JSON file.
   *
   * @throws {LockstepError} `FILE_NOT_FOUND` naming the file when it does not
   * exist (pass a default to get that instead), `FILE_INVALID` when it is not JSON.
   */
  readJson<T = unknown>(path: string): Promise<T>;
  /** Reads and parses a JSON file, or returns `fallback` when it does not exist. */
  readJson<T>(path: string, fallback: T): Promise<T>;
  /** Writes `value` as pretty JSON with a final newline, atomically. */
  writeJson(path: string, value: unknown): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  remove(path: string): Promise<void>;
}

/** {@link RootFiles} that remembers each file's first state so the changes can be undone. */
export interface UndoableFiles extends RootFiles {
  /** Paths (relative) written or removed so far. */
  readonly changed: readonly string[];
  /** Puts every changed file back as it was, newest change first. */
  undo(): Promise<void>;
}

/** A file as it was before a migration first changed it (`null`: it did not exist). */
export type FileBefore = { readonly data: Uint8Array; readonly mode: number } | null;

/** Hears of each file's first state before the file is first changed. */
export type OnRemember = (path: string, before: FileBefore) => Promise<void>;

/** Each changed file's first state (`null`: it did not exist), to put it back. */
class UndoLog {
  readonly #before = new Map<string, FileBefore>();
  readonly #order: string[] = [];

  constructor(readonly root: string, readonly onRemember?: OnRemember) {}

  get changed(): readonly string[] {
    return [...this.#order];
  }

  /** The mode the file had (new files get 0644). */
  modeOf(path: string): number {
    return this.#before.get(path)?.mode ?? 0o644;
  }

  /** Remembers the file at `absolute` as it is, the first time `path` changes. */
  async remember(path: string, absolute: string): Promise<void> {
    if (this.#before.has(path)) return;
    let was: FileBefore;
    try {
      const [data, info] = await Promise.all([Deno.readFile(absolute), Deno.stat(absolute)]);
      was = { data, mode: (info.mode ?? 0o644) & 0o777 };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      was = null;
    }
    await this.onRemember?.(path, was);
    this.#before.set(path, was);
    this.#order.push(path);
  }

  async undo(): Promise<void> {
    for (const path of [...this.#order].reverse()) {
      const absolute = join(resolve(this.root), ...path.split("/"));
      const was = this.#before.get(path);
      if (was === null || was === undefined) await removeIfThere(absolute);
      else await writeFileAtomic(absolute, was.data, { mode: was.mode });
    }
    this.#before.clear();
    this.#order.length = 0;
  }
}

/**
 * Opens `root` for a migration: confined, atomic, and undoable.
 * `onRemember` hears of each file's first state before the file is first
 * changed (to make the undo survive a crash).
 */
export function undoableFiles(
  root: string,
  options: { onRemember?: OnRemember } = {},
): UndoableFiles {
  const log = new UndoLog(root, options.onRemember);
  const readText = (path: string) => readTextUnder(root, path);
  async function writeText(path: string, text: string): Promise<void> {
    const absolute = await confined(root, path, "change file");
    await log.remember(path, absolute);
    await writeFileAtomic(absolute, new TextEncoder().encode(text), { mode: log.modeOf(path) });
  }
  return {
    root: resolve(root),
    get changed() {
      return log.changed;
    },
    readText,
    writeText,
    readJson: (path: string, ...fallback: unknown[]) =>
      readJsonUnder(root, path, fallback) as Promise<never>,
    writeJson: (path, value) => writeText(path, JSON.stringify(value, null, 2) + "\n"),
    async remove(path: string): Promise<void> {
      const absolute = await confined(root, path, "remove file");
      await log.remember(path, absolute);
      await removeIfThere(absolute);
    },
    undo: () => log.undo(),
  };
}

async function readTextUnder(root: string, path: string): Promise<string | undefined> {
  const absolute = await confined(root, path, "read file");
  try {
    return await Deno.readTextFile(absolute);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** `readJson(path)` and `readJson(path, fallback)`: a missing file is an error unless a fallback is given. */
async function readJsonUnder(root: string, path: string, fallback: unknown[]): Promise<unknown> {
  const text = await readTextUnder(root, path);
  if (text === undefined) {
    if (fallback.length > 0) return fallback[0];
    throw new LockstepError(
      "FILE_NOT_FOUND",
      `Cannot read JSON file "${path}": it does not exist under the app root ` +
        `(${resolve(root)}). Create it, or give the migration a default for a missing file: ` +
        `ctx.files.readJson(${JSON.stringify(path)}, {}).`,
      { data: { path } },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LockstepError(
      "FILE_INVALID",
      `Cannot read JSON file "${path}": ${(error as Error).message}`,
      { cause: error, data: { path } },
    );
  }
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Already-compressed formats are stored in zips: deflating them costs time and gains nothing. */
export function compressible(path: string): boolean {
  return !/\.(zip|gz|tgz|bz2|xz|zst|7z|jpe?g|png|gif|webp|avif|mp[34]|mov|woff2?|pdf)$/i.test(path);
}

/**
 * Whether anything (a file, folder or link) is at `path`. Synchronous: one
 * quick syscall, and an async op's thread-pool round trip made installing
 * 2,000 files ten times slower.
 */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    // A file where a folder of the path should be: nothing is at the path either.
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}
