/**
 * `feed check`: fetch the index and its signature (over HTTP(S) or from a
 * folder), verify them by every trust rule, keep them, and say what applies
 * to the installed app and packs. It downloads no bundle. The network is
 * used before the operation lock is taken; judging the index against the
 * saved record and saving it happen under the lock, so two checks never
 * interleave their records.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { takeOperationLock } from "../oplock.ts";
import { readState } from "../state.ts";
import { feedLocation } from "./config.ts";
import { type FeedIndex, parseIndex, refuseNonJson } from "./index.ts";
import { type EntryStatus, feedExitCode } from "./judge.ts";
import { refuseFeed } from "./refuse.ts";
import { indexNames, saveIndex } from "./saved.ts";
import { openSource } from "./source.ts";
import { feedConfigOf, judgeIndex } from "./status.ts";
import { type FeedSource, isNotFound } from "./transport.ts";
import { acceptIndex, type Clock, clockOf, feedKeys, verifyIndexSignature } from "./trust.ts";
import { sha256Hex } from "../sha256.ts";

/** Options for {@link feedCheck}. */
export interface FeedCheckOptions {
  /** The channel to check (default `feed.channel`); its record is kept apart from the others. */
  channel?: string;
  /** Read the feed from this folder (a mirror) or URL instead of `feed.url`. */
  from?: string;
  /** Accept an index that has expired (every other rule still holds). Default false. */
  allowExpired?: boolean;
  /** The clock to judge time by (default: this host's). */
  now?: Date;
  /** The `fetch` HTTP reads use (default: the global one). */
  fetch?: typeof fetch;
}

/** What {@link feedCheck} found. */
export interface FeedCheckResult {
  /** 0 nothing new, 7 updates available, 8 a critical security update applies. */
  readonly exitCode: 0 | 7 | 8;
  /** The app the feed is for. */
  readonly app: string;
  /** The channel checked. */
  readonly channel: string;
  /** Where the index came from (a URL or a folder). */
  readonly source: string;
  /** The index's sequence number. */
  readonly seq: number;
  /** When the index was issued. */
  readonly issued: string;
  /** When the index expires. */
  readonly expires: string;
  /** The key id that signed it. */
  readonly key: string;
  /** `new` when this index was not the one saved before, else `unchanged`. */
  readonly accepted: "new" | "unchanged";
  /** It had expired and was accepted with `allowExpired`. */
  readonly expired: boolean;
  /** This host's clock, the floor, and when expiry was judged. */
  readonly clock: Clock;
  /** Every entry not blocked, as it stands here. */
  readonly entries: readonly EntryStatus[];
}

/** The index and signature as fetched. */
interface Fetched {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly signature: Uint8Array | undefined;
  readonly where: string;
}

/**
 * Fetches, verifies and keeps the update feed's index, and lists what it
 * offers this host; downloads nothing. Exit code 7 when updates apply, 8 when
 * a critical security release applies to an installed version (held and
 * blocked names excluded).
 *
 * Permissions: `--allow-read` and `--allow-write` on the config's folder and the updates folder;
 * `--allow-net=HOST:PORT` of the feed, or `--allow-read` on the mirror folder. No `--allow-env`.
 *
 * @throws {LockstepError} `FEED_NOT_CONFIGURED`, `FEED_UNREACHABLE`, `FEED_TIMEOUT`,
 * `FEED_TOO_LARGE`, `FEED_REDIRECT_REFUSED`, `FEED_INVALID`, `FEED_SIGNATURE_INVALID`,
 * `FEED_WRONG_APP`, `FEED_ROLLBACK`, `FEED_EXPIRED`, `CLOCK_SUSPECT`, `LOCK_HELD`,
 * `PERMISSION_DENIED`, `DISK_FULL`; other operating-system errors (a mirror folder this user may
 * not read) as Deno raised them. The feed saved before is kept on every refusal.
 * @example
 * ```ts ignore
 * const result = await feedCheck(config);
 * if (result.exitCode === 8) console.log("a critical security update applies");
 * ```
 */
export async function feedCheck(
  config: Config,
  options: FeedCheckOptions = {},
): Promise<FeedCheckResult> {
  const { allowExpired = false, now = new Date() } = options;
  const feed = feedConfigOf(config, "check the update feed");
  const channel = options.channel ?? feed.channel;
  const location = options.from === undefined ? feed.url : fromLocation(options.from);
  const source = openSource(location, {
    timeoutSeconds: feed.timeoutSeconds,
    minBytesPerSecond: config.limits.feedMinBytesPerSecond,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const fetched = await fetchIndex(source, channel, config);
  refuseNonJson(fetched.bytes, fetched.where);
  const key = await verifyIndexSignature(
    fetched.bytes,
    fetched.signature,
    feedKeys(config, feed),
    fetched.where,
  );
  const index = parseIndex(fetched.bytes, config.limits, fetched.where);
  using _lock = await takeOperationLock(config, "check the update feed");
  const saved = (await readState(config)).feed;
  const digest = await sha256Hex(fetched.bytes);
  const accepted = acceptIndex(index, { sha256: digest, key, where: fetched.where }, {
    app: config.app,
    feed,
    channel,
    saved,
    now,
    allowExpired,
    source: source.location,
  });
  await saveIndex(config, channel, {
    bytes: fetched.bytes,
    signature: fetched.signature!,
  }, accepted.state);
  const entries = await judgeIndex(config, feed, index);
  return {
    exitCode: feedExitCode(entries),
    ...summary(index, source.location, key),
    accepted: saved?.channels[channel]?.sha256 === digest ? "unchanged" : "new",
    expired: accepted.expired,
    clock: clockOf(now, accepted.state),
    entries,
  };
}

function summary(index: FeedIndex, source: string, key: string) {
  const { app, channel, seq, issued, expires } = index;
  return { app, channel, source, seq, issued, expires, key };
}

function fromLocation(from: string): string {
  return feedLocation(from, ".", (what) => {
    throw new LockstepError("USAGE", `Cannot run lockstep: --from ${what}.`);
  });
}

/**
 * Reads `feed-<channel>.json` (else `feed.json`) and the signature beside it,
 * each within its limit.
 */
async function fetchIndex(source: FeedSource, channel: string, config: Config): Promise<Fetched> {
  const names = indexNames(channel);
  let stem = names.index.replace(/\.json$/, "");
  let read;
  try {
    read = await source.read(names.index, { maxBytes: config.limits.feedIndexBytes });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    stem = "feed";
    read = await source.read("feed.json", { maxBytes: config.limits.feedIndexBytes });
  }
  const where = source.where(`${stem}.json`);
  if (read.over) {
    refuseFeed(
      "FEED_TOO_LARGE",
      where,
      `the index is over ${config.limits.feedIndexBytes} bytes (limits.feedIndexBytes)`,
      { limit: "feedIndexBytes" },
    );
  }
  let signature: Uint8Array | undefined;
  try {
    const sig = await source.read(`${stem}.sig`, { maxBytes: config.limits.feedSignatureBytes });
    if (sig.over) {
      refuseFeed(
        "FEED_TOO_LARGE",
        where,
        `its signature is over ${config.limits.feedSignatureBytes} bytes (limits.feedSignatureBytes)`,
        { limit: "feedSignatureBytes" },
      );
    }
    signature = sig.data;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return { bytes: read.data!, signature, where };
}
