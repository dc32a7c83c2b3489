/**
 * The feed as this host accepted it last: the index and its signature kept
 * byte for byte under `updates/feed/` (`feed-<channel>.json` and `.sig`,
 * each written atomically), and the record in `state.json` (seq, SHA-256,
 * issued, expires, key, when it was checked, where it came from, and the
 * clock floor). `check`, `feed status` and `feed fetch` read it offline;
 * reading it again verifies the bytes against the record and the signature
 * against today's keys, so a key removed from `feed.keys` stops vouching for
 * the saved index too.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { isLockstepError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import {
  type FeedChannelState,
  type FeedState,
  readState,
  statePath,
  writeState,
} from "../state.ts";
import type { FeedConfig } from "./config.ts";
import { type FeedIndex, parseIndex } from "./index.ts";
import { feedKeys, verifyIndexSignature } from "./trust.ts";
import { sha256Hex } from "../sha256.ts";

/** The folder under `updates/` holding the accepted indexes. */
export function feedFolder(config: Pick<Config, "updates">): string {
  return join(config.updates, "feed");
}

/** The file names of a channel's index and signature, in a feed and under `updates/feed/`. */
export function indexNames(channel: string): { index: string; signature: string } {
  return { index: `feed-${channel}.json`, signature: `feed-${channel}.sig` };
}

/** The saved index of a channel, verified again. */
export interface SavedFeed {
  /** The channel. */
  readonly channel: string;
  /** Its record in state.json. */
  readonly record: FeedChannelState;
  /** The index. */
  readonly index: FeedIndex;
  /** The clock floor. */
  readonly clockFloor: string | null;
}

/** What {@link readSaved} found. */
export type SavedRead =
  /** Nothing accepted yet on this channel. */
  | { readonly state: "none"; readonly feed: FeedState | undefined }
  /** The saved index, verified. */
  | { readonly state: "ok"; readonly saved: SavedFeed; readonly feed: FeedState }
  /** A record whose files are gone, changed, or no longer signed by a trusted key. */
  | {
    readonly state: "damaged";
    readonly record: FeedChannelState;
    readonly reason: string;
    readonly feed: FeedState;
  };

/** Keeps an accepted index and its signature, then its record in state.json. */
export async function saveIndex(
  config: Config,
  channel: string,
  files: { bytes: Uint8Array; signature: Uint8Array },
  feed: FeedState,
): Promise<void> {
  const names = indexNames(channel);
  await writeFileAtomic(join(feedFolder(config), names.index), files.bytes);
  await writeFileAtomic(join(feedFolder(config), names.signature), files.signature);
  // Every field of state.json is kept, those this lockstep does not read (packs) included.
  const state = await readState(config);
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(await Deno.readTextFile(statePath(config)));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await writeState(config, { ...raw, ...state, feed });
}

/**
 * Reads the saved index of `channel` and verifies it again (bytes against
 * the record, signature against today's keys).
 *
 * @throws {LockstepError} `FILE_INVALID` (a state.json that is not lockstep's).
 */
export async function readSaved(
  config: Config,
  feedConfig: FeedConfig,
  channel: string,
): Promise<SavedRead> {
  const feed = (await readState(config)).feed;
  const record = feed?.channels[channel];
  if (feed === undefined || record === undefined) return { state: "none", feed };
  const names = indexNames(channel);
  const damaged = (reason: string): SavedRead => ({ state: "damaged", record, reason, feed });
  let bytes: Uint8Array<ArrayBuffer>;
  let signature: Uint8Array;
  try {
    bytes = await Deno.readFile(join(feedFolder(config), names.index));
    signature = await Deno.readFile(join(feedFolder(config), names.signature));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return damaged(`the saved index under ${feedFolder(config)} is missing`);
  }
  if ((await sha256Hex(bytes)) !== record.sha256) {
    return damaged(`the saved index under ${feedFolder(config)} is not the one accepted`);
  }
  try {
    await verifyIndexSignature(bytes, signature, feedKeys(config, feedConfig), names.index);
    const index = parseIndex(bytes, config.limits, names.index);
    return { state: "ok", saved: { channel, record, index, clockFloor: feed.clockFloor }, feed };
  } catch (error) {
    if (!isLockstepError(error)) throw error;
    return damaged(`the saved index no longer passes: ${error.data.reason ?? error.message}`);
  }
}
