/**
 * The migration plan: a pure function of the migrations on disk and the
 * ledger rows. One DAG across packages; topological order with a
 * deterministic tie-break (timestamp, then id).
 *
 * @module
 */
import { LockstepError } from "../errors.ts";
import type { AppliedRef, MigrationNode } from "./types.ts";

export type { AppliedRef } from "./types.ts";
import { type BaselineRef, type BaselineStep, contractBaselines } from "./baseline.ts";

/** An applied migration whose file no longer has the recorded checksum. */
export interface ChangedMigration {
  /** The migration id. */
  readonly id: string;
  /** The checksum in the ledger. */
  readonly recorded: string;
  /** The checksum of the file now. */
  readonly current: string;
}

/** What to do, as data. */
export interface Plan {
  /** Every known migration id in the order they apply. */
  readonly order: readonly string[];
  /** Applied ids the code knows, in order. */
  readonly applied: readonly string[];
  /** Ids still to apply, in order (limited to `to` and its ancestors when given). */
  readonly pending: readonly string[];
  /** Ledger rows for ids the code does not know: the database is ahead of the code. */
  readonly ahead: readonly AppliedRef[];
  /**
   * Ledger rows for ids the code does not know that `tolerate` accepted (in
   * a fleet: a newer release's `expand` migrations, which this code survives).
   */
  readonly newer: readonly AppliedRef[];
  /**
   * Pending ids held back (`hold`: contract migrations a running host's
   * older code would not survive) and every pending id that depends on one;
   * none of them is in `pending`.
   */
  readonly held: readonly string[];
  /** Applied migrations whose file changed. */
  readonly changed: readonly ChangedMigration[];
  /** Baselines that run instead of the migrations they cover (their ids are in `pending`). */
  readonly baselines: readonly BaselineStep[];
}

/** The dependencies of every node: explicit ones plus the previous migration of its package. */
export function dependencies(nodes: readonly MigrationNode[]): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  const last = new Map<string, string>();
  const byPackage = [...nodes].sort((a, b) => compare(a, b));
  for (const node of byPackage) {
    if (deps.has(node.id)) {
      throw new LockstepError(
        "MIGRATION_DUPLICATE",
        `Cannot plan migrations: id "${node.id}" appears twice.`,
        {
          data: { id: node.id },
        },
      );
    }
    const previous = last.get(node.package);
    const list = previous === undefined ? [] : [previous];
    for (const dep of node.dependsOn) if (!list.includes(dep)) list.push(dep);
    deps.set(node.id, list);
    last.set(node.package, node.id);
  }
  for (const [id, list] of deps) {
    for (const dep of list) {
      if (!deps.has(dep)) {
        throw new LockstepError(
          "MIGRATION_UNKNOWN_DEPENDENCY",
          `Cannot plan migrations: "${id}" depends on "${dep}", which no package has. ` +
            `Fix the id, or add the missing migration.`,
          { data: { id, dependency: dep } },
        );
      }
    }
  }
  return deps;
}

/**
 * Orders `nodes` topologically; among migrations ready at the same time the
 * earlier timestamp, then the smaller id, goes first.
 *
 * @throws {LockstepError} `MIGRATION_DUPLICATE`, `MIGRATION_UNKNOWN_DEPENDENCY`,
 * `MIGRATION_CYCLE` (with `data.cycle`, the ids around the loop).
 */
export function order(
  nodes: readonly MigrationNode[],
  deps: ReadonlyMap<string, readonly string[]> = dependencies(nodes),
): string[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [id, list] of deps) {
    waiting.set(id, list.length);
    for (const dep of list) dependents.set(dep, [...(dependents.get(dep) ?? []), id]);
  }
  const ready = [...deps.keys()].filter((id) => waiting.get(id) === 0)
    .map((id) => byId.get(id)!).sort(compare);
  const out: string[] = [];
  while (ready.length > 0) {
    const next = ready.shift()!;
    out.push(next.id);
    for (const child of dependents.get(next.id) ?? []) {
      const left = waiting.get(child)! - 1;
      waiting.set(child, left);
      if (left === 0) insertSorted(ready, byId.get(child)!);
    }
  }
  if (out.length < deps.size) {
    const cycle = findCycle(deps, new Set(out));
    throw new LockstepError(
      "MIGRATION_CYCLE",
      `Cannot plan migrations: they depend on each other in a cycle: ${cycle.join(" → ")}. ` +
        `Remove one of these dependencies.`,
      { data: { cycle } },
    );
  }
  return out;
}

