/**
 * Baselines, as pure data: on a database where a package has nothing
 * applied yet, the migrations its baseline covers are contracted into one
 * step (`<package>/baseline`) that runs the baseline and stamps them.
 *
 * @module
 */
import { LockstepError } from "../errors.ts";
import type { AppliedRef, MigrationNode } from "./types.ts";

/** A package's baseline as the planner needs it. */
export interface BaselineRef {
  /** The package. */
  readonly package: string;
  /** The id of the last migration it covers. */
  readonly covers: string;
  /** `v1:<sha256>` of the baseline file. */
  readonly checksum: string;
}

/** A baseline that will run: it stands for `covers` in the graph. */
export interface BaselineStep {
  /** `<package>/baseline`. */
  readonly id: string;
  /** The package. */
  readonly package: string;
  /** The ids it stamps, in package order. */
  readonly covers: readonly string[];
}

/** The id of a package's baseline step. */
export function baselineId(pkg: string): string {
  return `${pkg}/baseline`;
}

/**
 * Replaces, for each package with a baseline and no applied migration, the
 * migrations the baseline covers by one node that depends on what they
 * depended on outside the package and that everything depending on them now
 * depends on.
 *
 * @throws {LockstepError} `MIGRATION_INVALID` when a baseline covers a
 * migration its package does not have.
 */
export function contractBaselines(
  nodes: readonly MigrationNode[],
  deps: ReadonlyMap<string, readonly string[]>,
  baselines: readonly BaselineRef[],
  applied: readonly AppliedRef[],
): { nodes: MigrationNode[]; deps: Map<string, string[]>; steps: BaselineStep[] } {
  const startedPackages = new Set(applied.map((row) => row.id.split("/")[0]));
  const replaced = new Map<string, string>();
  const steps: BaselineStep[] = [];
  const added: MigrationNode[] = [];
  for (const baseline of baselines) {
    if (startedPackages.has(baseline.package)) continue;
    const own = nodes.filter((n) => n.package === baseline.package)
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.id.localeCompare(b.id));
    const last = own.findIndex((n) => n.id === baseline.covers);
    if (last === -1) {
      throw new LockstepError(
        "MIGRATION_INVALID",
        `Cannot use the baseline of package "${baseline.package}": it covers "${baseline.covers}", ` +
          `which is not a migration of that package.`,
        { data: { package: baseline.package, covers: baseline.covers } },
      );
    }
    const covered = own.slice(0, last + 1);
    const id = baselineId(baseline.package);
    for (const node of covered) replaced.set(node.id, id);
    steps.push({ id, package: baseline.package, covers: covered.map((n) => n.id) });
    added.push({
      id,
      package: baseline.package,
      timestamp: covered[0]!.timestamp,
      dependsOn: [],
      checksum: baseline.checksum,
    });
  }
  if (steps.length === 0) {
    return { nodes: [...nodes], deps: new Map(deps as Map<string, string[]>), steps };
  }
  const mapped = (id: string) => replaced.get(id) ?? id;
  const out = new Map<string, string[]>();
  for (const [id, list] of deps) {
    const target = mapped(id);
    const merged = new Set(out.get(target) ?? []);
    for (const dep of list) if (mapped(dep) !== target) merged.add(mapped(dep));
    out.set(target, [...merged]);
  }
  return { nodes: [...nodes.filter((n) => !replaced.has(n.id)), ...added], deps: out, steps };
}
