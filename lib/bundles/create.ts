/**
 * `bundle create`: pack a release folder into a bundle zip with a manifest
 * listing every file's SHA-256 and size, the files of the previous release
 * it no longer has, and optionally a signature. It refuses, before writing
 * anything, what a host would refuse or should never receive: files that look
 * like secrets, links, names a host cannot hold and, with a config, protected
 * paths. Version-control folders are never packed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join, relative } from "node:path";
import type { Config } from "../config.ts";
import { valid, validRange } from "../deps/semver.ts";
import { globMatcher } from "../deps/glob.ts";
import { LockstepError } from "../errors.ts";
import { compressible, syncFolder } from "../files.ts";
import { needsZip64, worthDeflating, ZipWriter } from "../zip_writer.ts";
import { checkPaths, checkRemovals } from "./paths.ts";
import { protection } from "./pending.ts";
import { IGNORE_FILE, readRelease, type ReleaseFile, releaseRules } from "./release.ts";
import { secretByName, secretInContent } from "./secrets.ts";
import { sign } from "./signature.ts";
import { packRelease, prefixed } from "../packs/create.ts";

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
  /**
   * Make a pack bundle for this pack: `from` is the pack's folder, with its
   * `lockstep-package.json` naming the same pack and version (default: an app bundle).
   */
  pack?: string;
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
  /**
   * Globs (as `protect`) of paths neither packed nor removed, besides the
   * release folder's `.lockstepignore` and version-control folders (default none).
   */
  exclude?: readonly string[];
  /** Globs of files that look like secrets to pack all the same (default none). */
  include?: readonly string[];
  /** Pack the content of links whose target stays in the release folder (default `false`: refuse links). */
  followLinks?: boolean;
  /**
   * The app's config: its `protect` paths, lockstep.json and the updates
   * folder are refused in `files` and `remove` (default: no config, nothing protected).
   */
  config?: Config;
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

type Listed = Record<string, { sha256: string; size: number; mode?: string }>;

/**
 * Packs `options.from` into the bundle zip `options.out`.
 *
 * Permissions: `--allow-read` on `from` (and `base`, and the key file), `--allow-write` on `out`'s
 * folder.
 *
 * @throws {LockstepError} `USAGE` (bad version or range, app not the config's, `out` exists),
 * `FILE_NOT_FOUND`, `BUNDLE_SOURCE_LINK`, `BUNDLE_SECRET_FILE`, `BUNDLE_PROTECTED_PATH`,
 * `BUNDLE_PATH_UNSAFE`, `BUNDLE_PATH_COLLISION`, `KEY_INVALID`.
 * @example
 * ```ts ignore
 * await createBundle({ from: "build/1.5.0", base: "build/1.4.0", app: "shop", version: "1.5.0",
 * out: "shop-1.5.0.zip", signWith: "/secure/release.key", exclude: ["*.log"] });
 * ```
 */
export async function createBundle(options: CreateBundleOptions): Promise<CreateBundleResult> {
  const { from, base, app, version, upgradesFrom, notes = "", security = false, out } = options;
  refuseBadOptions(options);
  const rules = await releaseRules(from, options);
  const files = await readRelease(from, rules);
  const present = new Set(files.map((f) => f.path));
  const remove = base === undefined
    ? []
    : (await readRelease(base, rules)).map((f) => f.path).filter((p) => !present.has(p));
  const where = basename(out);
  const pack = options.pack === undefined
    ? undefined
    : await packRelease(from, { pack: options.pack, version, app }, options.config, where);
  checkPaths([...present], where, "files", "create");
  checkPaths(remove, where, "remove", "create");
  checkRemovals([...present], remove, where, "create");
  if (options.config && pack) {
    const { config } = options;
    const [writes, removes] = [
      prefixed(config, pack.name, [...present]),
      prefixed(config, pack.name, remove),
    ];
    refuseProtected(config, writes, removes, where, pack.name);
  } else if (options.config) refuseProtected(options.config, [...present], remove, where);
  const { listed, bytes } = fingerprint(files, options.include ?? [], where);
  const manifest = {
    format: 1,
    app,
    version,
    ...(pack === undefined ? {} : { pack: pack.name }),
    ...(upgradesFrom === undefined ? {} : { upgradesFrom }),
    released: new Date().toISOString(),
    security,
    notes,
    database: options.database ?? [],
    requires: { ...options.requires, ...pack?.requires },
    files: listed,
    remove,
  };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
  const signature = options.signWith === undefined
    ? undefined
    : await sign(manifestBytes, options.signWith);
  await writeBundleZip(out, manifestBytes, signature, files);
  return { path: out, version, files: files.length, bytes, remove, signed: !!signature };
}

function refuseBadOptions(options: CreateBundleOptions): void {
  const { version, upgradesFrom, app, config } = options;
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
  if (config !== undefined && config.app !== app) {
    throw new LockstepError(
      "USAGE",
      `Cannot create bundle for app "${app}": ${config.file} is the config of app ` +
        `"${config.app}". Drop --app, or name the right config with --config. Nothing was written.`,
    );
  }
}

