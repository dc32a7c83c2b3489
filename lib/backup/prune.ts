/**
 * Pruning backups: keep the newest `backup.keep` valid ones, never the
 * newest valid one, and remove leftovers of interrupted backups.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { syncFolder } from "../files.ts";
import { takeOperationLock } from "../oplock.ts";
import { removeLeftovers } from "./backup.ts";
import { listBackups } from "./list.ts";

/** What {@link pruneBackups} did. */
export interface PruneResult {
  /** Ids removed. */
  readonly removed: readonly string[];
  /** Ids kept. */
  readonly kept: readonly string[];
}

/**
 * Keeps the newest `backup.keep` valid backups and removes older ones, and
 * the invalid ones older than the newest valid backup, and any leftovers of
 * interrupted backups. The newest valid backup is never removed.
 *
 * Permissions: `--allow-read` and `--allow-write` on the backups folder.
 *
 * @throws {LockstepError} `LOCK_HELD`.
 * @example
 * ```ts ignore
 * const { removed } = await pruneBackups(config);
 * ```
 */
export async function pruneBackups(config: Config): Promise<PruneResult> {
  using _lock = await takeOperationLock(config, "prune backups");
  const all = await listBackups(config);
  const newestValid = all.find((b) => b.valid);
  let validSeen = 0;
  const removed: string[] = [];
  const kept: string[] = [];
  for (const item of all) {
    const goes = item.valid
      ? ++validSeen > Math.max(1, config.backup.keep)
      : newestValid !== undefined && (item.created ?? "") < (newestValid.created ?? "");
    if (goes) {
      await Deno.remove(item.path, { recursive: true });
      removed.push(item.id);
    } else kept.push(item.id);
  }
  if (all.length > 0 || removed.length > 0) {
    removed.push(...await removeLeftovers(config).catch(() => []));
    await syncFolder(config.backups).catch(() => undefined);
  }
  return { removed, kept };
}
