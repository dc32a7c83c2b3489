/**
 * What an accepted index offers this host, as pure data: every entry
 * (blocked names dropped first, never looked at) judged against the
 * installed app and packs, with why it does or does not apply. App and pack
 * releases form a chain per name in version order, as `pending/` does: an
 * entry applies from the version the ones before it would install. A pack
 * entry is matched only to an installed pack whose `source` names this feed
 * (never `local`), so a feed cannot take over a pack of the same name from
 * elsewhere (WordPress's "plugin confusion", CVE-2021-44223).
 *
 * @module
 */
import { compare, satisfies } from "../deps/semver.ts";
import type { ErrorCode } from "../errors.ts";
import type { FeedEntry, FeedIndex, FeedSecurity } from "./index.ts";
import { type InstalledPack, LOCAL_SOURCE, updatableBy } from "./packs.ts";

/** Where an entry stands on this host. */
export type EntryState =
  /** It applies: `feed fetch` may download it, `update` would install it. */
  | "update"
  /** It would apply, but `feed.hold` names it: shown, never fetched. */
  | "held"
  /** It is the installed version. */
  | "installed"
  /** It is older than the installed version. */
  | "older"
  /** Above the installed version but not above the highest ever installed: a replay. */
  | "below-high-water"
  /** Its `upgradesFrom` or `requires` are not met. */
  | "not-applicable"
  /** A pack this host does not have (`pack install NAME` adds it). */
  | "not-installed"
  /** A pack of that name is installed from elsewhere (`local` or another feed): never matched. */
  | "other-source";

/** An entry of the index as it stands here. */
export interface EntryStatus {
  /** `app` or `pack`. */
  readonly kind: "app" | "pack";
  /** The app's or pack's name. */
  readonly name: string;
  /** The version installed here, or `null`. */
  readonly installed: string | null;
  /** The version offered. */
  readonly offered: string;
  /** Where it stands. */
  readonly state: EntryState;
  /** Why it does not apply, for people; `null` when it applies. */
  readonly reason: string | null;
  /** The code `feed fetch NAME` refuses it with, when it does not apply. */
  readonly code: ErrorCode | null;
  /** Its security flag, and whether it applies to the installed version. */
  readonly security: (FeedSecurity & { readonly applies: boolean }) | null;
  /** The entry as the index gives it. */
  readonly entry: FeedEntry;
}

/** What is installed here. */
export interface InstalledState {
  /** The app's version (the version file), or `null` before the first install. */
  readonly version: string | null;
  /** The highest app version ever installed, or `null`. */
  readonly highWater: string | null;
  /** The installed packs with their sources. */
  readonly packs: readonly InstalledPack[];
}

/** The operator's switches and this runtime. */
export interface JudgeRules {
  /** Names never looked up. */
  readonly block: readonly string[];
  /** Names shown but never fetched. */
  readonly hold: readonly string[];
  /** This runtime's versions, for `requires`. */
  readonly versions: { readonly deno: string; readonly lockstep: string };
}

/** Every entry of `index` not blocked, judged for this host, in the index's order. */
export function judgeEntries(
  index: FeedIndex,
  installed: InstalledState,
  rules: JudgeRules,
): EntryStatus[] {
  const looked = index.entries.filter((entry) => !rules.block.includes(entry.name));
  const byName = Map.groupBy(looked, (entry) => `${entry.kind}:${entry.name}`);
  const judged = new Map<FeedEntry, EntryStatus>();
  for (const entries of byName.values()) {
    for (const status of judgeLine(entries, index.app, installed, rules)) {
      judged.set(status.entry, status);
    }
  }
  return looked.map((entry) => judged.get(entry)!);
}

