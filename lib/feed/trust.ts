/**
 * The trust rules an index must pass before anything of it is saved or
 * shown, as pure functions over (bytes, signature, saved record, clock):
 *
 * - signed by a trusted feed key (`feed.keys`, else `trust.keys`) over its
 *   exact bytes (`FEED_SIGNATURE_INVALID`);
 * - for this app (`FEED_WRONG_APP`) and the channel asked for (`FEED_INVALID`);
 * - `seq` never below the last one accepted on that channel, and an equal
 *   `seq` only with the same bytes (`FEED_ROLLBACK`);
 * - not expired, judged at the later of this host's clock and the highest
 *   `issued` ever accepted (the clock floor), with `feed.minValidDays` of
 *   grace (`FEED_EXPIRED`); an index issued more than an hour after this
 *   host's clock says that clock (or the publisher's) is wrong
 *   (`CLOCK_SUSPECT`). `feed.clock: "untrusted"` skips both time rules, never
 *   the `seq` rule.
 *
 * @module
 */
import type { FeedChannelState, FeedState } from "../state.ts";
import { duplicateKey } from "../strict_json.ts";
import { verify } from "../bundles/signature.ts";
import type { FeedConfig } from "./config.ts";
import type { FeedIndex } from "./index.ts";
import { refuseFeed } from "./refuse.ts";

/** How far an index's `issued` may be ahead of this host's clock. */
export const FUTURE_TOLERANCE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The keys that may sign the index: `feed.keys`, else `trust.keys`. */
export function feedKeys(
  config: { trust: { keys: readonly string[] } },
  feed: FeedConfig,
): readonly string[] {
  return feed.keys.length > 0 ? feed.keys : config.trust.keys;
}

/**
 * Checks the signature file's bytes over the index's exact bytes; returns
 * the key id that signed it.
 *
 * @throws {LockstepError} `FEED_SIGNATURE_INVALID`: missing, malformed, a key
 * not trusted (or no longer), or a signature over other bytes.
 */
export async function verifyIndexSignature(
  bytes: Uint8Array<ArrayBuffer>,
  signature: Uint8Array | undefined,
  keys: readonly string[],
  where: string,
): Promise<string> {
  const fail = (reason: string, data: Record<string, unknown> = {}): never =>
    refuseFeed("FEED_SIGNATURE_INVALID", where, reason, data);
  if (signature === undefined) {
    return fail(
      "its signature file is missing (a half-copied mirror?); every index must be signed",
    );
  }
  let key: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(signature);
    const twice = duplicateKey(text);
    if (twice !== undefined) fail(`its signature file has the key ${twice} twice`);
    key = (JSON.parse(text) as { key?: unknown }).key;
  } catch (error) {
    if (!(error instanceof SyntaxError || error instanceof TypeError)) throw error;
    return fail("its signature file is not JSON");
  }
  const ids = keys.map((entry) => entry.slice(0, entry.indexOf(":")));
  if (typeof key === "string" && !ids.includes(key)) {
    fail(
      `it is signed by key "${key}", which this host does not trust (trusted: ${
        ids.map((id) => `"${id}"`).join(", ")
      }); a key removed from feed.keys no longer signs anything`,
      { key },
    );
  }
  const status = await verify(bytes, signature, keys);
  if (status.state !== "valid") {
    const reason = status.state === "unsigned" ? "no signature" : status.reason;
    return fail(
      `its signature is not valid (${reason.replace("bundle.sig", "the signature file")})`,
    );
  }
  return status.key;
}

/** The judgement of time: the clock, the floor and the reference time. */
export interface Clock {
  /** This host's clock, ISO 8601. */
  readonly now: string;
  /** The highest `issued` ever accepted, or `null`. */
  readonly floor: string | null;
  /** When expiry is judged: the later of the two. */
  readonly reference: string;
  /** This host's clock is behind the floor: it is wrong, or was set back. */
  readonly behind: boolean;
}

/** The clock as the feed judges time, from this host's clock and the saved floor. */
export function clockOf(now: Date, saved: FeedState | undefined): Clock {
  const floor = saved?.clockFloor ?? null;
  const behind = floor !== null && Date.parse(floor) > now.getTime() + FUTURE_TOLERANCE_MS;
  const reference = floor !== null && Date.parse(floor) > now.getTime() ? floor : now.toISOString();
  return { now: now.toISOString(), floor, reference, behind };
}

/** When an index stops being valid on this host: its `expires` plus `feed.minValidDays`. */
export function validUntil(index: Pick<FeedIndex, "expires">, feed: FeedConfig): number {
  return Date.parse(index.expires) + feed.minValidDays * DAY_MS;
}

