/**
 * Pruning backups: keep the newest `backup.keep` valid ones, never the
 * newest valid one (nor any the caller names, such as the backup `update`
 * just took), and remove leftovers of interrupted backups. The choice is a
 * pure function of the list ({@link prunePlan}); `dryRun` shows it.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { messageOf } from "../errors.ts";
import { syncFolder } from "../files.ts";
import { takeOperationLock } from "../oplock.ts";
import { leftovers, removeLeftovers } from "./backup.ts";
import { type BackupInfo, listBackups } from "./list.ts";

/** Options for {@link pruneBackups}. */
export interface PruneOptions {
  /** Say what would be removed, and remove nothing (default `false`). */
  dryRun?: boolean;
  /**
   * Ids never removed, beside the newest valid backup (default none);
   * `update` passes the backup it just took.
   */
  keepIds?: readonly string[];
}

/** What {@link pruneBackups} did (or, with `dryRun`, would do). */
export interface PruneResult {
  /** Ids removed (with `dryRun`: that would be), leftovers of interrupted backups included. */
  readonly removed: readonly string[];
  /** Ids kept. */
  readonly kept: readonly string[];
  /** True when nothing was removed because `dryRun` was asked. */
  readonly dryRun: boolean;
}

/**
 * Keeps the newest `backup.keep` valid backups and removes older ones, and
 * the invalid ones older than the newest valid backup, and any leftovers of
 * interrupted backups. The newest valid backup, and `keepIds`, are never
 * removed; they count among the `backup.keep` kept.
 *
 * Permissions: `--allow-read` and `--allow-write` on the backups folder (`dryRun`: `--allow-read`).
 *
 * @throws {LockstepError} `LOCK_HELD` (not with `dryRun`, which takes no lock).
 * @example
 * ```ts ignore
 * const { removed } = await pruneBackups(config, { dryRun: true }); // what would go
 * ```
 */
export async function pruneBackups(
  config: Config,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const { dryRun = false, keepIds = [] } = options;
  using _lock = dryRun ? undefined : await takeOperationLock(config, "prune backups");
  const plan = prunePlan(await listBackups(config), config.backup.keep, keepIds);
  const kept = plan.kept.map((b) => b.id);
  if (dryRun) {
    return { removed: [...plan.removed.map((b) => b.id), ...leftovers(config)], kept, dryRun };
  }
  const removed: string[] = [];
  for (const item of plan.removed) {
    await Deno.remove(item.path, { recursive: true });
    removed.push(item.id);
  }
  removed.push(...await removeLeftovers(config));
  if (removed.length > 0) await syncFolder(config.backups);
  return { removed, kept, dryRun };
}

/**
 * The prune that ends a successful `update`: backups down to `backup.keep`,
 * never `taken` (the backup it took) nor the newest valid one. `null` when
 * there is nothing to remove. The update has succeeded by then, so a prune
 * that fails is said in `detail` (the operator runs `backup prune` later),
 * not thrown.
 */
export async function pruneAfter(
  config: Config,
  taken: string | null,
): Promise<{ removed: readonly string[]; detail: string } | null> {
  const keepIds = taken === null ? [] : [taken];
  try {
    if ((await pruneBackups(config, { dryRun: true, keepIds })).removed.length === 0) return null;
    const { removed, kept } = await pruneBackups(config, { keepIds });
    return { removed, detail: `${removed.length} old backup(s) removed, ${kept.length} kept` };
  } catch (error) {
    return {
      removed: [],
      detail: `not done (${messageOf(error)}); the update itself succeeded: run ` +
        `"lockstep backup prune"`,
    };
  }
}

/**
 * Which backups go, newest first in, newest first out: valid ones past the
 * newest `keep` (protected ones count, and never go), and invalid ones older
 * than the newest valid backup.
 */
export function prunePlan(
  all: readonly BackupInfo[],
  keep: number,
  keepIds: readonly string[] = [],
): { removed: BackupInfo[]; kept: BackupInfo[] } {
  const newestValid = all.find((b) => b.valid);
  let validSeen = 0;
  const removed: BackupInfo[] = [];
  const kept: BackupInfo[] = [];
  for (const item of all) {
    const protectedOne = item === newestValid || keepIds.includes(item.id);
    const goes = item.valid
      ? ++validSeen > Math.max(1, keep)
      : newestValid !== undefined && (item.created ?? "") < (newestValid.created ?? "");
    (goes && !protectedOne ? removed : kept).push(item);
  }
  return { removed, kept };
}
