/**
 * `feed fetch`: download into `pending/` what the saved index offers, from
 * where it was accepted: by default what `feed.fetch` allows unattended
 * (`none`, `security`, `all`), or the names given. Held names are never
 * fetched, blocked ones never looked up, and a pack entry only for a pack
 * whose `source` is this feed (a pack not installed here only when named).
 * The releases before a selected one in its chain come too, so that what is
 * fetched applies. Installing stays `update`/`install`.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Config } from "../config.ts";
import { type ErrorCode, LockstepError } from "../errors.ts";
import { hashFile } from "../hashing.ts";
import { takeOperationLock } from "../oplock.ts";
import { compare } from "../deps/semver.ts";
import { downloadEntry, type DownloadProgress, removePartials } from "./download.ts";
import type { EntryStatus } from "./judge.ts";
import { readSaved, type SavedFeed } from "./saved.ts";
import { openSource } from "./source.ts";
import { feedConfigOf, judgeIndex } from "./status.ts";
import { clockOf, validUntil } from "./trust.ts";
import { feedError } from "./refuse.ts";
import type { FeedConfig } from "./config.ts";

/** Options for {@link feedFetch}. */
export interface FeedFetchOptions {
  /** Fetch these names (app or packs) instead of what `feed.fetch` allows. */
  names?: readonly string[];
  /** Only security releases (and the releases their chain needs). Default false. */
  securityOnly?: boolean;
  /** Each download's progress. */
  onProgress?: (progress: DownloadProgress) => void;
  /** The clock to judge expiry by (default: this host's). */
  now?: Date;
  /** The `fetch` HTTP reads use (default: the global one). */
  fetch?: typeof fetch;
}

/** A bundle `feed fetch` handled. */
export interface FetchedBundle {
  /** `app` or `pack`. */
  readonly kind: "app" | "pack";
  /** The app's or pack's name. */
  readonly name: string;
  /** The version. */
  readonly version: string;
  /** Its file name in `pending/`. */
  readonly file: string;
  /** `fetched`, or `pending` when the same bytes were there already. */
  readonly outcome: "fetched" | "pending";
}

/** What {@link feedFetch} did. */
export interface FeedFetchResult {
  /** The bundles fetched (or found in `pending/` already), in order. */
  readonly bundles: readonly FetchedBundle[];
  /** Partial files of killed downloads that were removed first. */
  readonly partialsRemoved: number;
  /** `feed.fetch` or the names given: what was asked for. */
  readonly policy: string;
}

/**
 * Downloads bundles the saved feed index offers into `pending/` (each to a
 * hidden partial file, its size and SHA-256 checked as it streams, its own
 * manifest checked against the entry, then put in place; never replacing a
 * file). Works from the index the last `feedCheck` accepted.
 *
 * Permissions: `--allow-read` and `--allow-write` on the config's folder and the updates folder
 * (`pending/` included); `--allow-net=HOST:PORT` of the feed, or `--allow-read` on the mirror
 * folder. No `--allow-env`.
 *
 * @throws {LockstepError} `FEED_NOT_CONFIGURED`, `FEED_STALE` (no index accepted yet, or it is
 * damaged), `FEED_EXPIRED`, `FEED_ENTRY_REFUSED` (a name held, blocked, unknown, from another
 * source), `BUNDLE_VERSION_REFUSED`, `BUNDLE_NOT_APPLICABLE`, `BUNDLE_REQUIREMENT_UNMET`,
 * `FEED_DOWNLOAD_MISMATCH`, `FEED_UNREACHABLE`, `FEED_TIMEOUT`, `FEED_REDIRECT_REFUSED`,
 * `LOCK_HELD`, `DISK_FULL`, `PERMISSION_DENIED`. Bundles fetched before a failure stay in
 * `pending/` (`data.fetched`); the one that failed leaves nothing.
 * @example
 * ```ts ignore
 * await feedCheck(config);
 * const { bundles } = await feedFetch(config, { securityOnly: true });
 * ```
 */
