/**
 * Requirements between the parts of an application: a pack's `requires`
 * (`app` and `pack:<name>` npm ranges) judged against a set of versions,
 * and the order in which packs must install (dependencies first), with the
 * chain of a cycle. Pure.
 *
 * @module
 */
import { satisfies } from "../deps/semver.ts";

/** The versions requirements are judged against: the app's, and each enabled pack's. */
export interface Versions {
  /** The app's code version, or `null` when none is installed. */
  readonly app: string | null;
  /** Each installed, enabled pack's version, by name. */
  readonly packs: ReadonlyMap<string, string>;
}

/** Each requirement of `requires` that `versions` does not meet, as `app >=1.4 (have 1.3.0)`. */
export function unmetPackRequirements(
  requires: Readonly<Record<string, string>>,
  versions: Versions,
): string[] {
  const unmet: string[] = [];
  for (const [key, range] of Object.entries(requires)) {
    if (key !== "app" && !key.startsWith("pack:")) continue;
    const have = key === "app" ? versions.app : versions.packs.get(key.slice(5)) ?? null;
    if (have === null) {
      const none = key === "app" ? "no version installed" : "not installed, or disabled";
      unmet.push(`${key} ${range} (${none})`);
    } else if (!satisfies(have, range, { includePrerelease: true })) {
      unmet.push(`${key} ${range} (have ${have})`);
    }
  }
  return unmet;
}

/** The packs `requires` names (`pack:<name>` keys). */
export function requiredPacks(requires: Readonly<Record<string, string>>): string[] {
  return Object.keys(requires).filter((key) => key.startsWith("pack:")).map((key) => key.slice(5));
}

/**
 * Orders `names` so that every pack comes after the packs it requires
 * (among `names`), ties by name; returns the order and each cycle found, as
 * its chain (`["a", "b", "a"]`). Packs on a cycle are left out of the order.
 */
export function dependencyOrder(
  names: readonly string[],
  requiresOf: (name: string) => readonly string[],
): { order: string[]; cycles: string[][] } {
  const inside = new Set(names);
  const deps = new Map(
    [...inside].map((name) => [name, requiresOf(name).filter((d) => inside.has(d) && d !== name)]),
  );
  const order: string[] = [];
  const placed = new Set<string>();
  for (;;) {
    const ready = [...inside].filter((n) =>
      !placed.has(n) && deps.get(n)!.every((d) => placed.has(d))
    )
      .sort();
    if (ready.length === 0) break;
    for (const name of ready) {
      order.push(name);
      placed.add(name);
    }
  }
  const cycles: string[][] = [];
  const onCycle = new Set<string>();
  for (const start of [...inside].filter((n) => !placed.has(n)).sort()) {
    if (onCycle.has(start)) continue;
    const cycle = findCycle(start, deps, placed);
    // From a pack that only needs a cycle, the search meets one already found.
    if (cycle === undefined || cycle.every((n) => onCycle.has(n))) continue;
    cycle.forEach((n) => onCycle.add(n));
    cycles.push(cycle);
  }
  return { order, cycles };
}

/** A cycle through `start` in `deps` (not through `done`), as a chain ending where it began. */
function findCycle(
  start: string,
  deps: ReadonlyMap<string, readonly string[]>,
  done: ReadonlySet<string>,
): string[] | undefined {
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const at = path.indexOf(name);
    if (at >= 0) return [...path.slice(at), name];
    path.push(name);
    for (const dep of deps.get(name) ?? []) {
      if (done.has(dep)) continue;
      const found = visit(dep);
      if (found) return found;
    }
    path.pop();
    return undefined;
  };
  return visit(start);
}