/** Inputs to {@link acceptIndex}. */
export interface Acceptance {
  /** The configured app. */
  readonly app: string;
  /** The feed settings. */
  readonly feed: FeedConfig;
  /** The channel asked for. */
  readonly channel: string;
  /** What state.json holds for the feed. */
  readonly saved: FeedState | undefined;
  /** This host's clock. */
  readonly now: Date;
  /** Accept an index that has expired (the operator's explicit choice). */
  readonly allowExpired: boolean;
  /** Where the index came from. */
  readonly source: string;
}

/**
 * Judges a parsed, signed index by the rules above and returns the feed
 * record to save: this channel's entry replaced, the clock floor raised.
 *
 * @throws {LockstepError} `FEED_WRONG_APP`, `FEED_INVALID` (another channel),
 * `FEED_ROLLBACK`, `FEED_EXPIRED`, `CLOCK_SUSPECT`.
 */
export function acceptIndex(
  index: FeedIndex,
  signed: { sha256: string; key: string; where: string },
  rules: Acceptance,
): { record: FeedChannelState; state: FeedState; expired: boolean } {
  const { where } = signed;
  if (index.app !== rules.app) {
    refuseFeed(
      "FEED_WRONG_APP",
      where,
      `it is the feed of app "${index.app}", this is "${rules.app}"`,
    );
  }
  if (index.channel !== rules.channel) {
    refuseFeed("FEED_INVALID", where, `it is channel "${index.channel}", not "${rules.channel}"`, {
      channel: index.channel,
    });
  }
  const last = rules.saved?.channels[rules.channel];
  refuseRollback(index, signed, last);
  const expired = judgeTime(index, rules, where);
  const record: FeedChannelState = {
    seq: index.seq,
    sha256: signed.sha256,
    issued: index.issued,
    expires: index.expires,
    key: signed.key,
    checked: rules.now.toISOString(),
    source: rules.source,
    ...(expired ? { expiredAccepted: true } : {}),
  };
  const floor = rules.saved?.clockFloor ?? null;
  const clockFloor = floor !== null && Date.parse(floor) >= Date.parse(index.issued)
    ? floor
    : index.issued;
  const channels = { ...rules.saved?.channels, [rules.channel]: record };
  return { record, state: { channels, clockFloor }, expired };
}

function refuseRollback(
  index: FeedIndex,
  signed: { sha256: string; where: string },
  last: FeedChannelState | undefined,
): void {
  if (last === undefined) return;
  const data = { seq: index.seq, accepted: last.seq };
  if (index.seq < last.seq) {
    refuseFeed(
      "FEED_ROLLBACK",
      signed.where,
      `its seq ${index.seq} is below ${last.seq}, the last one accepted on this channel (an old ` +
        `index replayed?)`,
      data,
    );
  }
  if (index.seq === last.seq && signed.sha256 !== last.sha256) {
    refuseFeed(
      "FEED_ROLLBACK",
      signed.where,
      `its seq ${index.seq} is the one accepted last, but its bytes differ (the publisher must ` +
        `raise seq for every new index)`,
      data,
    );
  }
}

/** Returns whether the index has expired (only ever true when that was allowed). */
function judgeTime(index: FeedIndex, rules: Acceptance, where: string): boolean {
  if (rules.feed.clock === "untrusted") return false;
  const issued = Date.parse(index.issued);
  if (issued > rules.now.getTime() + FUTURE_TOLERANCE_MS) {
    refuseFeed(
      "CLOCK_SUSPECT",
      where,
      `it was issued at ${index.issued}, after this host's clock (${rules.now.toISOString()}): ` +
        `this clock or the publisher's is wrong; set the clock right (or feed.clock: "untrusted")`,
      { issued: index.issued, now: rules.now.toISOString() },
    );
  }
  const clock = clockOf(rules.now, rules.saved);
  const until = validUntil(index, rules.feed);
  if (Date.parse(clock.reference) <= until) return false;
  if (rules.allowExpired) return true;
  const by = clock.reference === clock.now
    ? `this host's clock (${clock.now})`
    : `the newest index this host accepted (issued ${clock.floor}; this host's clock says ` +
      `${clock.now}, which is behind it)`;
  refuseFeed(
    "FEED_EXPIRED",
    where,
    `it expired at ${index.expires}${
      rules.feed.minValidDays > 0 ? ` (plus ${rules.feed.minValidDays} day(s))` : ""
    }, judged by ${by}; ask the publisher for a fresh one, or look with --allow-expired`,
    { expires: index.expires, reference: clock.reference },
  );
}
