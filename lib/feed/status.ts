/**
 * The saved feed, offline: `feed status` (the saved index, whether it is
 * stale, what applies) and the feed's part of `check` (warnings only:
 * `SECURITY_UPDATE_AVAILABLE`, `FEED_STALE`, `CLOCK_SUSPECT`). Neither uses
 * the network nor takes a lock; both read a file of at most
 * `limits.feedIndexBytes` and check one signature.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { readCodeVersion } from "../host.ts";
import { asProblem, type Problem } from "../problems.ts";
import { readState } from "../state.ts";
import { VERSION } from "../version.ts";
import type { FeedConfig } from "./config.ts";
import { clockSuspect, feedStale, securityUpdateAvailable } from "./findings.ts";
import { type EntryStatus, feedExitCode, type InstalledState, judgeEntries } from "./judge.ts";
import { installedPacks } from "./packs.ts";
import type { FeedIndex } from "./index.ts";
import { readSaved, type SavedRead } from "./saved.ts";
import { type Clock, clockOf, validUntil } from "./trust.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** What `feed status` reports. */
export interface FeedStatusReport {
  /** The configured feed location. */
  readonly url: string;
  /** The configured channel. */
  readonly channel: string;
  /** The saved index's record (seq, sha256, issued, expires, key, checked, source), or `null`. */
  readonly saved: {
    readonly seq: number;
    readonly issued: string;
    readonly expires: string;
    readonly key: string;
    readonly checked: string;
    readonly source: string;
    readonly expiredAccepted: boolean;
  } | null;
  /** Why the saved index is stale (missing, old, expired, damaged), or `null`. */
  readonly stale: string | null;
  /** This host's clock, the floor, and the time expiry is judged at. */
  readonly clock: Clock;
  /** The entries of the saved index as they stand here (empty when there is none). */
  readonly entries: readonly EntryStatus[];
  /** What `feed check` would exit with on this index: 0, 7 (updates) or 8 (a critical one). */
  readonly exitCode: 0 | 7 | 8;
}

/** What `check` reports of the feed (`null` there when no feed is configured). */
export interface FeedSummary {
  /** The configured feed location. */
  readonly url: string;
  /** The configured channel. */
  readonly channel: string;
  /** The saved index's seq, or `null` when there is none. */
  readonly seq: number | null;
  /** When it expires, or `null`. */
  readonly expires: string | null;
  /** When it was last accepted, or `null`. */
  readonly checked: string | null;
  /** Why it is stale, or `null`. */
  readonly stale: string | null;
  /** The updates it offers that apply (held ones excluded), with their security level. */
  readonly updates: readonly {
    readonly kind: "app" | "pack";
    readonly name: string;
    readonly installed: string | null;
    readonly offered: string;
    readonly security: string | null;
  }[];
}

/** The config's feed, or `FEED_NOT_CONFIGURED`. */
export function feedConfigOf(config: Config, action: string): FeedConfig {
  if (config.feed !== null) return config.feed;
  throw new LockstepError(
    "FEED_NOT_CONFIGURED",
    `Cannot ${action}: "${config.file}" has no "feed" section. Add one with the feed's "url" and ` +
      `its key in "feed.keys" (see the README, "The update feed").`,
    { data: { file: config.file } },
  );
}

/** The installed app version (the version file), its high-water mark and the packs. */
export async function installedState(config: Config): Promise<InstalledState> {
  const state = await readState(config);
  return {
    version: await readCodeVersion(config),
    highWater: state.highWater,
    packs: await installedPacks(config),
  };
}

/** An index's entries (none without one) as they stand on this host. */
export async function judgeIndex(
  config: Config,
  feed: FeedConfig,
  index: FeedIndex | null,
): Promise<EntryStatus[]> {
  if (index === null) return [];
  return judgeEntries(index, await installedState(config), {
    block: feed.block,
    hold: feed.hold,
    versions: { deno: Deno.version.deno, lockstep: VERSION },
  });
}