/**
 * Compares what is on disk with what the ledgers hold.
 *
 * @throws {LockstepError} everything {@link order} throws, `MIGRATION_ANCESTOR_UNAPPLIED`
 * (an applied migration that depends on one not applied), `MIGRATION_NOT_FOUND` (`to`).
 */
export function plan(
  nodes: readonly MigrationNode[],
  appliedRows: readonly AppliedRef[],
  options: {
    to?: string;
    baselines?: readonly BaselineRef[];
    /** Pending contract migrations to hold back, with what depends on them. */
    hold?: ReadonlySet<string>;
    /** Unknown ledger rows this code survives (`newer`, not `ahead`). Default: none. */
    tolerate?: (row: AppliedRef) => boolean;
  } = {},
): Plan {
  const graph = contractBaselines(nodes, dependencies(nodes), options.baselines ?? [], appliedRows);
  const deps = graph.deps;
  const sequence = order(graph.nodes, deps);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const known = new Set(nodes.map((n) => n.id));
  const appliedSet = new Map(appliedRows.map((row) => [row.id, row]));
  const unknown = appliedRows.filter((row) => !known.has(row.id));
  const tolerate = options.tolerate ?? (() => false);
  const ahead = unknown.filter((row) => !tolerate(row));
  const newer = unknown.filter((row) => tolerate(row));
  const changed: ChangedMigration[] = [];
  for (const id of sequence) {
    const row = appliedSet.get(id);
    if (row === undefined) continue;
    const current = byId.get(id)!.checksum;
    if (row.checksum !== current) changed.push({ id, recorded: row.checksum, current });
    for (const dep of deps.get(id)!) {
      if (!appliedSet.has(dep)) {
        throw new LockstepError(
          "MIGRATION_ANCESTOR_UNAPPLIED",
          `Cannot plan migrations: "${id}" is applied but "${dep}", which it depends on, is not. ` +
            `A migration was added before an applied one; give it a later timestamp.`,
          { data: { id, ancestor: dep } },
        );
      }
    }
  }
  let wanted: Set<string> | undefined;
  if (options.to !== undefined) {
    if (!known.has(options.to)) {
      throw new LockstepError(
        "MIGRATION_NOT_FOUND",
        `Cannot migrate to "${options.to}": no package has that migration.`,
        { data: { id: options.to } },
      );
    }
    const step = graph.steps.find((s) => s.covers.includes(options.to!));
    wanted = ancestors(step?.id ?? options.to, deps);
  }
  const pending = sequence.filter((id) => !appliedSet.has(id) && (wanted?.has(id) ?? true));
  const held = new Set<string>();
  if (options.hold !== undefined && options.hold.size > 0) {
    // In order, so a migration's dependencies are judged before it.
    for (const id of pending) {
      if (options.hold.has(id) || deps.get(id)!.some((dep) => held.has(dep))) held.add(id);
    }
  }
  return {
    order: sequence,
    applied: sequence.filter((id) => appliedSet.has(id)),
    pending: pending.filter((id) => !held.has(id)),
    ahead,
    newer,
    held: pending.filter((id) => held.has(id)),
    changed,
    baselines: graph.steps,
  };
}

/** `id` and everything it depends on, directly or not. */
export function ancestors(id: string, deps: ReadonlyMap<string, readonly string[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(deps.get(next) ?? []));
  }
  return seen;
}

/** The migrations nothing depends on: where a release marker must depend. */
export function heads(nodes: readonly MigrationNode[]): string[] {
  const deps = dependencies(nodes);
  const needed = new Set([...deps.values()].flat());
  return [...deps.keys()].filter((id) => !needed.has(id)).sort();
}

function compare(a: MigrationNode, b: MigrationNode): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function insertSorted(list: MigrationNode[], node: MigrationNode): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compare(list[mid]!, node) < 0) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, node);
}

function findCycle(
  deps: ReadonlyMap<string, readonly string[]>,
  done: ReadonlySet<string>,
): string[] {
  const state = new Map<string, "open" | "closed">();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, "open");
    path.push(id);
    for (const dep of deps.get(id) ?? []) {
      if (done.has(dep) || state.get(dep) === "closed") continue;
      if (state.get(dep) === "open") return [...path.slice(path.indexOf(dep)), dep];
      const found = visit(dep);
      if (found) return found;
    }
    path.pop();
    state.set(id, "closed");
    return undefined;
  };
  for (const id of [...deps.keys()].sort()) {
    if (done.has(id) || state.has(id)) continue;
    const found = visit(id);
    if (found) return found.reverse();
  }
  return [];
}
