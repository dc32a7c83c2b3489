/**
 * `updates/state.json`: the installed code version, the high-water mark (the
 * highest version ever installed, so an old signed bundle cannot be
 * replayed), the install history, and each pack's own (`packs`). Written
 * atomically.
 * replayed), the install history, and what the update feed accepted last
 * (its own high-water marks: `seq` per channel and the clock floor, which
 * never go back, whoever writes the file). Written atomically.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config.ts";
import { LockstepError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import { type PackState, parsePackStates } from "./packs/pack_state.ts";

/** One install (or restore) of the code, in state.json's history. */
export interface Installed {
  /** The version installed (or restored). */
  readonly version: string;
  /** When (ISO 8601, UTC). */
  readonly at: string;
  /** The bundle's file name; for a restore, the backup's id. */
  readonly bundle: string;
  /** `restore` for a restore; absent for an install. */
  readonly action?: "restore";
}

/** The contents of state.json. */
export interface State {
  /** The version installed by lockstep last, or `null`. */
  readonly installed: string | null;
  /** The highest version ever installed: bundles at or below it are refused. */
  readonly highWater: string | null;
  /** Installs and restores, oldest first. */
  readonly history: readonly Installed[];
  /** `requires` of the version installed last (`check` verifies it on every start). */
  readonly requires: Readonly<Record<string, string>>;
  /** This host's id in a fleet's registry, generated once (unless `fleet.host` names it). */
  readonly hostId?: string;
  /** Each pack lockstep installed (removed ones too: their ledger rows stay known), by name. */
  readonly packs: Readonly<Record<string, PackState>>;
  /** What the update feed accepted last; absent until a feed index was accepted. */
  readonly feed?: FeedState;
}

/** The feed index accepted last on one channel. */
export interface FeedChannelState {
  /** Its sequence number: a lower one is a rollback, an equal one must be the same bytes. */
  readonly seq: number;
  /** Hex SHA-256 of the index bytes. */
  readonly sha256: string;
  /** When the publisher issued it. */
  readonly issued: string;
  /** When it expires. */
  readonly expires: string;
  /** The key id that signed it. */
  readonly key: string;
  /** When this host accepted it (its own clock). */
  readonly checked: string;
  /** Where it came from: the feed URL or folder. */
  readonly source: string;
  /** It had expired and was accepted with `--allow-expired`. */
  readonly expiredAccepted?: boolean;
}

/** The feed's record in state.json. */
export interface FeedState {
  /** The index accepted last, per channel. */
  readonly channels: Readonly<Record<string, FeedChannelState>>;
  /** The highest `issued` ever accepted: expiry is never judged at an earlier time. */
  readonly clockFloor: string | null;
}

const EMPTY: State = { installed: null, highWater: null, history: [], requires: {}, packs: {} };

/** The path of state.json. */
export function statePath(config: Pick<Config, "updates">): string {
  return join(config.updates, "state.json");
}

/**
 * Reads state.json; an absent file is an empty state.
 *
 * @throws {LockstepError} `FILE_INVALID` when it is not lockstep's state.
 */
export async function readState(config: Pick<Config, "updates">): Promise<State> {
  let text: string;
  try {
    text = await Deno.readTextFile(statePath(config));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return EMPTY;
    throw error;
  }
  try {
    const raw = JSON.parse(text);
    const feed = feedOf(raw.feed);
    return {
      installed: typeof raw.installed === "string" ? raw.installed : null,
      highWater: typeof raw.highWater === "string" ? raw.highWater : null,
      history: Array.isArray(raw.history) ? raw.history : [],
      requires: requiresOf(raw.requires),
      ...(typeof raw.hostId === "string" ? { hostId: raw.hostId } : {}),
      packs: parsePackStates(raw.packs),
      ...(feed === undefined ? {} : { feed }),
    };
  } catch (error) {
    throw new LockstepError(
      "FILE_INVALID",
      `Cannot read "${statePath(config)}": ${(error as Error).message}. Restore it from a backup.`,
      { cause: error, data: { path: statePath(config) } },
    );
  }
}

function requiresOf(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] =>
      typeof entry[1] === "string"
    ),
  );
}

function feedOf(value: unknown): FeedState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { channels, clockFloor } = value as Record<string, unknown>;
  const kept: Record<string, FeedChannelState> = {};
  for (const [name, record] of Object.entries(channels ?? {})) {
    const r = record as Partial<FeedChannelState> | null;
    if (typeof r?.seq === "number" && typeof r.sha256 === "string") {
      kept[name] = r as FeedChannelState;
    }
  }
  return { channels: kept, clockFloor: typeof clockFloor === "string" ? clockFloor : null };
}

/**
 * The feed record that never goes back: per channel the higher `seq` (the
 * later check when equal), and the later clock floor. A restore or an undo
 * writes an older state.json, and an install writes one without the feed:
 * neither may reopen a rollback.
 */
function newerFeed(a: FeedState | undefined, b: FeedState | undefined): FeedState | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  const channels: Record<string, FeedChannelState> = { ...a.channels };
  for (const [name, record] of Object.entries(b.channels)) {
    const other = channels[name];
    const newer = other === undefined || record.seq > other.seq ||
      (record.seq === other.seq && record.checked > other.checked);
    if (newer) channels[name] = record;
  }
  const floors = [a.clockFloor, b.clockFloor].filter((f): f is string => f !== null).sort();
  return { channels, clockFloor: floors.at(-1) ?? null };
}

/** Replaces state.json atomically; the feed record on disk is kept where it is newer. */
export async function writeState(config: Pick<Config, "updates">, state: State): Promise<void> {
  let onDisk: FeedState | undefined;
  try {
    onDisk = (await readState(config)).feed;
  } catch (error) {
    // A damaged state.json is being replaced: nothing of it to keep.
    if (!(error instanceof LockstepError)) throw error;
  }
  const feed = newerFeed(onDisk, state.feed);
  await writeFileAtomic(
    statePath(config),
    new TextEncoder().encode(
      JSON.stringify(feed === undefined ? state : { ...state, feed }, null, 2) + "\n",
    ),
  );
}
