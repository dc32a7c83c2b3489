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
  sharedDatabases,
} from "./registry.ts";

/** The registry as one host reads it before planning. */
export interface FleetFacts {
  /** This host's id, `null` when it has none yet (it never registered). */
  readonly self: string | null;
  /** The code version this host plans with (the release its migrations ship in). */
  readonly codeVersion: string | null;
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
  return { self: await knownHostId(config), codeVersion, hosts, shared };
}

/** The plan options a fleet adds (none without one). */
export function planFor(
  config: Config,
  facts: FleetFacts | null,
  migrations: readonly MigrationNode[],
): FleetPlanning {
  if (facts === null) return { hold: new Set(), tolerate: () => false, waiting: new Map() };
  const shared = new Set(facts.shared);
  const release = facts.codeVersion;
  const older = (version: string | null) =>
    release === null || version === null || compare(version, release) < 0;
  const waiting = new Map<string, HeldContract>();
  for (const migration of migrations) {
    if (migration.phase !== "contract") continue;
    const database = config.packages[migration.package]!.database;
    if (!shared.has(database)) continue;
    const waitingFor = facts.hosts
      .filter((h) => h.database === database && h.host !== facts.self && counts(h))
      .filter((h) => older(h.codeVersion))
      .map((h) => ({ host: h.host, codeVersion: h.codeVersion, state: h.state }));
    if (waitingFor.length > 0) {
      waiting.set(migration.id, { id: migration.id, database, release, waitingFor });
    }
  }
  const tolerate = (row: AppliedRef) =>
    row.phase !== "contract" && row.database !== undefined && shared.has(row.database) &&
    release !== null && typeof row.codeVersion === "string" &&
    compare(row.codeVersion, release) > 0;
  return { hold: new Set(waiting.keys()), tolerate, waiting };
}

/** The contract migrations `plan` held back, with the hosts each waits for. */
export function heldContracts(plan: Plan, planning: FleetPlanning): HeldContract[] {
  return plan.held.flatMap((id) => planning.waiting.get(id) ?? []);
}
