/**
 * `bundle create`: pack a release folder into a bundle zip with a manifest
 * listing every file's SHA-256 and size, the files of the previous release
 * it no longer has, and optionally a signature.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { valid, validRange } from "../deps/semver.ts";
import { LockstepError } from "../errors.ts";
import { compressible, syncFolder } from "../files.ts";
import { checkPaths } from "./paths.ts";
import { sign } from "./signature.ts";

/** Options for {@link createBundle}. */
export interface CreateBundleOptions {
  /** The release folder: the application's code as shipped. */
  from: string;
  /** The previous release folder; its files missing from `from` go to `remove`. */
  base?: string;
  /** The application name (as in lockstep.json). */
  app: string;
  /** The release's semantic version. */
  version: string;
  /** npm range of installed versions this bundle upgrades. */
  upgradesFrom?: string;
  /** Release notes, plain text. */
  notes?: string;
  /** A security release (default `false`). */
  security?: boolean;
  /** Lines describing the database changes. */
  database?: string[];
  /** Prerequisites, such as `{ deno: ">=2.9" }`. */
  requires?: Record<string, string>;
  /** A key file from `keygen` to sign with. */
  signWith?: string;
  /** Where to write the zip; an existing file is refused. */
  out: string;
}

/** What {@link createBundle} wrote. */
export interface CreateBundleResult {
  /** The zip written. */
  readonly path: string;
  /** Its version. */
  readonly version: string;
  /** How many payload files. */
  readonly files: number;
  /** Their total size in bytes. */
  readonly bytes: number;
  /** Paths of the base release it removes. */
  readonly remove: readonly string[];
  /** Whether it carries a signature. */
  readonly signed: boolean;
}

interface Found {
  path: string;
  absolute: string;
  size: number;
  mode: number;
}

async function walk(root: string, relative = ""): Promise<Found[]> {
  const out: Found[] = [];
  const folder = relative === "" ? root : join(root, relative);
  const names: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(folder)) names.push(entry);
  names.sort((a, b) => a.name < b.name ? -1 : 1);
  for (const entry of names) {
    const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
    const absolute = join(root, path);
    if (entry.isSymlink) {
      throw new LockstepError(
        "BUNDLE_PATH_UNSAFE",
        `Cannot create bundle: "${absolute}" is a symbolic link, and bundles carry no links. Nothing was written.`,
        { data: { path } },
      );
    }
    if (entry.isDirectory) out.push(...await walk(root, path));
    else if (entry.isFile) {
      const info = await Deno.lstat(absolute);
      out.push({ path, absolute, size: info.size, mode: (info.mode ?? 0o644) & 0o777 });
    }
  }
  return out;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Packs `options.from` into the bundle zip `options.out`.
 *
 * Permissions: `--allow-read` on `from` (and `base`, and the key file), `--allow-write` on `out`'s
 * folder.
 *
 * @throws {LockstepError} `USAGE` (bad version or range), `BUNDLE_PATH_UNSAFE`,
 * `BUNDLE_PATH_COLLISION`, `KEY_INVALID`, `FILE_NOT_FOUND`.
 * @example
 * ```ts ignore
 * await createBundle({ from: "build/1.5.0", base: "build/1.4.0", app: "shop", version: "1.5.0",
 * out: "shop-1.5.0.zip", signWith: "/secure/release.key" });
 * ```
 */
export async function createBundle(options: CreateBundleOptions): Promise<CreateBundleResult> {
  const { from, base, app, version, upgradesFrom, notes = "", security = false, out } = options;
  if (valid(version) !== version) {
    throw new LockstepError(
      "USAGE",
      `Cannot create bundle: "${version}" is not a semantic version (like 1.5.0).`,
    );
  }
  if (upgradesFrom !== undefined && validRange(upgradesFrom) === null) {
    throw new LockstepError(
      "USAGE",
      `Cannot create bundle: --upgrades-from "${upgradesFrom}" is not a version range.`,
    );
  }
  const files = await walk(from).catch((error) => {
    if (error instanceof Deno.errors.NotFound) {
      throw new LockstepError(
        "FILE_NOT_FOUND",
        `Cannot create bundle: release folder "${from}" does not exist.`,
        { cause: error },
      );
    }
    throw error;
  });
  checkPaths(files.map((f) => f.path), out, "files");
  const present = new Set(files.map((f) => f.path));
  const remove = base === undefined
    ? []
    : (await walk(base)).map((f) => f.path).filter((p) => !present.has(p));
  const listed: Record<string, { sha256: string; size: number; mode?: string }> = {};
  let bytes = 0;
  for (const file of files) {
    const entry: { sha256: string; size: number; mode?: string } = {
      sha256: await sha256(file.absolute),
      size: file.size,
    };
    if (file.mode !== 0o644) entry.mode = `0${file.mode.toString(8)}`;
    listed[file.path] = entry;
    bytes += file.size;
  }
  const manifest = {
    format: 1,
    app,
    version,
    ...(upgradesFrom === undefined ? {} : { upgradesFrom }),
    released: new Date().toISOString(),
    security,
    notes,
    database: options.database ?? [],
    requires: options.requires ?? {},
    files: listed,
    remove,
  };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
  const signature = options.signWith === undefined
    ? undefined
    : await sign(manifestBytes, options.signWith);

  const { ZipWriter, configure } = await import("../deps/zip.ts");
  configure({ useWebWorkers: false });
  // The output folder (often updates/pending/) is made when missing.
  await Deno.mkdir(dirname(out), { recursive: true });
  const temp = join(dirname(out), `.lockstep-${crypto.randomUUID()}.tmp`);
  const target = await Deno.open(temp, { write: true, createNew: true });
  try {
    const writer = new ZipWriter(target.writable, { level: 6 });
    await writer.add("bundle.json", new Blob([manifestBytes]).stream());
    if (signature) {
      await writer.add("bundle.sig", new Blob([signature as Uint8Array<ArrayBuffer>]).stream());
    }
    for (const file of files) {
      const source = await Deno.open(file.absolute);
      await writer.add(`files/${file.path}`, source.readable, {
        level: compressible(file.path) ? 6 : 0,
      });
    }
    await writer.close();
  } catch (error) {
    await Deno.remove(temp).catch(() => undefined);
    throw error;
  }
  try {
    await Deno.link(temp, out);
  } catch (error) {
    await Deno.remove(temp).catch(() => undefined);
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new LockstepError(
        "USAGE",
        `Cannot create bundle "${out}": the file exists already. Nothing was written.`,
      );
    }
    throw error;
  }
  await Deno.remove(temp);
  await syncFolder(dirname(out));
  return {
    path: out,
    version,
    files: files.length,
    bytes,
    remove,
    signed: signature !== undefined,
  };
}
