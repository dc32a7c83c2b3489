/**
 * The bundles waiting in `updates/pending/`: each opened (central directory
 * and manifest only) and judged against the installed version, the
 * high-water mark, the app name, the signature policy and the runtime. One
 * bad bundle never hides the others.
 *
 * @module
 */
import { basename, join, relative } from "node:path";
import { globMatcher } from "../deps/glob.ts";
import { compare, satisfies } from "../deps/semver.ts";
import type { Config } from "../config.ts";
import { type ErrorCode, LockstepError, messageOf } from "../errors.ts";
import { VERSION } from "../version.ts";
import type { BundleArchive } from "./archive.ts";
import { type Manifest, unmetRequirements } from "./manifest.ts";
import { verify } from "./signature.ts";
import { withVerdicts } from "./verdicts.ts";
import { packBundleProblem, packsFolder, rootView } from "../packs/bundle.ts";
import { type BundleHint, type CheckCache, fileIdentity, settled } from "../check_cache.ts";
import { sha256Hex } from "../sha256.ts";

/**
 * The hash of everything {@link judge} reads besides the bundle, for an app
 * bundle: its verdict holds while this and the file are unchanged.
 */
function judgeContext(config: Config): Promise<string> {
  let context = contexts.get(config);
  if (context === undefined) {
    context = sha256Hex(JSON.stringify([
      config.app,
      config.trust,
      config.protect,
      config.root,
      config.file,
      config.updates,
      config.versionFile,
      packsFolder(config),
      VERSION,
      Deno.version.deno,
    ]));
    contexts.set(config, context);
  }
  return context;
}

/** {@link judgeContext} per config: computed once per `check`, not once per bundle. */
const contexts = new WeakMap<Config, Promise<string>>();

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined; // opening it says what is wrong
  }
}

function problemOf(error: LockstepError): { code: ErrorCode; message: string } {
  return { code: error.code, message: error.message };
}

/** A pending bundle as `check` and `install` see it. */
export interface PendingBundle {
  /** The zip's file name in `pending/`. */
  readonly file: string;
  /** Its path. */
  readonly path: string;
  /**
   * The manifest, when it could be read; a pack bundle's files and removals
   * relative to the app root (its folder's prefix added) once its name was
   * found valid.
   */
  readonly manifest?: Manifest;
  /** The signing key id when the signature is valid. */
  readonly signedBy?: string;
  /** Why it cannot be installed at all, if so. */
  readonly problem?: { readonly code: ErrorCode; readonly message: string };
}

/**
 * Paths a bundle may never write or delete: `protect`, the config file, the
 * updates folder, and (for app bundles: `pack` unset) the packs folder.
 */
export function protection(config: Config, pack?: string): (path: string) => boolean {
  const globs = globMatcher(config.protect);
  const fixed = [
    relative(config.root, config.file),
    relative(config.root, config.updates),
    ...(pack === undefined ? [packsFolder(config)] : []),
  ].filter((p) => p !== "" && !p.startsWith(".."));
  return (path) => globs(path) || fixed.some((p) => path === p || path.startsWith(`${p}/`));
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*\.zip$/;
/** lockstep's own work files (a bundle being written, an atomic replacement): never reported. */
const WORK_FILE =
  /^\..*lockstep-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.tmp)?$/;

/** One entry of `pending/`. */
interface Listed {
  readonly name: string;
  /** What it is when it is not a regular file. */
  readonly other?: "a folder" | "a symbolic link" | "a special file";
}

/**
 * Everything in `pending/`, sorted by name; a missing folder is empty. Hidden
 * files, folders and links are listed too (and refused): "no pending
 * bundles" must never hide something the operator put there.
 */