/** Why the saved index of the configured channel is stale at `now`, or `null`. */
export function staleReason(feed: FeedConfig, read: SavedRead, now: Date): string | null {
  if (read.state === "none") return "no index has been accepted on this channel yet";
  if (read.state === "damaged") return read.reason;
  const { record, index } = read.saved;
  const age = now.getTime() - Date.parse(record.checked);
  if (age > feed.maxAgeDays * DAY_MS) {
    return `it was last checked ${Math.floor(age / DAY_MS)} day(s) ago, over feed.maxAgeDays ` +
      `(${feed.maxAgeDays})`;
  }
  const clock = clockOf(now, read.feed);
  if (feed.clock === "trusted" && Date.parse(clock.reference) > validUntil(index, feed)) {
    return `it expired at ${index.expires}`;
  }
  return null;
}

/**
 * The saved update feed, offline: when it was checked, its seq, issue and
 * expiry times and key, whether it is stale, and what it offers this host.
 *
 * Permissions: `--allow-read` on the config's folder and the updates folder. No network, no lock.
 *
 * @throws {LockstepError} `FEED_NOT_CONFIGURED` (exit 2), `FILE_INVALID` (a damaged state.json).
 * @example
 * ```ts ignore
 * const status = await feedStatus(config);
 * if (status.stale) console.log(`run lockstep feed check: ${status.stale}`);
 * ```
 */
export async function feedStatus(
  config: Config,
  options: { now?: Date } = {},
): Promise<FeedStatusReport> {
  const { now = new Date() } = options;
  const feed = feedConfigOf(config, "show the update feed");
  const read = await readSaved(config, feed, feed.channel);
  const record = read.state === "none"
    ? null
    : read.state === "ok"
    ? read.saved.record
    : read.record;
  const entries = await judgeIndex(config, feed, read.state === "ok" ? read.saved.index : null);
  return {
    url: feed.url,
    channel: feed.channel,
    saved: record === null ? null : {
      seq: record.seq,
      issued: record.issued,
      expires: record.expires,
      key: record.key,
      checked: record.checked,
      source: record.source,
      expiredAccepted: record.expiredAccepted ?? false,
    },
    stale: staleReason(feed, read, now),
    clock: clockOf(now, read.feed),
    entries,
    exitCode: feedExitCode(entries),
  };
}

/**
 * The feed's part of `check`: its summary and its warnings, from the saved
 * index only. `null` and no problems when no feed is configured.
 */
export async function feedSummary(
  config: Config,
  now = new Date(),
): Promise<{ summary: FeedSummary | null; problems: Problem[] }> {
  const feed = config.feed;
  if (feed === null) return { summary: null, problems: [] };
  const read = await readSaved(config, feed, feed.channel);
  const record = read.state === "none"
    ? null
    : read.state === "ok"
    ? read.saved.record
    : read.record;
  const entries = await judgeIndex(config, feed, read.state === "ok" ? read.saved.index : null);
  const updates = entries.filter((s) => s.state === "update");
  const stale = staleReason(feed, read, now);
  const problems: Problem[] = [];
  const flagged = updates.filter((s) => s.security?.applies);
  if (flagged.length > 0) problems.push(asProblem(securityUpdateAvailable(flagged)));
  if (stale !== null) {
    problems.push(
      asProblem(feedStale(stale, { channel: feed.channel, checked: record?.checked ?? null })),
    );
  }
  const clock = clockOf(now, read.feed);
  if (clock.behind) problems.push(asProblem(clockSuspect(clock.now, clock.floor!)));
  return {
    summary: {
      url: feed.url,
      channel: feed.channel,
      seq: record?.seq ?? null,
      expires: record?.expires ?? null,
      checked: record?.checked ?? null,
      stale,
      updates: updates.map((s) => ({
        kind: s.kind,
        name: s.name,
        installed: s.installed,
        offered: s.offered,
        security: s.security?.applies ? s.security.level : null,
      })),
    },
    problems,
  };
}
