/**
 * Whether a bundle's targets can be written, judged on the app root before
 * anything is written (protected paths were judged with the manifest):
 * links on the way, folders where files should go, and folders that cannot
 * be written. Shared by install's staging and by the preflight that runs
 * before the backup.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { confinedSync, lstatOrNothing } from "../files.ts";
import { removeProbes } from "../journal.ts";
import { workFolder } from "../oplock.ts";
import type { Manifest } from "./manifest.ts";

/** Tries a write in `folder`; returns why it cannot be written, or `undefined`. */
export type Probe = (folder: string) => string | undefined;

/**
 * Throws when any target of `manifest` cannot be written. Without `probe`,
 * folders are not probed (a dry run writes nothing).
 *
 * @throws {LockstepError} `BUNDLE_PATH_UNSAFE` (a link on the way),
 * `BUNDLE_TARGET_UNWRITABLE` (every target that cannot be written, listed).
 */
export async function checkTargets(
  config: Config,
  file: string,
  manifest: Manifest,
  writes: readonly string[],
  probe?: Probe,
): Promise<void> {
  await Promise.resolve();
  const touched = [...writes, ...manifest.remove];
  // Synchronous and remembered: thousands of paths share a few folders, and each async
  // lstat (or NotFound error) of a missing file cost more than the file's install.
  const seen = new Map<string, Deno.FileInfo | undefined>();
  const lstat = (path: string) => {
    if (!seen.has(path)) {
      const parent = dirname(path);
      // Nothing can be in a folder that is not there.
      const none = parent !== path && seen.has(parent) && !seen.get(parent)?.isDirectory;
      seen.set(path, none ? undefined : lstatOrNothing(path));
    }
    return seen.get(path);
  };
  for (const path of touched) refuseLinks(config, file, path, lstat);
  const unwritable: string[] = [];
  const folders = new Set<string>();
  for (const path of touched) {
    const target = join(config.root, path);
    if (lstat(target)?.isDirectory) unwritable.push(`${path} (a folder is in the way)`);
    let folder = dirname(target);
    while (!lstat(folder)?.isDirectory) {
      // A file where a folder must go is in the way, unless this bundle removes it.
      const blocking = relative(config.root, folder);
      if (lstat(folder)?.isFile && !manifest.remove.includes(blocking)) {
        unwritable.push(`${path} (the file ${blocking} is where its folder goes)`);
      }
      folder = dirname(folder);
    }
    folders.add(folder);
  }
  for (const folder of probe ? folders : []) {
    const failure = probe!(folder);
    if (failure !== undefined) {
      unwritable.push(`${relative(config.root, folder) || "."}/ (${failure})`);
    }
  }
  if (unwritable.length > 0) {
    throw new LockstepError(
      "BUNDLE_TARGET_UNWRITABLE",
      `Cannot install bundle "${file}": these targets cannot be written: ${
        unwritable.join("; ")
      }. Nothing was changed.`,
      { data: { bundle: file, targets: unwritable } },
    );
  }
}

/** Where the preflight lists its probes, so that a kill between making and removing one is undone. */
function probeList(config: Pick<Config, "updates">): string {
  return join(workFolder(config), "probes");
}

/**
 * Tries writes outside any journal: each makes a probe file in a folder and
 * removes it at once, listed first in lockstep's work folder so that
 * {@link removeStrayProbes} (`recover`, the next preflight) removes one a
 * kill left behind (backups and restores pass probe names by).
 */
export function prober(config: Pick<Config, "updates">): Probe {
  return (folder) => probeNow(config, folder);
}

function probeNow(config: Pick<Config, "updates">, folder: string): string | undefined {
  const probe = join(folder, `.lockstep-probe-${crypto.randomUUID()}`);
  listProbe(config, probe);
  try {
    Deno.writeFileSync(probe, new Uint8Array(), { createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return error instanceof Error ? error.message : String(error);
  }
  Deno.removeSync(probe);
  return undefined;
}

/**
 * Adds `probe` to the list, best effort: a list that cannot be written (a
 * full disk) only loses the clean-up after a kill, and is not left behind.
 */
function listProbe(config: Pick<Config, "updates">, probe: string): void {
  const list = probeList(config);
  try {
    Deno.mkdirSync(workFolder(config), { recursive: true });
    Deno.writeTextFileSync(list, `${probe}\n`, { append: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    try {
      if (Deno.statSync(list).size === 0) Deno.removeSync(list);
    } catch { /* not made */ }
  }
}

/** Removes the probes a killed preflight left behind, and their list. */
export async function removeStrayProbes(config: Pick<Config, "updates">): Promise<void> {
  await removeProbes(workFolder(config));
  await Deno.remove(probeList(config)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

function refuseLinks(
  config: Config,
  file: string,
  path: string,
  lstat: (path: string) => Deno.FileInfo | undefined,
): void {
  try {
    confinedSync(config.root, path, `install bundle "${file}": write`, lstat);
  } catch (error) {
    if (error instanceof LockstepError && error.code === "PATH_UNSAFE") {
      throw new LockstepError("BUNDLE_PATH_UNSAFE", `${error.message}. Nothing was changed.`, {
        cause: error,
        data: { bundle: file, ...error.data },
      });
    }
    throw error;
  }
}
