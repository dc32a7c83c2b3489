/**
 * The `feed` section of `lockstep.json`: where the signed update feed is (an
 * HTTP(S) URL or a folder, such as a mirror on removable media), which
 * channel this host follows, which keys may sign its index, what `feed
 * fetch` downloads unattended, the names it never looks up or never fetches,
 * and how time is judged. A pure reader, like the rest of the config.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Fail, integer, object, onlyKeys, string, strings } from "../config_fields.ts";

/** What `feed fetch` downloads when no names are given. */
export type FeedFetchPolicy = "none" | "security" | "all";

/** The resolved `feed` section. */
export interface FeedConfig {
  /** Where the feed is: an `http(s)://…/` URL ending in `/`, or an absolute folder path. */
  readonly url: string;
  /** The channel this host follows (default `stable`). */
  readonly channel: string;
  /** Keys that may sign the index, as `trust.keys` writes them; empty: `trust.keys` sign it. */
  readonly keys: readonly string[];
  /** What `feed fetch` downloads without names: `none`, `security` (default) or `all`. */
  readonly fetch: FeedFetchPolicy;
  /** Names never looked up: their entries are dropped before anything is judged or fetched. */
  readonly block: readonly string[];
  /** Names shown but never fetched, and not counted as available updates. */
  readonly hold: readonly string[];
  /** Seconds one request may take, headers and body (default 60; a bundle adds its size at the minimum rate). */
  readonly timeoutSeconds: number;
  /** `check` warns `FEED_STALE` when the last accepted check is older than this (default 30). */
  readonly maxAgeDays: number;
  /** Days an index stays valid after its `expires`, for seldom-updated mirrors (default 0). */
  readonly minValidDays: number;
  /** `untrusted`: expiry is not judged (the `seq` rule still is), for hosts without a trustworthy clock. */
  readonly clock: "trusted" | "untrusted";
}

/** The feed's limits, under `limits` in lockstep.json beside the bundle limits. */
export interface FeedLimits {
  /** Largest feed index (`feed.json`), in bytes as received (default 1 MiB). */
  readonly feedIndexBytes: number;
  /** Largest feed signature (`feed.sig`), in bytes (default 4 KiB). */
  readonly feedSignatureBytes: number;
  /** Most entries in one feed index (default 10,000). */
  readonly feedEntries: number;
  /** Longest `notes` of one feed entry, in UTF-8 bytes (default 4 KiB). */
  readonly feedNotesBytes: number;
  /** Slowest a feed download may be, in bytes a second over each 10 s (default 1 KiB/s). */
  readonly feedMinBytesPerSecond: number;
}

const KEYS = [
  "url",
  "channel",
  "keys",
  "fetch",
  "block",
  "hold",
  "timeoutSeconds",
  "maxAgeDays",
  "minValidDays",
  "clock",
];
/** A channel names a file (`feed-<channel>.json`): a short lower-case label. */
export const CHANNEL = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Reads the `feed` section (`null` when there is none). `keyList` validates
 * a list of `<key id>:<base64>` entries as `trust.keys` is validated;
 * `trustKeys` is how many `trust.keys` there are, since an empty `feed.keys`
 * falls back to them.
 */
export function readFeedConfig(
  value: unknown,
  dir: string,
  fail: Fail,
  keys: { list: (value: unknown, where: string) => string[]; trustKeys: number },
): FeedConfig | null {
  if (value === undefined) return null;
  const feed = object(value, "feed", fail);
  onlyKeys(feed, "feed", KEYS, fail);
  const url = feedLocation(
    string(feed.url, "feed.url", fail),
    dir,
    (what) => fail(`"feed.url" ${what}`),
  );
  const channel = feed.channel === undefined
    ? "stable"
    : string(feed.channel, "feed.channel", fail);
  if (!CHANNEL.test(channel)) {
    fail(`"feed.channel" must be lower-case letters, digits, ".", "_" or "-", not "${channel}"`);
  }
  const feedKeys = feed.keys === undefined ? [] : keys.list(feed.keys, "feed.keys");
  if (feedKeys.length === 0 && keys.trustKeys === 0) {
    fail(
      `"feed" needs a key to verify its index: list the feed key in "feed.keys" (or "trust.keys")`,
    );
  }
  return {
    url,
    channel,
    keys: feedKeys,
    fetch: oneOf(feed.fetch, "feed.fetch", ["none", "security", "all"], "security", fail),
    block: strings(feed.block ?? [], "feed.block", fail),
    hold: strings(feed.hold ?? [], "feed.hold", fail),
    timeoutSeconds: number(feed.timeoutSeconds, "feed.timeoutSeconds", 1, 60, fail),
    maxAgeDays: number(feed.maxAgeDays, "feed.maxAgeDays", 1, 30, fail),
    minValidDays: number(feed.minValidDays, "feed.minValidDays", 0, 0, fail),
    clock: oneOf(feed.clock, "feed.clock", ["trusted", "untrusted"], "trusted", fail),
  };
}

/**
 * A feed's location as lockstep uses it: an `http://` or `https://` URL
 * (no credentials, query or fragment; a trailing `/` added), a `file:` URL
 * as its folder, or a folder path resolved against `dir`. `fail` receives
 * what is wrong, worded to follow the value's name.
 */
export function feedLocation(text: string, dir: string, fail: (what: string) => never): string {
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail(`is not a valid URL: "${text}"`);
    }
    if (url.username !== "" || url.password !== "") {
      fail("must not hold credentials: the feed is public, its signature is what is trusted");
    }
    if (url.search !== "" || url.hash !== "") fail("must not have a query or a fragment");
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url.href;
  }
  if (/^file:/i.test(text)) return fileURLToPath(text);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    fail(`must be an http(s):// URL or a folder, not "${text}"`);
  }
  return isAbsolute(text) ? resolve(text) : resolve(dir, text);
}

/** True when a feed location is a URL rather than a folder. */
export function isHttp(location: string): boolean {
  return /^https?:\/\//.test(location);
}

function oneOf<T extends string>(
  value: unknown,
  key: string,
  choices: readonly T[],
  fallback: T,
  fail: Fail,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !choices.includes(value as T)) {
    return fail(`"${key}" must be ${choices.map((c) => `"${c}"`).join(", ")}`);
  }
  return value as T;
}

function number(value: unknown, key: string, min: number, fallback: number, fail: Fail): number {
  return value === undefined ? fallback : integer(value, key, min, fail);
}
