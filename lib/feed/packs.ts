/**
 * The seam between the feed and packs (issue 13): the installed packs as the
 * feed needs them, each with the `source` that names the feed allowed to
 * update it (`"local"`: none). It reads `state.json`'s `packs.<name>`
 * records as DESIGN.md "Packs" defines them (version, high-water mark,
 * source), and finds none until packs are installed; and how a bundle's own
 * manifest names its pack (`"pack": "<name>"`). When `lib/packs/` lands,
 * these bodies become calls to its own readers; nothing else in `lib/feed/`
 * knows how packs are stored.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Manifest } from "../bundles/manifest.ts";
import { statePath } from "../state.ts";
import { LockstepError } from "../errors.ts";

/** An installed pack, as the feed judges its entries. */
export interface InstalledPack {
  /** The pack's name. */
  readonly name: string;
  /** Its installed version. */
  readonly version: string;
  /** The highest version ever installed (replays below it are refused), or `null`. */
  readonly highWater: string | null;
  /** The feed that may update it (a feed's `app`), or `"local"`, which no feed matches. */
  readonly source: string;
}

/** The `source` no feed ever matches. */
export const LOCAL_SOURCE = "local";

/**
 * Every installed pack with its source, from state.json (none before packs
 * are installed).
 *
 * @throws {LockstepError} `FILE_INVALID` when state.json is not JSON.
 */
export async function installedPacks(config: Pick<Config, "updates">): Promise<InstalledPack[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(statePath(config));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  let packs: unknown;
  try {
    packs = (JSON.parse(text) as { packs?: unknown }).packs;
  } catch (error) {
    throw new LockstepError(
      "FILE_INVALID",
      `Cannot read "${statePath(config)}": ${(error as Error).message}. Restore it from a backup.`,
      { cause: error, data: { path: statePath(config) } },
    );
  }
  return packsOf(packs);
}

/** The well-formed records of a `packs` object (name → { version, highWater, source }). */
export function packsOf(packs: unknown): InstalledPack[] {
  if (typeof packs !== "object" || packs === null || Array.isArray(packs)) return [];
  const out: InstalledPack[] = [];
  for (const [name, raw] of Object.entries(packs)) {
    const pack = raw as Record<string, unknown> | null;
    if (typeof pack?.version !== "string") continue;
    out.push({
      name,
      version: pack.version,
      highWater: typeof pack.highWater === "string" ? pack.highWater : null,
      // A pack without a recorded source is never matched by a feed.
      source: typeof pack.source === "string" ? pack.source : LOCAL_SOURCE,
    });
  }
  return out;
}

/** True when a pack may be updated by the feed of `feedApp`: its source names it, and is not local. */
export function updatableBy(pack: InstalledPack, feedApp: string): boolean {
  return pack.source !== LOCAL_SOURCE && pack.source === feedApp;
}

/**
 * The kind and name a bundle's own manifest gives: a pack bundle names its
 * pack in `"pack"` (DESIGN.md "Packs"), an app bundle its app.
 */
export function identityOf(manifest: Manifest): { kind: "app" | "pack"; name: string } {
  const pack = (manifest as Manifest & { pack?: unknown }).pack;
  return typeof pack === "string"
    ? { kind: "pack", name: pack }
    : { kind: "app", name: manifest.app };
}
