/**
 * Recording an installed bundle: state.json (installed version, high-water
 * mark, history, requirements) and the zip moved to
 * `installed/<app>-<version>-<UTC timestamp>.zip`. Used by `install`, and by
 * `recover` to finish an install that committed its files.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Config } from "../config.ts";
import { compare } from "../deps/semver.ts";
import { fault } from "../fault.ts";
import { syncFolder } from "../files.ts";
import { utcStamp } from "../host.ts";
import { readState, type State, writeState } from "../state.ts";
import type { PendingBundle } from "./pending.ts";
import { recordPackInstall } from "../packs/record.ts";

/**
 * Records `version` from `bundle` as installed in state.json; returns the
 * app's new high-water mark. A pack bundle is recorded under its pack
 * (`packs.<name>`), the app's mark unchanged.
 */
export async function record(
  config: Config,
  bundle: PendingBundle,
  done: { version: string },
  high: string | null,
): Promise<string | null> {
  const pack = bundle.manifest?.pack;
  if (pack !== undefined) {
    await recordPackInstall(config, pack, done.version, bundle.file);
    fault("recorded");
    return high;
  }
  const state = await readState(config);
  const highWater = high === null || compare(done.version, high) > 0 ? done.version : high;
  const next: State = {
    ...state,
    installed: done.version,
    highWater,
    history: [...state.history, {
      version: done.version,
      at: new Date().toISOString(),
      bundle: bundle.file,
    }],
    requires: bundle.manifest?.requires ?? {},
  };
  await writeState(config, next);
  fault("recorded");
  return highWater;
}

/**
 * Moves the zip to `installed/<app>-<version>-<UTC timestamp>.zip` (a pack
 * bundle's to `installed/<pack>-<version>-…`), never overwriting.
 */
export async function keep(
  config: Config,
  bundle: PendingBundle,
): Promise<string> {
  await Deno.mkdir(config.installed, { recursive: true });
  const owner = bundle.manifest!.pack ?? config.app;
  const base = `${owner}-${bundle.manifest!.version}-${utcStamp()}`;
  for (let n = 0;; n++) {
    const target = join(config.installed, n === 0 ? `${base}.zip` : `${base}-${n}.zip`);
    try {
      await Deno.link(bundle.path, target);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw error;
    }
    await Deno.remove(bundle.path);
    await syncFolder(config.installed);
    await syncFolder(dirname(bundle.path));
    fault("kept");
    return target;
  }
}
