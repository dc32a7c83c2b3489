/**
 * `updates/state.json`: the installed code version, the high-water mark (the
 * highest version ever installed, so an old signed bundle cannot be
 * replayed), the install history, and each pack's own (`packs`). Written
 * atomically.
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
    return {
      installed: typeof raw.installed === "string" ? raw.installed : null,
      highWater: typeof raw.highWater === "string" ? raw.highWater : null,
      history: Array.isArray(raw.history) ? raw.history : [],
      requires: requiresOf(raw.requires),
      ...(typeof raw.hostId === "string" ? { hostId: raw.hostId } : {}),
      packs: parsePackStates(raw.packs),
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

/** Replaces state.json atomically. */
export async function writeState(config: Pick<Config, "updates">, state: State): Promise<void> {
  await writeFileAtomic(
    statePath(config),
    new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"),
  );
}
