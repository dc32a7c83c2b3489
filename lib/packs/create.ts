/**
 * `bundle create --pack NAME`: the release folder is the pack's folder as
 * shipped, with its `lockstep-package.json` at the top, naming the same pack
 * and version; the manifest gets `"pack"` and the declaration's
 * requirements, and its paths stay relative to the pack's folder.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { DECLARATION, type PackDeclaration, parseDeclaration } from "./declaration.ts";
import { configuredPackages, packNameReason } from "./names.ts";
import { packPrefix } from "./bundle.ts";

/**
 * The declaration of the pack release in `from`, checked against the bundle
 * about to be made.
 *
 * @throws {LockstepError} `PACK_NAME_INVALID`, `PACK_INVALID` (no
 * declaration, a bad one, another name or version).
 */
export async function packRelease(
  from: string,
  bundle: { readonly pack: string; readonly version: string; readonly app: string },
  config: Config | undefined,
  where: string,
): Promise<PackDeclaration> {
  const { pack, version, app } = bundle;
  const cannot = `Cannot create pack bundle "${where}"`;
  const taken = config === undefined ? [] : configuredPackages(config);
  const reason = packNameReason(pack, { app, taken });
  if (reason !== undefined) {
    throw new LockstepError("PACK_NAME_INVALID", `${cannot}: ${reason}. Nothing was written.`, {
      data: { pack },
    });
  }
  const path = join(from, DECLARATION);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new LockstepError(
      "PACK_INVALID",
      `${cannot}: the pack's folder ${from} has no ${DECLARATION}. Write one ({ "format": 1, ` +
        `"name": "${pack}", "version": "${version}", "source": "local" }). Nothing was written.`,
      { data: { pack, file: path } },
    );
  }
  const declaration = parseDeclaration(text, path);
  if (declaration.name !== pack || declaration.version !== version) {
    throw new LockstepError(
      "PACK_INVALID",
      `${cannot}: ${path} declares pack "${declaration.name}" ${declaration.version}, not ` +
        `"${pack}" ${version}. Make them agree. Nothing was written.`,
      { data: { pack, file: path } },
    );
  }
  return declaration;
}

/** The pack's paths as the host will hold them (for the config's protected paths). */
export function prefixed(config: Config, pack: string, paths: readonly string[]): string[] {
  const prefix = packPrefix(config, pack);
  return paths.map((path) => prefix + path);
}