async function listPending(config: Config): Promise<Listed[]> {
  const found: Listed[] = [];
  try {
    for await (const entry of Deno.readDir(config.pending)) {
      if (WORK_FILE.test(entry.name) || entry.name === ".gitkeep") continue;
      const other = entry.isFile
        ? undefined
        : entry.isDirectory
        ? "a folder"
        : entry.isSymlink
        ? "a symbolic link"
        : "a special file";
      found.push(other === undefined ? { name: entry.name } : { name: entry.name, other });
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return found.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * A judged bundle as its hint keeps it: its manifest without `files` and
 * `remove`, which are most of a large release's manifest (read and parsed at
 * every start) and which nothing a hint serves (`check`) reads.
 */
function withoutFileLists(bundle: PendingBundle): Record<string, unknown> {
  if (bundle.manifest === undefined) return { ...bundle };
  const { files: _files, remove: _remove, ...kept } = bundle.manifest;
  return { ...bundle, manifest: kept };
}

/**
 * Opens and judges one bundle file on its own (signature, manifest, app,
 * runtime); version ordering is judged by {@link applicability}. With
 * `hints` (`check`), a file whose identity is the one recorded is not
 * opened: why it could not be opened, or (an app bundle) its verdict while
 * nothing else judging it reads changed, comes from the hint.
 */
export async function inspectBundle(
  config: Config,
  path: string,
  hints?: CheckCache,
): Promise<PendingBundle> {
  const file = basename(path);
  if (!SAFE_NAME.test(file)) {
    return {
      file,
      path,
      problem: {
        code: "BUNDLE_NAME_UNSAFE",
        message:
          `Cannot use pending file ${JSON.stringify(file)}: ${
            file.startsWith(".") ? "it is hidden, and " : ""
          }a bundle's name is letters, digits, ".", "_", "+" and "-", ending in ".zip". Rename ` +
          `it like <app>-<version>.zip. It was left where it is.`,
      },
    };
  }
  const readAt = Date.now();
  const info = hints && statOrUndefined(path);
  // What opening a file finds depends on the file and on the configured limits.
  const id = info && `${fileIdentity(info)} ${JSON.stringify(config.limits)}`;
  const remember = (read: Omit<BundleHint, "id">) => {
    if (id && settled(info!, readAt)) hints!.rememberBundle(path, { id, ...read });
  };
  try {
    const hint = id ? hints!.bundle(path, id) : undefined;
    if (hint?.problem) {
      return { file, path, problem: { ...hint.problem, code: hint.problem.code as ErrorCode } };
    }
    const context = hints && await judgeContext(config);
    if (context !== undefined && hint?.judged?.context === context) {
      // Its manifest without the file lists (see withoutFileLists): check reads neither.
      return hint.judged.bundle as unknown as PendingBundle;
    }
    let archive: BundleArchive;
    try {
      // Loaded only when a bundle is opened: with the hints, check at start-up opens none.
      const { openBundle } = await import("./archive.ts");
      archive = await openBundle(path, config.limits);
    } catch (error) {
      // What the file is (BUNDLE_*), not what this run could do (a permission, an I/O error).
      if (error instanceof LockstepError && error.code.startsWith("BUNDLE_")) {
        remember({ problem: problemOf(error) });
      }
      throw error;
    }
    await using _ = archive;
    const judged = await judge(config, archive, file);
    // A pack bundle's verdict also depends on the packs installed: judged afresh each time.
    if (context && archive.manifest.pack === undefined) {
      remember({ judged: { context, bundle: withoutFileLists(judged) } });
    }
    return judged;
  } catch (error) {
    if (error instanceof LockstepError) return { file, path, problem: problemOf(error) };
    if (error instanceof Deno.errors.NotCapable) throw error;
    return {
      file,
      path,
      problem: {
        code: "BUNDLE_CORRUPT",
        message: `Cannot use bundle "${file}": ${messageOf(error)}`,
      },
    };
  }
}

async function judge(
  config: Config,
  archive: Pick<BundleArchive, "path" | "manifestBytes" | "signature" | "manifest">,
  file: string,
): Promise<PendingBundle> {
  const status = await verify(archive.manifestBytes, archive.signature, config.trust.keys);
  const packed = archive.manifest.pack === undefined
    ? undefined
    : packBundleProblem(config, archive.manifest, file);
  // A pack bundle's paths are the app root's once its name is known to be a pack's.
  const manifest = packed === undefined ? rootView(config, archive.manifest) : archive.manifest;
  const base = {
    file,
    path: archive.path,
    manifest,
    ...(status.state === "valid" ? { signedBy: status.key } : {}),
  };
  const problem = (code: ErrorCode, message: string) => ({ ...base, problem: { code, message } });
  if (status.state === "invalid") {
    return problem(
      "BUNDLE_SIGNATURE_INVALID",
      `Cannot use bundle "${file}": ${status.reason}. Nothing was changed.`,
    );
  }
  if (status.state === "unsigned" && config.trust.requireSignature) {
    return problem(
      "BUNDLE_SIGNATURE_INVALID",
      `Cannot use bundle "${file}": it is not signed, and trust.requireSignature is on. Nothing was changed.`,
    );
  }
  if (manifest.app !== config.app) {
    return problem(
      "BUNDLE_WRONG_APP",
      `Cannot use bundle "${file}": it is for app "${manifest.app}", this is "${config.app}". Nothing was changed.`,
    );
  }
  if (packed !== undefined) return { ...base, problem: packed };
  const isProtected = protection(config, manifest.pack);
  const blocked = [...Object.keys(manifest.files), ...manifest.remove].filter(isProtected)
    .filter((path) => path !== relative(config.root, config.versionFile));
  if (blocked.length > 0) {
    return problem(
      "BUNDLE_PROTECTED_PATH",
      `Cannot use bundle "${file}": it would change protected path(s) ${
        blocked.map((p) => `"${p}"`).join(", ")
      }${
        manifest.pack === undefined && blocked.some((p) => p.startsWith(`${packsFolder(config)}/`))
          ? ` (the packs folder is the packs' own: a pack ships as a pack bundle)`
          : ""
      }. Nothing was changed.`,
    );
  }
  const unmet = unmetRequirements(manifest, { deno: Deno.version.deno, lockstep: VERSION });
  if (unmet.length > 0) {
    return problem(
      "BUNDLE_REQUIREMENT_UNMET",
      `Cannot use bundle "${file}": it requires ${unmet.join(", ")}. Nothing was changed.`,
    );
  }
  return base;
}

/**
 * Every entry of `pending/`, each bundle judged on its own; what is not a
 * regular file comes with its problem, and a file that install or update
 * found unusable when reading it whole keeps that verdict while it is the
 * same file.
 */
export async function readPending(config: Config, hints?: CheckCache): Promise<PendingBundle[]> {
  const out: PendingBundle[] = [];
  for (const { name, other } of await listPending(config)) {
    const path = join(config.pending, name);
    if (other === undefined) out.push(await inspectBundle(config, path, hints));
    else {
      out.push({
        file: name,
        path,
        problem: {
          code: "BUNDLE_NAME_UNSAFE",
          message: `Cannot use pending entry ${JSON.stringify(name)}: it is ${other}, not a ` +
            `bundle file. Move it out of ${config.pending}${
              other === "a symbolic link" ? " and copy the bundle itself there" : ""
            }. It was left where it is.`,
        },
      });
    }
  }
  return withVerdicts(config, out);
}

/**
 * Why `manifest` cannot install on top of `current` (the installed version)
 * given the high-water mark, or `undefined` when it can.
 */
export function applicability(
  manifest: Manifest,
  current: string | null,
  highWater: string | null,
): { code: ErrorCode; reason: string } | undefined {
  for (
    const [label, floor] of [["installed version", current], [
      "highest version ever installed",
      highWater,
    ]] as const
  ) {
    if (floor !== null && compare(manifest.version, floor) <= 0) {
      return {
        code: "BUNDLE_VERSION_REFUSED",
        reason:
          `version ${manifest.version} is not above the ${label} ${floor} (downgrades and replays are refused)`,
      };
    }
  }
  if (manifest.upgradesFrom !== undefined) {
    const from = current ?? "0.0.0";
    if (!satisfies(from, manifest.upgradesFrom, { includePrerelease: true })) {
      return {
        code: "BUNDLE_NOT_APPLICABLE",
        reason: `it upgrades from ${manifest.upgradesFrom}, and ${
          current === null ? "no version" : current
        } is installed`,
      };
    }
  }
  return undefined;
}

/** One bundle of the chain, with why it cannot install, if so. */
export interface ChainStep {
  readonly bundle: PendingBundle;
  /** The version it would install over. */
  readonly from: string | null;
  readonly refusal?: { readonly code: ErrorCode; readonly reason: string };
}

/**
 * Every bundle whose manifest could be read, in version order, each judged
 * against what the ones before it would install. A refused bundle above the
 * installed version stops the chain: the ones after it do not apply (a
 * release is never skipped). `check` and `install` share this judgment.
 */
export function chain(
  bundles: readonly PendingBundle[],
  current: string | null,
  highWater: string | null,
): ChainStep[] {
  const ordered = bundles.filter((b) => b.manifest !== undefined)
    .sort((a, b) =>
      compare(a.manifest!.version, b.manifest!.version) || (a.file < b.file ? -1 : 1)
    );
  // Two files giving one version: which one is the release cannot be told, so neither installs.
  const byVersion = Map.groupBy(ordered, (b) => b.manifest!.version);
  const out: ChainStep[] = [];
  let at = current;
  let high = highWater;
  let stoppedBy: string | undefined;
  for (const bundle of ordered) {
    const version = bundle.manifest!.version;
    const twins = byVersion.get(version)!;
    const refusal = bundle.problem
      ? { code: bundle.problem.code, reason: bundle.problem.message }
      : twins.length > 1
      ? {
        code: "BUNDLE_AMBIGUOUS" as const,
        reason: `${
          twins.map((b) => `"${b.file}"`).join(" and ")
        } all give version ${version}; remove all but one from pending/`,
      }
      : stoppedBy !== undefined
      ? {
        code: "BUNDLE_NOT_APPLICABLE" as const,
        reason: `an earlier bundle in the chain (${stoppedBy}) was refused`,
      }
      : applicability(bundle.manifest!, at, high);
    out.push(refusal === undefined ? { bundle, from: at } : { bundle, from: at, refusal });
    if (refusal === undefined) {
      at = version;
      high = at;
    } else if (stoppedBy === undefined && compare(version, current ?? "0.0.0") > 0) {
      stoppedBy = bundle.file;
    }
  }
  return out;
}
