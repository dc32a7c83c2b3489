/**
 * The fleet as one host sees it (`lockstep fleet`, and the report's fleet
 * section): every registered host with its code version, state and last
 * beat, the contract migrations waiting for hosts on older code, and how
 * long the running hosts have run different versions. Also forgetting a
 * host that is gone for good.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { Connections } from "../migrations/connections.ts";
import { type MigrationStatus, status } from "../migrations/status.ts";
import type { HeldContract } from "./hold.ts";
import {
  counts,
  type FleetHost,
  forgetHost,
  mixedVersions,
  readHosts,
  sharedDatabases,
} from "./registry.ts";

/** The fleet this host belongs to, as its shared databases' registries say. */
export interface FleetStatus {
  /** This host's id, or `null` before it registered. */
  readonly self: string | null;
  /** How long a host may go unseen before it is stale (`fleet.staleAfterSeconds`). */
  readonly staleAfterSeconds: number;
  /** Every registered host. */
  readonly hosts: readonly FleetHost[];
  /** Contract migrations waiting for hosts with older code. */
  readonly waiting: readonly HeldContract[];
  /** The code versions the counted hosts run, when they differ, and for how long. */
  readonly mixed: { readonly versions: readonly string[]; readonly sinceSeconds: number } | null;
}

/** The fleet part of a migration status; `null` without `fleet` in lockstep.json. */
export function fleetOf(config: Config, migrations: MigrationStatus | null): FleetStatus | null {
  const fleet = migrations?.fleet;
  if (!config.fleet || !fleet) return null;
  return {
    self: fleet.self,
    staleAfterSeconds: config.fleet.staleAfterSeconds,
    hosts: fleet.hosts,
    waiting: migrations.contracts,
    mixed: mixedVersions(fleet.hosts),
  };
}

/**
 * The fleet: every registered host, the contract migrations waiting for
 * hosts on older code, mixed versions. Reads only.
 *
 * Permissions: as `status` (`--allow-read` on the config's folder, the app root, the migration
 * folders and the updates folder; `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and
 * `--allow-env=<passwordEnv>` for the shared PostgreSQL databases).
 *
 * @throws {LockstepError} `FLEET_NOT_CONFIGURED` (no `fleet` in lockstep.json),
 * `DATABASE_UNREACHABLE`, and the planning errors of `status`.
 * @example
 * ```ts ignore
 * const { hosts, waiting } = await fleetStatus(config);
 * ```
 */
export async function fleetStatus(config: Config): Promise<FleetStatus> {
  refuseWithoutFleet(config, "show the fleet");
  return fleetOf(config, await status(config))!;
}

/**
 * Removes host `host` from every shared database's registry: a host that is
 * gone for good (a stale one is not counted anyway; forgetting it tidies the
 * report). A host still counted as running is refused: it would register
 * again at its next beat.
 *
 * Permissions: as {@link fleetStatus}; the database user may delete from `lockstep_hosts`.
 *
 * @throws {LockstepError} `FLEET_NOT_CONFIGURED`, `FLEET_HOST_UNKNOWN` (no
 * registry holds it), `FLEET_HOST_ACTIVE` (it is running and not stale),
 * `DATABASE_UNREACHABLE`.
 * @example
 * ```ts ignore
 * await forgetFleetHost(config, "web-4");
 * ```
 */
export async function forgetFleetHost(
  config: Config,
  host: string,
): Promise<{ readonly host: string; readonly databases: readonly string[] }> {
  refuseWithoutFleet(config, `forget host "${host}"`);
  await using connections = new Connections(config, { readOnly: false, lockTimeoutMs: 5000 });
  const found: FleetHost[] = [];
  for (const db of sharedDatabases(config)) {
    const sql = await connections.get(db.name);
    found.push(
      ...(await readHosts(sql, db.name, config.fleet!.staleAfterSeconds)).filter((h) =>
        h.host === host
      ),
    );
  }
  if (found.length === 0) {
    throw new LockstepError(
      "FLEET_HOST_UNKNOWN",
      `Cannot forget host "${host}": no shared database's registry holds it ` +
        `("lockstep fleet" lists the hosts). Nothing was changed.`,
      { data: { host } },
    );
  }
  const active = found.find(counts);
  if (active) {
    throw new LockstepError(
      "FLEET_HOST_ACTIVE",
      `Cannot forget host "${host}": it is ${active.state} and was seen ${active.ageSeconds} s ` +
        `ago, so it would register again at its next beat. Stop it first, or wait until it is ` +
        `stale (fleet.staleAfterSeconds: ${config.fleet!.staleAfterSeconds}). Nothing was changed.`,
      { data: { host, state: active.state, ageSeconds: active.ageSeconds } },
    );
  }
  const databases: string[] = [];
  for (const { database } of found) {
    if (await forgetHost(await connections.get(database), host)) databases.push(database);
  }
  return { host, databases };
}

function refuseWithoutFleet(config: Config, action: string): void {
  if (config.fleet !== null) return;
  throw new LockstepError(
    "FLEET_NOT_CONFIGURED",
    `Cannot ${action}: lockstep.json has no "fleet" section, so no database is shared. ` +
      `Add "fleet": {} (and "fleet.host" to name this host) on every host that shares a ` +
      `PostgreSQL database. Nothing was changed.`,
    { data: { config: config.file } },
  );
}
