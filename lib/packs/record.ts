/**
 * Recording what a pack install, removal or toggle did in state.json
 * (`packs.<name>`): the version, the high-water mark, the source and
 * requirements its declaration gives, whether it is enabled, and its history.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { compare } from "../deps/semver.ts";
import { LockstepError } from "../errors.ts";
import { readState, type State, writeState } from "../state.ts";
import type { PackEvent, PackState } from "./pack_state.ts";
import { packFolder, readDeclaration } from "./registry.ts";

/**
 * Records pack `name` at `version` as installed from `bundle`, reading its
 * declaration from its folder (the files are in place). Safe to run twice
 * (`recover` finishes an install a crash cut short).
 *
 * @throws {LockstepError} `PACK_INVALID` when the folder holds no declaration.
 */
export async function recordPackInstall(
  config: Config,
  name: string,
  version: string,
  bundle: string,
): Promise<void> {
  const state = await readState(config);
  const before = state.packs[name];
  const last = before?.history.at(-1);
  if (before?.version === version && last?.action === "install" && last.bundle === bundle) return;
  const declaration = await readDeclaration(packFolder(config, name));
  if (declaration === null) {
    throw new LockstepError(
      "PACK_INVALID",
      `Cannot record pack "${name}" ${version}: its folder holds no lockstep-package.json.`,
      { data: { pack: name } },
    );
  }
  const highWater = before !== undefined && compare(before.highWater, version) > 0
    ? before.highWater
    : version;
  await writePack(state, config, name, {
    version,
    highWater,
    source: declaration.source,
    // An update keeps the operator's choice; a first install (or a reinstall) is enabled.
    enabled: before?.version ? before.enabled : true,
    requires: declaration.requires,
    history: [...(before?.history ?? []), event("install", version, bundle)],
  });
}

/** Records that pack `name` was removed (and, with `purge`, its migrations undone). */
export async function recordPackRemoval(
  config: Config,
  name: string,
  purged: boolean,
): Promise<void> {
  const state = await readState(config);
  const before = state.packs[name];
  if (before === undefined || before.version === null) return;
  const history = [...before.history, event("remove", before.version)];
  if (purged) history.push(event("purge", before.version));
  await writePack(state, config, name, { ...before, version: null, enabled: false, history });
}

/** Records that pack `name` was enabled or disabled. */
export async function recordPackToggle(
  config: Config,
  name: string,
  enabled: boolean,
): Promise<PackState> {
  const state = await readState(config);
  const before = state.packs[name]!;
  const next = {
    ...before,
    enabled,
    history: [...before.history, event(enabled ? "enable" : "disable", before.version!)],
  };
  await writePack(state, config, name, next);
  return next;
}

function event(action: PackEvent["action"], version: string, bundle?: string): PackEvent {
  return { action, version, at: new Date().toISOString(), ...(bundle ? { bundle } : {}) };
}

async function writePack(state: State, config: Config, name: string, pack: PackState) {
  await writeState(config, { ...state, packs: { ...state.packs, [name]: pack } });
}
