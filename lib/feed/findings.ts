/**
 * The feed's states as `check` reports them, each worded once (the problem
 * catalogue's way, see `problems.ts`): a security release that applies, a
 * saved feed that is missing, old, expired or damaged, and a clock behind
 * the newest index this host accepted. All are warnings: the feed never
 * changes whether the application may start (no remote kill switch), and
 * `check` reads only what `feed check` saved, never the network.
 *
 * @module
 */
import type { Finding } from "../problems.ts";
import type { EntryStatus } from "./judge.ts";

/** Security releases that apply to what is installed. */
export function securityUpdateAvailable(
  statuses: readonly EntryStatus[],
): Finding<"SECURITY_UPDATE_AVAILABLE"> {
  const releases = statuses.map((s) =>
    `${s.kind === "pack" ? "pack " : ""}${s.name} ${s.offered} (${s.security!.level}${
      s.security!.advisories.length > 0 ? `: ${s.security!.advisories.join(", ")}` : ""
    })`
  );
  const critical = statuses.some((s) => s.security!.level === "critical");
  return {
    code: "SECURITY_UPDATE_AVAILABLE",
    severity: "warning",
    statement: `the update feed offers ${statuses.length} security release(s) for what is ` +
      `installed: ${releases.join(", ")}`,
    fix: `fetch ${statuses.length === 1 ? "it" : "them"} with "lockstep feed fetch` +
      `${critical ? " --security-only" : ""}", then run "lockstep update"`,
    data: {
      releases: statuses.map((s) => ({
        kind: s.kind,
        name: s.name,
        installed: s.installed,
        offered: s.offered,
        level: s.security!.level,
        advisories: s.security!.advisories,
      })),
    },
  };
}

/** The saved feed is missing, too old, expired or damaged. */
export function feedStale(
  reason: string,
  data: { channel: string; checked: string | null },
): Finding<"FEED_STALE"> {
  return {
    code: "FEED_STALE",
    severity: "warning",
    statement: `the update feed's saved index is stale: ${reason}`,
    fix: `run "lockstep feed check"`,
    data: { ...data, reason },
  };
}

/** This host's clock is behind the newest `issued` it accepted. */
export function clockSuspect(now: string, floor: string): Finding<"CLOCK_SUSPECT"> {
  return {
    code: "CLOCK_SUSPECT",
    severity: "warning",
    statement: `this host's clock (${now}) is behind the newest update feed index it accepted ` +
      `(issued ${floor}): the clock is wrong or was set back`,
    fix: `set the clock right; the feed judges expiry at ${floor} meanwhile`,
    data: { now, floor },
  };
}
