/**
 * `pack install NAME` when no bundle of the pack waits in `pending/`: with an
 * update feed configured, the pack is fetched from the index the last
 * `feed check` accepted (named explicitly, as adding a pack is the
 * operator's choice), then installed from `pending/` like any other.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isLockstepError } from "../errors.ts";
import { readPending } from "../bundles/pending.ts";
import { feedFetch } from "../feed/fetch.ts";

/**
 * Fetches pack `name` (at `version`, when given) from the update feed when
 * none of its bundles is in `pending/`; returns the files fetched (none
 * without a feed, or when the feed does not offer it: `pack install` then
 * says it found no bundle).
 *
 * @throws {LockstepError} the feed's errors (`FEED_STALE` when no index was
 * accepted yet, `FEED_UNREACHABLE`, `FEED_DOWNLOAD_MISMATCH`, …), each
 * leaving nothing in `pending/`.
 */
export async function fetchPackIfMissing(
  config: Config,
  name: string,
  version: string | undefined,
): Promise<string[]> {
  if (config.feed === null) return [];
  const pending = await readPending(config);
  const waiting = pending.some((b) =>
    b.manifest?.pack === name && (version === undefined || b.manifest.version === version)
  );
  if (waiting) return [];
  try {
    const { bundles } = await feedFetch(config, { names: [name] });
    return bundles.filter((b) => b.outcome === "fetched").map((b) => b.file);
  } catch (error) {
    // The feed does not offer that pack: the install says no bundle of it was found.
    if (isLockstepError(error, "FEED_ENTRY_REFUSED") && error.data.offered === false) return [];
    throw error;
  }
}