export async function feedFetch(
  config: Config,
  options: FeedFetchOptions = {},
): Promise<FeedFetchResult> {
  const { names = [], securityOnly = false, now = new Date() } = options;
  const feed = feedConfigOf(config, "fetch from the update feed");
  using _lock = await takeOperationLock(config, "fetch from the update feed");
  const partialsRemoved = await removePartials(config);
  const saved = await usableIndex(config, feed, now);
  const statuses = await judgeIndex(config, feed, saved.index);
  const chosen = names.length > 0 ? byName(statuses, names, feed) : byPolicy(statuses, feed.fetch);
  const wanted = withChains(statuses, chosen.filter((s) => !securityOnly || s.security?.applies));
  const source = openSource(saved.record.source, {
    timeoutSeconds: feed.timeoutSeconds,
    minBytesPerSecond: config.limits.feedMinBytesPerSecond,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const bundles: FetchedBundle[] = [];
  for (const status of wanted) {
    const { entry } = status;
    const file = basename(entry.file);
    const done = { kind: entry.kind, name: entry.name, version: entry.version, file };
    try {
      if (await alreadyPending(config, status)) {
        bundles.push({ ...done, outcome: "pending" });
        continue;
      }
      await downloadEntry(config, source, entry, {
        app: saved.index.app,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      bundles.push({ ...done, outcome: "fetched" });
    } catch (error) {
      if (error instanceof LockstepError && bundles.length > 0) {
        throw new LockstepError(
          error.code,
          `${error.message} ${bundles.length} bundle(s) fetched before it stay in pending/.`,
          { cause: error, data: { ...error.data, fetched: bundles.map((b) => b.file) } },
        );
      }
      throw error;
    }
  }
  return { bundles, partialsRemoved, policy: names.length > 0 ? names.join(" ") : feed.fetch };
}

/** The saved index of the configured channel, verified again and not expired. */
async function usableIndex(config: Config, feed: FeedConfig, now: Date): Promise<SavedFeed> {
  const read = await readSaved(config, feed, feed.channel);
  if (read.state !== "ok") {
    const why = read.state === "none"
      ? `no index has been accepted on channel "${feed.channel}" yet`
      : read.reason;
    throw new LockstepError(
      "FEED_STALE",
      `Cannot fetch from the update feed: ${why}. Run "lockstep feed check" first. Nothing was ` +
        `changed.`,
      { data: { channel: feed.channel, reason: why } },
    );
  }
  const { saved } = read;
  const clock = clockOf(now, read.feed);
  const expired = Date.parse(clock.reference) > validUntil(saved.index, feed);
  if (feed.clock === "trusted" && expired && !saved.record.expiredAccepted) {
    throw feedError(
      "FEED_EXPIRED",
      saved.record.source,
      `the index saved at ${saved.record.checked} expired at ${saved.index.expires}; run ` +
        `"lockstep feed check" for a fresh one`,
    );
  }
  return saved;
}

/** What `feed.fetch` allows unattended: every update, security ones only, or none. */
function byPolicy(statuses: readonly EntryStatus[], policy: FeedConfig["fetch"]): EntryStatus[] {
  if (policy === "none") return [];
  return statuses.filter((s) =>
    s.state === "update" && (policy === "all" || s.security?.applies === true)
  );
}

/** The updates of each name given; a name that offers none is refused with the reason. */
function byName(
  statuses: readonly EntryStatus[],
  names: readonly string[],
  feed: FeedConfig,
): EntryStatus[] {
  const out: EntryStatus[] = [];
  for (const name of names) {
    const refuse = (code: ErrorCode, reason: string, offered = true): never => {
      throw new LockstepError(
        code,
        `Cannot fetch "${name}" from the update feed: ${reason}. Nothing was changed.`,
        { data: { name, reason, offered } },
      );
    };
    if (feed.block.includes(name)) {
      refuse("FEED_ENTRY_REFUSED", "it is blocked (feed.block): never looked up");
    }
    const own = statuses.filter((s) => s.name === name);
    if (own.length === 0) {
      refuse("FEED_ENTRY_REFUSED", "the saved index does not offer it", false);
    }
    const updates = own.filter((s) =>
      s.state === "update" || (s.state === "not-installed" && s === newest(own))
    );
    if (updates.length === 0) {
      const last = newest(own);
      refuse(last.code ?? "FEED_ENTRY_REFUSED", `${last.offered}: ${last.reason}`);
    }
    out.push(...updates);
  }
  return out;
}

function newest(statuses: readonly EntryStatus[]): EntryStatus {
  return statuses.reduce((a, b) => compare(a.offered, b.offered) >= 0 ? a : b);
}

/** `chosen` with the updates of the same name below each, in install order. */
function withChains(
  statuses: readonly EntryStatus[],
  chosen: readonly EntryStatus[],
): EntryStatus[] {
  const wanted = new Set(chosen);
  for (const pick of chosen) {
    for (const s of statuses) {
      const before = s.kind === pick.kind && s.name === pick.name && s.state === "update" &&
        compare(s.offered, pick.offered) < 0;
      if (before) wanted.add(s);
    }
  }
  return [...wanted].sort((a, b) =>
    a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) || compare(a.offered, b.offered)
  );
}

/**
 * True when the bundle is in `pending/` already with the entry's bytes;
 * another file under its name is refused, never replaced.
 */
async function alreadyPending(config: Config, status: EntryStatus): Promise<boolean> {
  const file = basename(status.entry.file);
  let found;
  try {
    found = await hashFile(join(config.pending, file));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  if (found.sha256 === status.entry.sha256) return true;
  throw new LockstepError(
    "FEED_DOWNLOAD_MISMATCH",
    `Cannot download "${file}": pending/${file} holds other bytes than the feed's ` +
      `${status.name} ${status.offered}; it was not replaced. Remove or rename it, then fetch again.`,
    { data: { file, name: status.name, version: status.offered } },
  );
}
