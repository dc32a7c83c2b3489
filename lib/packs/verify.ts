/**
 * What install's preflight verifies of a pack bundle beyond an app bundle's,
 * before the first write: the declaration its payload carries (strictly
 * parsed) names the same pack and version and the same requirements as its
 * manifest, its database is configured, and the pack's folder is its own:
 * a folder another pack name or another source owns, or one holding files
 * no pack install put there, is refused.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { type ErrorCode, LockstepError } from "../errors.ts";
import { openBundle } from "../bundles/archive.ts";
import type { PendingBundle } from "../bundles/pending.ts";
import type { State } from "../state.ts";
import {
  DECLARATION,
  DECLARATION_LIMIT,
  type PackDeclaration,
  parseDeclaration,
} from "./declaration.ts";
import { packDatabase, packFolder, readDeclaration } from "./registry.ts";

/**
 * The declaration pack bundle `bundle` installs, once everything above holds.
 *
 * @throws {LockstepError} `PACK_INVALID`, `PACK_FOLDER_OWNED`, and the
 * bundle's content errors, each saying that nothing was changed.
 */
export async function verifyPackBundle(
  config: Config,
  bundle: PendingBundle,
  state: State,
): Promise<PackDeclaration> {
  const manifest = bundle.manifest!;
  const name = manifest.pack!;
  const refuse = (code: ErrorCode, reason: string): never => {
    throw new LockstepError(
      code,
      `Cannot use pack bundle "${bundle.file}": ${reason}. Nothing was changed.`,
      { data: { bundle: bundle.file, pack: name, reason } },
    );
  };
  const declaration = await carried(config, bundle, refuse);
  if (declaration.name !== name || declaration.version !== manifest.version) {
    refuse(
      "PACK_INVALID",
      `its ${DECLARATION} declares pack "${declaration.name}" ${declaration.version}, and its ` +
        `bundle.json pack "${name}" ${manifest.version}`,
    );
  }
  const between = Object.fromEntries(
    Object.entries(manifest.requires).filter(([key]) => key === "app" || key.startsWith("pack:")),
  );
  if (JSON.stringify(sorted(between)) !== JSON.stringify(sorted(declaration.requires))) {
    refuse(
      "PACK_INVALID",
      `its ${DECLARATION} requires ${JSON.stringify(declaration.requires)}, and its bundle.json ` +
        `${JSON.stringify(between)}`,
    );
  }
  if (packDatabase(config, declaration) === undefined) {
    refuse(
      "PACK_INVALID",
      `it names ${
        declaration.database === undefined ? "no database" : `database "${declaration.database}"`
      }, which ${config.file} does not configure: map it with "packs": { "databases": ` +
        `{ "${name}": "<database>" } }`,
    );
  }
  await refuseForeignFolder(config, declaration, state, refuse);
  return declaration;
}

/** The declaration in the bundle's payload, parsed strictly. */
async function carried(
  config: Config,
  bundle: PendingBundle,
  refuse: (code: ErrorCode, reason: string) => never,
): Promise<PackDeclaration> {
  await using archive = await openBundle(bundle.path, config.limits);
  const entry = archive.manifest.files[DECLARATION];
  if (entry === undefined) return refuse("PACK_INVALID", `it carries no ${DECLARATION}`);
  if (entry.size > DECLARATION_LIMIT) {
    return refuse(
      "PACK_INVALID",
      `its ${DECLARATION} is ${entry.size} bytes, over ${DECLARATION_LIMIT}`,
    );
  }
  const chunks: Uint8Array[] = [];
  await archive.extract(DECLARATION, {
    writeSync: (chunk) => (chunks.push(chunk.slice()), chunk.length),
    close() {},
  });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      new Uint8Array(
        await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer(),
      ),
    );
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return refuse("PACK_INVALID", `its ${DECLARATION} is not UTF-8 text`);
  }
  try {
    return parseDeclaration(text, `${bundle.file}: ${DECLARATION}`);
  } catch (error) {
    if (!(error instanceof LockstepError)) throw error;
    return refuse("PACK_INVALID", `its ${DECLARATION} ${String(error.data.reason)}`);
  }
}

/** Refuses a folder that another pack name or source owns, or that holds files of no pack. */
async function refuseForeignFolder(
  config: Config,
  declaration: PackDeclaration,
  state: State,
  refuse: (code: ErrorCode, reason: string) => never,
): Promise<void> {
  const { name, source } = declaration;
  const folder = packFolder(config, name);
  const known = state.packs[name];
  if (known !== undefined && known.version !== null && known.source !== source) {
    refuse(
      "PACK_FOLDER_OWNED",
      `pack "${name}" is installed from source "${known.source}", and this bundle is from ` +
        `"${source}"; remove the installed pack first if you mean to change its source`,
    );
  }
  let onDisk: PackDeclaration | null;
  try {
    onDisk = await readDeclaration(folder);
  } catch (error) {
    if (!(error instanceof LockstepError) || error.code !== "PACK_INVALID") throw error;
    return refuse("PACK_FOLDER_OWNED", `${folder} holds a ${DECLARATION} that cannot be read`);
  }
  if (onDisk !== null && (onDisk.name !== name || onDisk.source !== source)) {
    refuse(
      "PACK_FOLDER_OWNED",
      `${folder} belongs to pack "${onDisk.name}" from source "${onDisk.source}", not to ` +
        `"${name}" from "${source}"`,
    );
  }
  if (onDisk === null && (known?.version ?? null) === null && await holdsFiles(folder)) {
    refuse(
      "PACK_FOLDER_OWNED",
      `${folder} holds files that no pack install put there; move them out first`,
    );
  }
}

async function holdsFiles(folder: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isDirectory || await holdsFiles(`${folder}/${entry.name}`)) return true;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
  return false;
}

function sorted(record: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => a < b ? -1 : 1);
}
