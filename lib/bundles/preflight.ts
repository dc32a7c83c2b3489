/**
 * The preflight of `install` and `update`: everything about the bundles
 * that can be checked without changing anything, before the backup and
 * before maintenance. Each applicable bundle is read whole (every entry
 * inflated, its size, SHA-256 and CRC checked), every target must be
 * writable, and there must be room for the staged files and the backup.
 * A bundle found unusable keeps that verdict for `check`.
 *
 * @module
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config.ts";
import { isLockstepError, LockstepError } from "../errors.ts";
import { walkTree } from "../backup/tree.ts";
import { workFolder } from "../oplock.ts";
import { NOWHERE, openBundle } from "./archive.ts";
import type { ChainStep, PendingBundle } from "./pending.ts";
import { readPending } from "./pending.ts";
import { readCodeVersion } from "../host.ts";
import { readState } from "../state.ts";
import { releaseChain } from "../packs/chain.ts";
import type { PackDeclaration } from "../packs/declaration.ts";
import { applyPacks, loadPacks } from "../packs/registry.ts";
import { verifyPackBundle } from "../packs/verify.ts";
import { migratesAfter } from "../packs/bundle.ts";
import { judgeFuture } from "../migrations/future.ts";
import { checkTargets, prober, removeStrayProbes } from "./targets.ts";
import { recordVerdict } from "./verdicts.ts";

/** A bundle the preflight refused, with the reason. */
export interface PreflightRefusal {
  /** The bundle. */
  readonly bundle: PendingBundle;
  /** The refusal. */
  readonly error: LockstepError;
}

/**
 * Reads every applicable bundle of `steps` whole and checks its targets
 * (probing each folder with a write unless `dryRun`); a pack bundle's
 * declaration and folder too (see `verifyPackBundle`), each declaration
 * going into `declarations` (the last of a pack's wins). Returns the
 * refusals, in chain order; records a content refusal as the bundle's
 * verdict (not when `dryRun`: then nothing is written).
 */
export async function preflightChain(
  config: Config,
  steps: readonly ChainStep[],
  options: { dryRun?: boolean; declarations?: Map<string, PackDeclaration> } = {},
): Promise<PreflightRefusal[]> {
  const refusals: PreflightRefusal[] = [];
  const state = await readState(config);
  try {
    for (const { bundle, refusal } of steps) {
      if (refusal) continue;
      try {
        await readWhole(config, bundle);
        const pack = bundle.manifest!.pack;
        if (pack !== undefined) {
          const declaration = await verifyPackBundle(config, bundle, state);
          // The migrations after it: a pack that has none adds no package to the graph.
          if (migratesAfter(config, bundle.manifest!, declaration)) {
            options.declarations?.set(pack, declaration);
          } else options.declarations?.delete(pack);
        }
      } catch (error) {
        if (!isLockstepError(error)) throw error;
        // A dry run (and `bundle inspect`) writes nothing, not even a verdict; whose folder a
        // pack's is belongs to the host, not to the bundle.
        if (!options.dryRun && error.code !== "PACK_FOLDER_OWNED") {
          await recordVerdict(config, bundle, error);
        }
        refusals.push({ bundle, error });
        continue;
      }
      const manifest = bundle.manifest!;
      const writes = Object.keys(manifest.files);
      try {
        await checkTargets(
          config,
          bundle.file,
          manifest,
          writes,
          options.dryRun ? undefined : prober(config),
        );
      } catch (error) {
        if (!isLockstepError(error)) throw error;
        refusals.push({ bundle, error });
      }
    }
  } finally {
    // What the probes listed, and the list: a refusal thrown half-way included.
    if (!options.dryRun) await removeStrayProbes(config);
  }
  return refusals;
}

/**
 * The whole preflight of a release (`update`): the pending chain's
 * applicable bundles read whole with their targets probed, room for them and
 * the backup, and the migrations after them runnable. Returns the versions
 * that would install.
 *
 * @throws {LockstepError} the first refusal, saying that nothing was
 * changed: a `BUNDLE_*` code, `DISK_SPACE_SHORT`, or what the migrations
 * after the install would meet.
 */
export async function preflightRelease(config: Config, action: string): Promise<string[]> {
  const state = await readState(config);
  const codeVersion = await readCodeVersion(config);
  const steps = releaseChain(await readPending(config), { codeVersion, state });
  const applicable = steps.filter((s) => !s.refusal);
  if (applicable.length === 0) return [];
  const declarations = new Map<string, PackDeclaration>();
  const [refused] = await preflightChain(config, steps, { declarations });
  if (refused !== undefined) {
    const { error } = refused;
    throw new LockstepError(
      error.code,
      `Cannot ${action}: ${error.message.replace(/^Cannot /, "")}`,
      { cause: error, data: error.data },
    );
  }
  checkSpace(config, steps, { backup: true, action });
  const after = applyPacks(config, await loadPacks(config, state), declarations);
  await judgeFuture(after, applicable.map((s) => s.bundle as Required<PendingBundle>), action);
  return applicable.map((s) => s.bundle.manifest!.version);
}

/** Inflates every payload entry into nothing, checking each against the manifest. */
async function readWhole(config: Config, bundle: PendingBundle): Promise<void> {
  await using archive = await openBundle(bundle.path, config.limits);
  for (const path of Object.keys(archive.manifest.files)) await archive.extract(path, NOWHERE);
}

/**
 * Refuses when the filesystem of the updates folder has no room for the
 * staged files of `steps` and, when `backup`, for a backup of the app root
 * and the SQLite databases (counted uncompressed: an upper bound). Judged
 * only when `--allow-sys=statfs` is granted; without it a full disk is
 * still caught while staging (`DISK_FULL`, nothing changed).
 *
 * @throws {LockstepError} `DISK_SPACE_SHORT`.
 */
export function checkSpace(
  config: Config,
  steps: readonly ChainStep[],
  options: { backup: boolean; action: string },
): void {
  const granted = Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state === "granted";
  if (!granted) return;
  const staging = steps.filter((s) => !s.refusal)
    .flatMap((s) => Object.values(s.bundle.manifest!.files))
    .reduce((sum, file) => sum + file.size, 0);
  let backup = 0;
  if (options.backup) {
    backup = walkTree(config).files.reduce((sum, file) => sum + file.size, 0);
    for (const db of Object.values(config.databases)) {
      if (db.path !== undefined) backup += sizeOf(db.path);
    }
  }
  const stats = statfsSync(nearestFolder(workFolder(config)));
  const free = Number(stats.bavail) * Number(stats.bsize);
  const needed = staging + backup;
  if (needed <= free) return;
  const mb = (n: number) => `${Math.ceil(n / 1e6)} MB`;
  throw new LockstepError(
    "DISK_SPACE_SHORT",
    `Cannot ${options.action}: it needs about ${mb(needed)} (${mb(staging)} to stage the new ` +
      `files${options.backup ? `, ${mb(backup)} for the backup` : ""}) and ${config.updates} ` +
      `has ${mb(free)} free. Free space (or prune old backups) and retry. Nothing was changed.`,
    { data: { needed, free, staging, backup } },
  );
}

/** A file's size; 0 when it does not exist yet. */
function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** `path`, or its nearest ancestor that exists (the updates folder may not exist yet). */
function nearestFolder(path: string): string {
  for (let at = path;; at = dirname(at)) {
    try {
      Deno.statSync(at);
      return at;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || dirname(at) === at) throw error;
    }
  }
}
