/**
 * What a fleet changes in a migration plan, decided from the registry:
 * a pending `contract` migration of a shared database is held back while a
 * running (not stale) host other than this one has code older than this
 * host's (the release that ships it), and so is everything that depends on
 * it; a newer release's `expand` migrations in a shared database's ledger
 * are tolerated (old code survives them) rather than "database ahead".
 * Without `fleet` in lockstep.json nothing is held or tolerated.
 *
 * @module
 */
import { compare } from "../deps/semver.ts";
import type { Config } from "../config.ts";
import type { Connections } from "../migrations/connections.ts";
import type { Plan } from "../migrations/plan.ts";
import type { AppliedRef, MigrationNode } from "../migrations/types.ts";
import {
  counts,
  type FleetHost,
  type HostState,
  knownHostId,
  readHosts,
  runningPacks,
  sharedDatabases,
} from "./registry.ts";
import { readState } from "../state.ts";

/** The registry as one host reads it before planning. */
export interface FleetFacts {
  /** This host's id, `null` when it has none yet (it never registered). */
  readonly self: string | null;
  /** The code version this host plans with (the release its migrations ship in). */
  readonly codeVersion: string | null;
  /** The version of each pack this host runs (a pack's migrations ship in its release). */
  readonly packs: Readonly<Record<string, string>>;
  /** Every host of every shared database's registry. */
  readonly hosts: readonly FleetHost[];
  /** The shared databases, by name. */
  readonly shared: readonly string[];
}

/** A contract migration held back, and the hosts it waits for. */
export interface HeldContract {
  /** The migration id. */
  readonly id: string;
  /** Its database. */
  readonly database: string;
  /** The release that ships it: this host's code version. */
  readonly release: string | null;
  /** The running hosts whose older code it would break. */
  readonly waitingFor: readonly {
    readonly host: string;
    readonly codeVersion: string | null;
    readonly state: HostState;
  }[];
}

/** What {@link planFor} adds to a plan's options, and why. */
export interface FleetPlanning {
  /** Pending contract migrations to hold back. */
  readonly hold: ReadonlySet<string>;
  /** The unknown ledger rows this code survives. */
  readonly tolerate: (row: AppliedRef) => boolean;
  /** Each contract migration that would be held, with the hosts it waits for. */
  readonly waiting: ReadonlyMap<string, HeldContract>;
}

/**
 * Reads the registry of every shared database on `connections` (reading
 * only); `null` without `fleet` in lockstep.json.
 */
export async function readFleetFacts(
  config: Config,
  connections: Connections,
  codeVersion: string | null,
): Promise<FleetFacts | null> {
  if (config.fleet === null) return null;
  const shared = sharedDatabases(config).map((db) => db.name);
  const hosts: FleetHost[] = [];
  for (const name of shared) {
    const db = await connections.getExisting(name);
    if (db !== null) hosts.push(...await readHosts(db, name, config.fleet.staleAfterSeconds));
  }
  const packs = runningPacks(await readState(config));
  return { self: await knownHostId(config), codeVersion, packs, hosts, shared };
}

/** The plan options a fleet adds (none without one). */
export function planFor(
  config: Config,
  facts: FleetFacts | null,
  migrations: readonly MigrationNode[],
): FleetPlanning {
  if (facts === null) return { hold: new Set(), tolerate: () => false, waiting: new Map() };
  const shared = new Set(facts.shared);
  const isPack = (pkg: string) => Object.hasOwn(facts.packs, pkg);
  // A pack's migrations ship in the pack's release; the others in the application's.
  const releaseOf = (pkg: string) => isPack(pkg) ? facts.packs[pkg]! : facts.codeVersion;
  // What a host runs of that package: a host without the pack runs none of its code.
  const runs = (host: FleetHost, pkg: string) => isPack(pkg) ? host.packs[pkg] : host.codeVersion;
  const waiting = new Map<string, HeldContract>();
  for (const migration of migrations) {
    if (migration.phase !== "contract") continue;
    const database = config.packages[migration.package]!.database;
    if (!shared.has(database)) continue;
    const release = releaseOf(migration.package);
    const older = (version: string | null) =>
      release === null || version === null || compare(version, release) < 0;
    const waitingFor = facts.hosts
      .filter((h) => h.database === database && h.host !== facts.self && counts(h))
      .filter((h) => runs(h, migration.package) !== undefined)
      .filter((h) => older(runs(h, migration.package)!))
      .map((h) => ({ host: h.host, codeVersion: runs(h, migration.package)!, state: h.state }));
    if (waitingFor.length > 0) {
      waiting.set(migration.id, { id: migration.id, database, release, waitingFor });
    }
  }
  // An unknown expand migration of a pack this host runs is its newer release's (the ledger
  // records the application's version); of the application, one recorded by newer code.
  const release = facts.codeVersion;
  const tolerate = (row: AppliedRef) =>
    row.phase !== "contract" && row.database !== undefined && shared.has(row.database) &&
    ((row.package !== undefined && isPack(row.package)) ||
      (release !== null && typeof row.codeVersion === "string" &&
        compare(row.codeVersion, release) > 0));
  return { hold: new Set(waiting.keys()), tolerate, waiting };
}

/** The contract migrations `plan` held back, with the hosts each waits for. */
export function heldContracts(plan: Plan, planning: FleetPlanning): HeldContract[] {
  return plan.held.flatMap((id) => planning.waiting.get(id) ?? []);
}
