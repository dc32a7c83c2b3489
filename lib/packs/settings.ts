/**
 * The `packs` section of `lockstep.json`:
 * `{ "dir": "packs", "allow": ["orders"], "databases": { "orders": "clients" } }`.
 * `dir` (default `packs` under the app root) must lie inside the root;
 * `allow`, when given, lists the only names that may ever be installed;
 * `databases` maps a pack to a configured database, over its declaration's.
 *
 * @module
 */
import { relative, resolve } from "node:path";
import { type Fail, object, onlyKeys, string, strings } from "../config_fields.ts";
import { PACK_NAME } from "./names.ts";

/** The resolved `packs` section. */
export interface PacksConfig {
  /** Absolute path of the folder holding one folder per pack (default `<root>/packs`). */
  readonly dir: string;
  /** The only names that may ever be installed, or `null` for any. */
  readonly allow: readonly string[] | null;
  /** Pack name → the configured database its migrations apply to. */
  readonly databases: Readonly<Record<string, string>>;
  /**
   * Set by `withPacks()` on the config it returns: the packs whose
   * migrations it added to `packages`, and the packs lockstep knows whose
   * migrations do not count (disabled, removed or unusable): their ledger
   * rows stay known, never "ahead of the code".
   */
  readonly loaded?: { readonly added: readonly string[]; readonly dormant: readonly string[] };
}

/** Reads the `packs` section; `dir` resolves against the config's folder `dir`. */
export function readPacksConfig(
  value: unknown,
  paths: { readonly dir: string; readonly root: string; readonly updates: string },
  databases: readonly string[],
  fail: Fail,
): PacksConfig {
  const packs = object(value ?? {}, "packs", fail);
  onlyKeys(packs, "packs", ["dir", "allow", "databases"], fail);
  const dir = packs.dir === undefined
    ? resolve(paths.root, "packs")
    : resolve(paths.dir, string(packs.dir, "packs.dir", fail));
  const inRoot = relative(paths.root, dir);
  if (inRoot === "" || inRoot.startsWith("..") || resolve(paths.root, inRoot) !== dir) {
    fail(`"packs.dir" must be a folder inside the app root ${paths.root}, not "${dir}"`);
  }
  const inUpdates = relative(paths.updates, dir);
  if (
    inUpdates === "" || !inUpdates.startsWith("..") ||
    !relative(dir, paths.updates).startsWith("..")
  ) {
    fail(`"packs.dir" and the updates folder must not hold one another`);
  }
  const allow = packs.allow === undefined ? null : strings(packs.allow, "packs.allow", fail);
  for (const name of allow ?? []) {
    if (!PACK_NAME.test(name)) fail(`"packs.allow" lists "${name}", which is not a pack name`);
  }
  const mapped: Record<string, string> = {};
  for (const [name, db] of Object.entries(object(packs.databases ?? {}, "packs.databases", fail))) {
    if (!PACK_NAME.test(name)) fail(`"packs.databases" maps "${name}", which is not a pack name`);
    const target = string(db, `packs.databases.${name}`, fail);
    if (!databases.includes(target)) {
      fail(`"packs.databases.${name}" names "${target}", which is not under "databases"`);
    }
    mapped[name] = target;
  }
  return { dir, allow, databases: mapped };
}
