/**
 * Pack bundles as the host sees them: a bundle whose manifest names a
 * `pack` holds paths relative to that pack's folder; lockstep adds the
 * folder's prefix (`packs/<name>/`), so a pack cannot name a path outside
 * it. What can be judged from the manifest alone (before any payload is
 * read): the name, `packs.allow`, and that the payload carries the pack's
 * declaration.
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import type { Config } from "../config.ts";
import type { ErrorCode } from "../errors.ts";
import type { Manifest } from "../bundles/manifest.ts";
import { DECLARATION } from "./declaration.ts";
import { configuredPackages, packNameReason } from "./names.ts";

/** The root-relative prefix of pack `name`'s files: `packs/<name>/`. */
export function packPrefix(config: Pick<Config, "root" | "packs">, name: string): string {
  return `${relative(config.root, config.packs.dir).split(sep).join("/")}/${name}/`;
}

/** The root-relative path of the packs folder (`packs`). */
export function packsFolder(config: Pick<Config, "root" | "packs">): string {
  return relative(config.root, config.packs.dir).split(sep).join("/");
}

/**
 * `manifest` with its files and removals relative to the app root: a pack
 * bundle's get its folder's prefix; an app bundle's are returned as they are.
 * Call it only once the pack's name was found valid.
 */
export function rootView(config: Pick<Config, "root" | "packs">, manifest: Manifest): Manifest {
  if (manifest.pack === undefined) return manifest;
  const prefix = packPrefix(config, manifest.pack);
  return {
    ...manifest,
    files: Object.fromEntries(Object.entries(manifest.files).map(([p, f]) => [prefix + p, f])),
    remove: manifest.remove.map((p) => prefix + p),
  };
}

/**
 * Whether pack bundle `manifest` (root-relative, see {@link rootView}) leaves
 * the pack with a migrations folder: it brings files there, or the folder is
 * there already.
 */
export function migratesAfter(
  config: Pick<Config, "root" | "packs">,
  manifest: Manifest,
  declaration: { readonly name: string; readonly migrations: string },
): boolean {
  const folder = `${packPrefix(config, declaration.name)}${declaration.migrations}`;
  if (Object.keys(manifest.files).some((path) => path.startsWith(`${folder}/`))) return true;
  try {
    return Deno.statSync(join(config.root, folder)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Where root-relative `path` of a bundle (see {@link rootView}) is in its payload. */
export function payloadPath(
  config: Pick<Config, "root" | "packs">,
  manifest: Pick<Manifest, "pack">,
  path: string,
): string {
  if (manifest.pack === undefined) return path;
  const prefix = packPrefix(config, manifest.pack);
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/**
 * Why no pack may be called `name` here, or `undefined`: its name
 * (`PACK_NAME_INVALID`), or `packs.allow` leaves it out (`PACK_NOT_ALLOWED`).
 */
export function packNameProblem(
  config: Config,
  name: string,
): { code: ErrorCode; reason: string } | undefined {
  const reason = packNameReason(name, { app: config.app, taken: configuredPackages(config) });
  if (reason !== undefined) return { code: "PACK_NAME_INVALID", reason };
  const allow = config.packs.allow;
  if (allow !== null && !allow.includes(name)) {
    return {
      code: "PACK_NOT_ALLOWED",
      reason: `pack "${name}" is not in "packs.allow" of ${config.file} ` +
        `(${
          allow.map((n) => `"${n}"`).join(", ") || "empty"
        }). Only the operator adds a name there`,
    };
  }
  return undefined;
}

/**
 * Why pack bundle `manifest` (as the archive holds it) cannot be used here,
 * judged from the manifest alone, or `undefined`.
 */
export function packBundleProblem(
  config: Config,
  manifest: Manifest,
  file: string,
): { code: ErrorCode; message: string } | undefined {
  const cannot = `Cannot use pack bundle "${file}"`;
  const named = packNameProblem(config, manifest.pack!);
  if (named !== undefined) {
    return { code: named.code, message: `${cannot}: ${named.reason}. Nothing was changed.` };
  }
  if (manifest.files[DECLARATION] === undefined) {
    return {
      code: "PACK_INVALID",
      message: `${cannot}: a pack bundle carries the pack's ${DECLARATION} at the top of its ` +
        `files, and this one does not. Nothing was changed.`,
    };
  }
  return undefined;
}
