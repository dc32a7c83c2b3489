/**
 * The filesystem abstraction: paths confined to a root (every component
 * lstat'ed, no links followed), atomic replacement (temp file, fsync,
 * rename), and an undo log so that a failed migration's file changes are
 * put back with its database changes.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { LockstepError } from "./errors.ts";

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

function unsafe(action: string, path: string, reason: string): LockstepError {
  return new LockstepError("PATH_UNSAFE", `Cannot ${action} "${path}": ${reason}`, {
    data: { path, reason },
  });
}

/**
 * Replaces `path` with `data` atomically: a temp file beside it, written,
 * fsync'ed, then renamed over it; the folder is fsync'ed after.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const { mode = 0o644 } = options;
  const folder = dirname(path);
  await Deno.mkdir(folder, { recursive: true });
  const temp = join(folder, `.${path.slice(folder.length + 1)}.lockstep-${crypto.randomUUID()}`);
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    await writeAll(file, data);
    await file.sync();
  } finally {
    file.close();
  }
  try {
    await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => undefined);
    throw error;
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
  /** Reads and parses a JSON file; `undefined` when it does not exist. */
  readJson<T = unknown>(path: string): Promise<T | undefined>;
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

/**
 * Opens `root` for a migration: confined, atomic, and undoable.
 * `onRemember` hears of each file's first state before the file is first
 * changed (to make the undo survive a crash).
 */
export function undoableFiles(
  root: string,
  options: { onRemember?: (path: string, before: FileBefore) => Promise<void> } = {},
): UndoableFiles {
  const before = new Map<string, FileBefore>();
  const order: string[] = [];
  const action = "change file";

  async function remember(path: string, absolute: string): Promise<void> {
    if (before.has(path)) return;
    let was: FileBefore;
    try {
      const [data, info] = await Promise.all([Deno.readFile(absolute), Deno.stat(absolute)]);
      was = { data, mode: (info.mode ?? 0o644) & 0o777 };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      was = null;
    }
    await options.onRemember?.(path, was);
    before.set(path, was);
    order.push(path);
  }

  async function readText(path: string): Promise<string | undefined> {
    const absolute = await confined(root, path, "read file");
    try {
      return await Deno.readTextFile(absolute);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  async function writeText(path: string, text: string): Promise<void> {
    const absolute = await confined(root, path, action);
    await remember(path, absolute);
    const mode = before.get(path)?.mode ?? 0o644;
    await writeFileAtomic(absolute, new TextEncoder().encode(text), { mode });
  }

  return {
    root: resolve(root),
    get changed() {
      return [...order];
    },
    readText,
    writeText,
    async readJson<T>(path: string): Promise<T | undefined> {
      const text = await readText(path);
      if (text === undefined) return undefined;
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new LockstepError(
          "FILE_INVALID",
          `Cannot read JSON file "${path}": ${(error as Error).message}`,
          { cause: error, data: { path } },
        );
      }
    },
    writeJson: (path, value) => writeText(path, JSON.stringify(value, null, 2) + "\n"),
    async remove(path: string): Promise<void> {
      const absolute = await confined(root, path, "remove file");
      await remember(path, absolute);
      await Deno.remove(absolute).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    },
    async undo(): Promise<void> {
      for (const path of [...order].reverse()) {
        const absolute = join(resolve(root), ...path.split("/"));
        const was = before.get(path);
        if (was === null || was === undefined) {
          await Deno.remove(absolute).catch((error) => {
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          });
        } else {
          await writeFileAtomic(absolute, was.data, { mode: was.mode });
        }
      }
      before.clear();
      order.length = 0;
    },
  };
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
