/**
 * What `state.json` records of each pack (`packs.<name>`): the installed
 * version (`null` once removed), the high-water mark (the highest version
 * ever installed: older bundles are replays), its source, whether it is
 * enabled, its requirements, and its history.
 *
 * @module
 */

/** One event in a pack's history. */
export interface PackEvent {
  /** What happened. */
  readonly action: "install" | "remove" | "purge" | "enable" | "disable";
  /** The pack's version at the time. */
  readonly version: string;
  /** When (ISO 8601, UTC). */
  readonly at: string;
  /** The bundle's file name, for installs. */
  readonly bundle?: string;
}

/** A pack as state.json records it. */
export interface PackState {
  /** The installed version, or `null` after `pack remove` (its ledger rows stay known). */
  readonly version: string | null;
  /** The highest version ever installed: a bundle below it is refused. */
  readonly highWater: string;
  /** The feed that may update it, or `local`. */
  readonly source: string;
  /** False after `pack disable` (and after `pack remove`): its migrations do not count. */
  readonly enabled: boolean;
  /** The installed version's `requires` (`app`, `pack:<name>`). */
  readonly requires: Readonly<Record<string, string>>;
  /** Installs, removals, purges, enables and disables, oldest first. */
  readonly history: readonly PackEvent[];
}

/** The `packs` of a parsed state.json, keeping only well-formed entries. */
export function parsePackStates(value: unknown): Record<string, PackState> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const out: Record<string, PackState> = {};
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    if (typeof raw !== "object" || raw === null) continue;
    const entry = raw as Record<string, unknown>;
    if (typeof entry.highWater !== "string" || typeof entry.source !== "string") continue;
    out[name] = {
      version: typeof entry.version === "string" ? entry.version : null,
      highWater: entry.highWater,
      source: entry.source,
      enabled: entry.enabled === true,
      requires: stringsOf(entry.requires),
      history: Array.isArray(entry.history) ? entry.history as PackEvent[] : [],
    };
  }
  return out;
}

function stringsOf(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] =>
      typeof entry[1] === "string"
    ),
  );
}