/** The releases of one app or pack, in version order, as a chain from what is installed. */
function judgeLine(
  entries: readonly FeedEntry[],
  feedApp: string,
  installed: InstalledState,
  rules: JudgeRules,
): EntryStatus[] {
  const first = entries[0]!;
  const pack = installed.packs.find((p) => p.name === first.name);
  const mine = first.kind === "app" ? installed : pack;
  const current = mine?.version ?? null;
  const high = mine?.highWater ?? null;
  let at = current;
  const out: EntryStatus[] = [];
  const sorted = [...entries].sort((a, b) => compare(a.version, b.version));
  for (const entry of sorted) {
    const status = (state: EntryState, reason: string | null, code: ErrorCode | null) =>
      out.push({
        kind: entry.kind,
        name: entry.name,
        installed: current,
        offered: entry.version,
        state,
        reason,
        code,
        security: entry.security ? { ...entry.security, applies: flagged(entry, current) } : null,
        entry,
      });
    if (entry.kind === "pack" && pack === undefined) {
      status("not-installed", `pack "${entry.name}" is not installed here`, "FEED_ENTRY_REFUSED");
      continue;
    }
    if (entry.kind === "pack" && !updatableBy(pack!, feedApp)) {
      status(
        "other-source",
        `the installed pack "${entry.name}" comes from ${
          pack!.source === LOCAL_SOURCE ? 'this host (source "local")' : `"${pack!.source}"`
        }, not this feed: it is never matched by name`,
        "FEED_ENTRY_REFUSED",
      );
      continue;
    }
    const refusal = refusalOf(entry, { current, high, at }, installed, rules);
    if (refusal !== undefined) {
      status(refusal.state, refusal.reason, refusal.code);
      continue;
    }
    at = entry.version;
    if (rules.hold.includes(entry.name)) {
      status(
        "held",
        `"${entry.name}" is held (feed.hold): shown, never fetched`,
        "FEED_ENTRY_REFUSED",
      );
    } else status("update", null, null);
  }
  return out;
}

function refusalOf(
  entry: FeedEntry,
  versions: { current: string | null; high: string | null; at: string | null },
  installed: InstalledState,
  rules: JudgeRules,
): { state: EntryState; reason: string; code: ErrorCode } | undefined {
  const { current, high, at } = versions;
  if (current !== null && compare(entry.version, current) <= 0) {
    const same = compare(entry.version, current) === 0;
    return {
      state: same ? "installed" : "older",
      reason: same ? `${current} is installed` : `${current} is installed, a later version`,
      code: "BUNDLE_VERSION_REFUSED",
    };
  }
  if (high !== null && compare(entry.version, high) <= 0) {
    return {
      state: "below-high-water",
      reason: `${high} was installed before: ${entry.version} is not above the highest version ` +
        `ever installed (downgrades and replays are refused)`,
      code: "BUNDLE_VERSION_REFUSED",
    };
  }
  if (entry.upgradesFrom !== undefined) {
    const from = at ?? "0.0.0";
    if (!satisfies(from, entry.upgradesFrom, { includePrerelease: true })) {
      return {
        state: "not-applicable",
        reason: `it upgrades from ${entry.upgradesFrom}, and ${
          at ?? "no version"
        } would be installed`,
        code: "BUNDLE_NOT_APPLICABLE",
      };
    }
  }
  const unmet = unmetRequires(entry, installed, rules);
  if (unmet.length === 0) return undefined;
  return {
    state: "not-applicable",
    reason: `it requires ${unmet.join(", ")}`,
    code: "BUNDLE_REQUIREMENT_UNMET",
  };
}

function unmetRequires(entry: FeedEntry, installed: InstalledState, rules: JudgeRules): string[] {
  const unmet: string[] = [];
  for (const [name, range] of Object.entries(entry.requires)) {
    const have = name === "deno" || name === "lockstep"
      ? rules.versions[name]
      : name === "app"
      ? installed.version
      : installed.packs.find((p) => `pack:${p.name}` === name)?.version ?? null;
    if (have === null || !satisfies(have, range, { includePrerelease: true })) {
      unmet.push(`${name} ${range} (have ${have ?? "none"})`);
    }
  }
  return unmet;
}

/** The entry's security flag applies to `current`: it is below `below` (default: the entry's version). */
function flagged(entry: FeedEntry, current: string | null): boolean {
  if (entry.security === undefined || current === null) return false;
  return compare(current, entry.security.below ?? entry.version) < 0 &&
    compare(current, entry.version) < 0;
}

/**
 * `feed check`'s exit code for these statuses: 8 when a critical security
 * release applies to an installed version, 7 when any update applies (held
 * and blocked names excluded), else 0.
 */
export function feedExitCode(statuses: readonly EntryStatus[]): 0 | 7 | 8 {
  const updates = statuses.filter((s) => s.state === "update");
  if (updates.some((s) => s.security?.level === "critical" && s.security.applies)) return 8;
  return updates.length > 0 ? 7 : 0;
}
