/**
 * The packs lockstep installed, as the code on disk and state.json say:
 * each pack's folder, its declaration, and the package its migrations form.
 * {@link withPacks} returns the config with the enabled packs' migrations
 * among its `packages`, so that they join the one migration graph (named
 * after the pack, on the pack's database), and with the packs whose
 * migrations do not count (disabled, removed) marked dormant: their ledger
 * rows stay known.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, PackageConfig } from "../config.ts";
import { explainPermission, LockstepError } from "../errors.ts";
import { readState, type State } from "../state.ts";
import { DECLARATION, type PackDeclaration, parseDeclaration } from "./declaration.ts";
import { configuredPackages, packNameReason } from "./names.ts";
import type { PackState } from "./pack_state.ts";

/** A pack state.json knows, as found on disk. */
export interface LoadedPack {
  /** Its name. */
  readonly name: string;
  /** What state.json records. */
  readonly state: PackState;
  /** Its folder, `<packs.dir>/<name>`. */
  readonly folder: string;
  /** Its declaration, when it is installed and the file reads. */
  readonly declaration: PackDeclaration | null;
  /** Why an installed pack cannot be used (`PACK_INVALID`), or `null`. */
  readonly problem: LockstepError | null;
  /** Its migrations, for an installed, enabled pack that can be used. */
  readonly package: PackageConfig | null;
}

/** The folder of pack `name`. */
export function packFolder(config: Pick<Config, "packs">, name: string): string {
  return join(config.packs.dir, name);
}

/**
 * The database pack `declaration` uses: `packs.databases` first, else its
 * own `database`, else the only configured one; `undefined` when none of
 * these names a configured database.
 */
export function packDatabase(
  config: Pick<Config, "packs" | "databases">,
  declaration: Pick<PackDeclaration, "name" | "database">,
): string | undefined {
  const names = Object.keys(config.databases);
  const wanted = config.packs.databases[declaration.name] ?? declaration.database ??
    (names.length === 1 ? names[0] : undefined);
  return wanted !== undefined && names.includes(wanted) ? wanted : undefined;
}

/** Reads and parses `<folder>/lockstep-package.json`; `null` when it does not exist. */
export async function readDeclaration(folder: string): Promise<PackDeclaration | null> {
  const path = join(folder, DECLARATION);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw explainPermission(error, `read pack declaration "${path}"`);
  }
  return parseDeclaration(text, path);
}

/** Every pack state.json knows, sorted by name, each read from its folder. */
export async function loadPacks(config: Config, state: State): Promise<LoadedPack[]> {
  const out: LoadedPack[] = [];
  for (const name of Object.keys(state.packs).sort()) {
    out.push(await loadPack(config, name, state.packs[name]!, Object.keys(state.packs)));
  }
  return out;
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw explainPermission(error, `read "${path}"`);
  }
}

async function loadPack(
  config: Config,
  name: string,
  state: PackState,
  packNames: readonly string[],
): Promise<LoadedPack> {
  const folder = packFolder(config, name);
  const base = { name, state, folder, declaration: null, problem: null, package: null };
  if (state.version === null) return base;
  const invalid = (what: string) =>
    new LockstepError(
      "PACK_INVALID",
      `Pack "${name}" ${state.version} is installed, but ${what}`,
      { data: { pack: name, folder } },
    );
  let declaration: PackDeclaration | null;
  try {
    declaration = await readDeclaration(folder);
  } catch (error) {
    if (!(error instanceof LockstepError) || error.code !== "PACK_INVALID") throw error;
    return { ...base, problem: invalid(`its ${DECLARATION} cannot be used: ${error.data.reason}`) };
  }
  const reinstall = `reinstall it, or remove it with "lockstep pack remove ${name}"`;
  if (declaration === null) {
    return { ...base, problem: invalid(`${folder}/${DECLARATION} is missing: ${reinstall}`) };
  }
  const found = { ...base, declaration };
  if (declaration.name !== name || declaration.version !== state.version) {
    const said = `pack "${declaration.name}" ${declaration.version}`;
    return {
      ...found,
      problem: invalid(`${folder}/${DECLARATION} declares ${said}: ${reinstall}`),
    };
  }
  const taken = [...configuredPackages(config), ...packNames.filter((other) => other !== name)];
  const clash = packNameReason(name, { app: config.app, taken });
  if (clash !== undefined) return { ...found, problem: invalid(`its name clashes: ${clash}`) };
  const database = packDatabase(config, declaration);
  if (database === undefined) {
    const named = declaration.database === undefined
      ? "no database"
      : `database "${declaration.database}"`;
    return {
      ...found,
      problem: invalid(
        `it names ${named}, which lockstep.json does not configure: map it with ` +
          `"packs": { "databases": { "${name}": "<database>" } }`,
      ),
    };
  }
  const migrations = join(folder, declaration.migrations);
  // A pack without migrations ships no migrations folder (bundles carry no empty folders).
  if (!state.enabled || !isFolder(migrations)) return found;
  return { ...found, package: { name, migrations, database } };
}

/**
 * `config` with the enabled packs' packages added (replacing any an earlier
 * call added) and the other known packs marked dormant. `future` gives the
 * declarations packs will have after an install (first installs included).
 */
export function applyPacks(
  config: Config,
  loaded: readonly LoadedPack[],
  future: ReadonlyMap<string, PackDeclaration> = new Map(),
): Config {
  const before = new Set(config.packs.loaded?.added ?? []);
  const packages: Record<string, PackageConfig> = Object.fromEntries(
    Object.entries(config.packages).filter(([name]) => !before.has(name)),
  );
  const added: string[] = [];
  const counted = new Set<string>();
  for (const pack of loaded) {
    if (future.has(pack.name)) continue;
    if (pack.state.version !== null && pack.state.enabled && pack.problem === null) {
      counted.add(pack.name);
    }
    if (pack.package === null) continue;
    packages[pack.name] = pack.package;
    added.push(pack.name);
  }
  for (const [name, declaration] of future) {
    const database = packDatabase(config, declaration);
    if (database === undefined) continue;
    const migrations = join(packFolder(config, name), declaration.migrations);
    packages[name] = { name, migrations, database };
    added.push(name);
    counted.add(name);
  }
  const dormant = loaded.map((p) => p.name).filter((name) => !counted.has(name));
  return { ...config, packages, packs: { ...config.packs, loaded: { added, dormant } } };
}

/**
 * The config the migrations of the code on disk need: the enabled packs'
 * migrations join the graph, the others' ledger rows stay known.
 *
 * Permissions: `--allow-read` on the updates folder and the packs folder.
 *
 * @throws {LockstepError} `PACK_INVALID` (an installed, enabled pack whose
 * folder or declaration cannot be used), `FILE_INVALID` (state.json).
 */
export async function withPacks(config: Config): Promise<Config> {
  const loaded = await loadPacks(config, await readState(config));
  const broken = loaded.find((p) => p.problem !== null && p.state.enabled);
  if (broken) {
    const problem = broken.problem!;
    throw new LockstepError(problem.code, `${problem.message}. Nothing was changed.`, {
      data: problem.data,
    });
  }
  return applyPacks(config, loaded);
}
