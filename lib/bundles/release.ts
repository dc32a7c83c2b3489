/**
 * What `bundle create` takes from a release folder: every regular file,
 * except version-control folders (`.git`, `.hg`, `.svn`, `.bzr`), the
 * release's own `.lockstepignore` and what it (gitignore syntax) or an
 * `exclude` glob leaves out. A symbolic link is refused with the ways out,
 * or with `followLinks` its target is packed when it stays inside the
 * folder. The same rules read the base release, so an excluded path is
 * neither packed nor removed.
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import { LockstepError } from "../errors.ts";
import { globMatcher } from "../deps/glob.ts";
import { gitignoreMatcher } from "../deps/ignore.ts";

/** Version-control folders (or files, in git worktrees) that a bundle never carries. */
export const VCS_NAMES: readonly string[] = [".git", ".hg", ".svn", ".bzr"];
/** The exclude file read from the release folder, in gitignore syntax. */
export const IGNORE_FILE = ".lockstepignore";

/** One file of a release folder. */
export interface ReleaseFile {
  /** Its path relative to the folder (the app root on the host). */
  readonly path: string;
  /** Where its content is (a link's target when links are followed). */
  readonly absolute: string;
  readonly size: number;
  readonly mode: number;
}

/** Which paths of a release are left out, and whether links are followed. */
export interface ReleaseRules {
  /** Whether `path` (a folder when `folder`) is left out. */
  readonly excluded: (path: string, folder: boolean) => boolean;
  readonly followLinks: boolean;
}

/**
 * The rules for the release folder `from`: its `.lockstepignore` (when
 * there is one) and the `exclude` globs (picomatch, as `protect`).
 */
export async function releaseRules(
  from: string,
  options: { exclude?: readonly string[]; followLinks?: boolean } = {},
): Promise<ReleaseRules> {
  const { exclude = [], followLinks = false } = options;
  const globs = globMatcher(exclude);
  let ignored: (path: string, folder: boolean) => boolean = () => false;
  try {
    ignored = gitignoreMatcher(await Deno.readTextFile(join(from, IGNORE_FILE)));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return {
    excluded: (path, folder) =>
      path === IGNORE_FILE || VCS_NAMES.includes(path.slice(path.lastIndexOf("/") + 1)) ||
      globs(path) || ignored(path, folder),
    followLinks,
  };
}

/** A link that cannot be packed, and why. */
interface RefusedLink {
  readonly path: string;
  readonly target: string;
  readonly why?: string;
}

/**
 * Every file of the release folder `root` under `rules`, sorted by path.
 *
 * @throws {LockstepError} `FILE_NOT_FOUND` (no such folder), `BUNDLE_SOURCE_LINK`
 * (every refused link, with the ways out).
 */
export async function readRelease(root: string, rules: ReleaseRules): Promise<ReleaseFile[]> {
  let realRoot: string;
  try {
    realRoot = await Deno.realPath(root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new LockstepError(
      "FILE_NOT_FOUND",
      `Cannot create bundle: release folder "${root}" does not exist. Nothing was written.`,
      { cause: error, data: { path: root } },
    );
  }
  const walk = { root, realRoot, rules, files: [] as ReleaseFile[], links: [] as RefusedLink[] };
  await walkFolder(walk, root, "", new Set([realRoot]));
  if (walk.links.length > 0) throw linksRefused(root, walk.links, rules.followLinks);
  return walk.files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

interface Walk {
  readonly root: string;
  readonly realRoot: string;
  readonly rules: ReleaseRules;
  readonly files: ReleaseFile[];
  readonly links: RefusedLink[];
}

/** Walks `folder` (shown as `prefix`); `ancestors` are the real paths above it, to stop loops. */
async function walkFolder(
  walk: Walk,
  folder: string,
  prefix: string,
  ancestors: ReadonlySet<string>,
): Promise<void> {
  for await (const entry of Deno.readDir(folder)) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    const absolute = join(folder, entry.name);
    if (walk.rules.excluded(path, entry.isDirectory)) continue;
    if (entry.isSymlink) await followLink(walk, path, absolute, ancestors);
    else if (entry.isDirectory) {
      const below = walk.rules.followLinks
        ? new Set([...ancestors, await Deno.realPath(absolute)])
        : ancestors;
      await walkFolder(walk, absolute, path, below);
    } else if (entry.isFile) {
      // Synchronous: one quick syscall, where an async one costs a thread-pool round trip each.
      const info = Deno.lstatSync(absolute);
      walk.files.push({ path, absolute, size: info.size, mode: (info.mode ?? 0o644) & 0o777 });
    }
  }
}

/** Packs a link's target when links are followed and it stays inside; records it otherwise. */
async function followLink(
  walk: Walk,
  path: string,
  absolute: string,
  ancestors: ReadonlySet<string>,
): Promise<void> {
  const target = await Deno.readLink(absolute);
  if (!walk.rules.followLinks) {
    walk.links.push({ path, target });
    return;
  }
  let real: string;
  try {
    real = await Deno.realPath(absolute);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    walk.links.push({ path, target, why: "its target does not exist" });
    return;
  }
  const inside = relative(walk.realRoot, real);
  if (inside === "" || inside.startsWith("..") || inside.startsWith(sep)) {
    walk.links.push({ path, target, why: "its target is outside the release folder" });
    return;
  }
  const info = await Deno.stat(real);
  if (info.isDirectory) {
    if (ancestors.has(real)) {
      walk.links.push({ path, target, why: "it points to a folder above it (a loop)" });
      return;
    }
    await walkFolder(walk, real, path, new Set([...ancestors, real]));
  } else if (info.isFile) {
    walk.files.push({ path, absolute: real, size: info.size, mode: (info.mode ?? 0o644) & 0o777 });
  }
}

function linksRefused(
  root: string,
  links: readonly RefusedLink[],
  followed: boolean,
): LockstepError {
  const listed = links.map((l) => `"${l.path}" → "${l.target}"${l.why ? ` (${l.why})` : ""}`);
  const ways = followed
    ? "Replace each by the file it should be, or leave it out with --exclude GLOB (or " +
      `${IGNORE_FILE}); --follow-links packs only targets inside the release folder`
    : "Bundles carry no links: replace each by the file it points to, or leave it out with " +
      `--exclude GLOB (or ${IGNORE_FILE}); --follow-links packs the content of links whose ` +
      "target stays inside the release folder";
  return new LockstepError(
    "BUNDLE_SOURCE_LINK",
    `Cannot create bundle from "${root}": it holds symbolic link(s) ${listed.join(", ")}. ` +
      `${ways}. Nothing was written.`,
    { data: { folder: root, links: links.map((l) => ({ ...l })) } },
  );
}