/** Refuses every protected path the bundle would write or remove, all named at once. */
function refuseProtected(
  config: Config,
  writes: readonly string[],
  removes: readonly string[],
  where: string,
  pack?: string,
): void {
  const isProtected = protection(config, pack);
  const versionFile = relative(config.root, config.versionFile);
  const guarded = (path: string) => isProtected(path) && path !== versionFile;
  const written = writes.filter(guarded);
  const removed = removes.filter(guarded);
  if (written.length === 0 && removed.length === 0) return;
  const quote = (paths: readonly string[]) => paths.map((p) => `"${p}"`).join(", ");
  const parts = [
    ...(written.length > 0 ? [`write ${quote(written)}`] : []),
    ...(removed.length > 0 ? [`remove ${quote(removed)} (in the base, not in the release)`] : []),
  ];
  throw new LockstepError(
    "BUNDLE_PROTECTED_PATH",
    `Cannot create bundle "${where}": it would ${parts.join(" and ")}, protected on the host ` +
      `by ${config.file} (protect, lockstep.json, the updates folder${
        pack === undefined ? ", the packs folder: a pack ships as a pack bundle, --pack NAME" : ""
      }), which would refuse it. ` +
      `Leave them out with --exclude GLOB or ${IGNORE_FILE} (an excluded path is neither ` +
      `packed nor removed). Nothing was written.`,
    { data: { bundle: where, write: written, remove: removed } },
  );
}

/**
 * Each file's SHA-256, size and mode, reading it once; refuses every file
 * that looks like a secret (by name, or by its first bytes) unless `include`
 * names it.
 */
function fingerprint(
  files: readonly ReleaseFile[],
  include: readonly string[],
  where: string,
): { listed: Listed; bytes: number } {
  const included = globMatcher(include);
  const secrets: { path: string; reason: string }[] = [];
  const listed: Listed = {};
  let bytes = 0;
  // Synchronous reads into one buffer: a stream per file cost more than the small files.
  const buffer = new Uint8Array(1024 * 1024);
  for (const file of files) {
    const hash = createHash("sha256");
    let reason = secretByName(file.path);
    using handle = Deno.openSync(file.absolute, { read: true });
    for (let n = handle.readSync(buffer); n !== null; n = handle.readSync(buffer)) {
      const chunk = buffer.subarray(0, n);
      reason ??= secretInContent(chunk);
      hash.update(chunk);
    }
    if (reason !== undefined && !included(file.path)) secrets.push({ path: file.path, reason });
    listed[file.path] = {
      sha256: hash.digest("hex"),
      size: file.size,
      ...(file.mode === 0o644 ? {} : { mode: `0${file.mode.toString(8)}` }),
    };
    bytes += file.size;
  }
  if (secrets.length > 0) {
    throw new LockstepError(
      "BUNDLE_SECRET_FILE",
      `Cannot create bundle "${where}": these files look like secrets: ${
        secrets.map((s) => `"${s.path}" (${s.reason})`).join(", ")
      }. Leave them out of the release (remove them, or list them in ${IGNORE_FILE} or with ` +
        `--exclude GLOB), or pack one on purpose with --include GLOB. Nothing was written.`,
      { data: { bundle: where, files: secrets } },
    );
  }
  return { listed, bytes };
}

/** Writes the zip under a temporary name beside `out`, then links it to `out` (never replacing). */
async function writeBundleZip(
  out: string,
  manifestBytes: Uint8Array<ArrayBuffer>,
  signature: Uint8Array | undefined,
  files: readonly ReleaseFile[],
): Promise<void> {
  // The output folder (often updates/pending/) is made when missing.
  await Deno.mkdir(dirname(out), { recursive: true });
  const temp = join(dirname(out), `.lockstep-${crypto.randomUUID()}.tmp`);
  const target = await Deno.open(temp, { write: true, createNew: true });
  try {
    const total = files.reduce((sum, f) => sum + f.size, manifestBytes.length);
    if (needsZip64(files.length + 2, total)) {
      await writeZip64(target, manifestBytes, signature, files);
    } else {
      const writer = await ZipWriter.open(target);
      writer.addBytes("bundle.json", manifestBytes);
      if (signature) writer.addBytes("bundle.sig", signature);
      for (const file of files) {
        const handle = Deno.openSync(file.absolute, { read: true });
        const deflate = worthDeflating(file.path, file.size, handle);
        writer.addFile(`files/${file.path}`, handle, { deflate });
      }
      writer.close();
    }
    target.close();
  } catch (error) {
    try {
      target.close();
    } catch (closing) {
      if (!(closing instanceof Deno.errors.BadResource)) throw closing;
    }
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
}

/** A bundle too large for the classic zip format: zip.js, zip64. */
async function writeZip64(
  target: Deno.FsFile,
  manifestBytes: Uint8Array<ArrayBuffer>,
  signature: Uint8Array | undefined,
  files: readonly ReleaseFile[],
): Promise<void> {
  const { ZipWriter, configure } = await import("../deps/zip.ts");
  configure({ useWebWorkers: false });
  const writer = new ZipWriter(target.writable, { level: 6, zip64: true, preventClose: true });
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
}
