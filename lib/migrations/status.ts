/**
 * The read-only view of migrations per package and database, behind `status`
 * and the database part of `check`. Takes no lock and writes nothing.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { DatabaseConfig } from "../sql/dialect.ts";
import type { Dialect } from "../sql/driver.ts";
import { Connections } from "./connections.ts";
import { discover, type Discovered } from "./discover.ts";
import { hasLedger, readLedger } from "./ledger.ts";
import { type Plan, plan } from "./plan.ts";
import type { LedgerRow } from "./types.ts";
import { readCodeVersion } from "../host.ts";
import {
  type FleetFacts,
  type HeldContract,
  heldContracts,
  planFor,
  readFleetFacts,
} from "../fleet/hold.ts";
import { withPacks } from "../packs/registry.ts";
import { type CheckCache, fileIdentity, settled } from "../check_cache.ts";
import { sha256Hex } from "../sha256.ts";
import { VERSION } from "../version.ts";
import { dialectOf } from "../sql/dialects.ts";

/** One package's migrations. */
export interface PackageStatus {
  /** The package name. */
  readonly name: string;
  /** The database its migrations apply to. */
  readonly database: string;
  /** Migrations on disk. */
  readonly total: number;
  /** Ids applied, in order. */
  readonly applied: readonly string[];
  /** Ids still to apply, in order. */
  readonly pending: readonly string[];
  /** Ids held back in a fleet (contract migrations waiting for hosts, and what follows them). */
  readonly held: readonly string[];
  /** The last applied id, or `null`. */
  readonly version: string | null;
}

/** One database's ledger. */
export interface DatabaseStatus {
  /** The configured name. */
  readonly name: string;
  /** `sqlite` or `postgres`. */
  readonly dialect: Dialect;
  /** The URL with credentials masked. */
  readonly url: string;
  /** False for a SQLite file that does not exist yet (every migration is pending). */
  readonly exists: boolean;
  /** True when lockstep's ledger tables are there. */
  readonly ledger: boolean;
  /** Ledger rows. */
  readonly rows: number;
}

/**
 * The whole migration state: the plan's pending, ahead, changed, newer and
 * held, per package and database.
 */
export interface MigrationStatus
  extends Pick<Plan, "pending" | "ahead" | "changed" | "newer" | "held"> {
  /** Each configured package, in config order. */
  readonly packages: readonly PackageStatus[];
  /** Each database a package uses, by name. */
  readonly databases: readonly DatabaseStatus[];
  /** The contract migrations held back in a fleet, with the hosts each waits for. */
  readonly contracts: readonly HeldContract[];
  /** The fleet's registry as read for this plan, or `null` without `fleet` in lockstep.json. */
  readonly fleet: FleetFacts | null;
}

/**
 * Ledger rows of every used database; a missing SQLite file counts as an
 * empty one. The rows of dormant packs (disabled, removed) are left out:
 * they stay known, never "ahead of the code".
 */
export async function readLedgers(
  connections: Connections,
): Promise<{ rows: LedgerRow[]; databases: DatabaseStatus[] }> {
  const rows: LedgerRow[] = [];
  const databases: DatabaseStatus[] = [];
  for (const config of connections.used()) {
    const db = await connections.getExisting(config.name);
    if (db === null) {
      databases.push({ ...describe(config), exists: false, ledger: false, rows: 0 });
      continue;
    }
    const ledger = await readLedger(db);
    const dormant = new Set(connections.config.packs.loaded?.dormant ?? []);
    rows.push(...ledger.filter((row) => !dormant.has(row.package)));
    databases.push({
      ...describe(config),
      url: db.display,
      exists: true,
      ledger: ledger.length > 0,
      rows: ledger.length,
    });
  }
  return { rows, databases };
}

function describe(config: DatabaseConfig) {
  return { name: config.name, dialect: config.dialect, url: config.url };
}

/** Summarises a plan per package. */
export function packageStatus(
  config: Config,
  discovered: Discovered,
  result: Plan,
): PackageStatus[] {
  const group = (ids: readonly string[]) => Map.groupBy(ids, (id) => id.slice(0, id.indexOf("/")));
  const applied = group(result.applied);
  const pending = group(result.pending);
  const held = group(result.held);
  const totals = Map.groupBy(discovered.migrations, (m) => m.package);
  return Object.values(config.packages).map((pkg) => {
    const done = applied.get(pkg.name) ?? [];
    return {
      name: pkg.name,
      database: pkg.database,
      total: totals.get(pkg.name)?.length ?? 0,
      applied: done,
      pending: pending.get(pkg.name) ?? [],
      held: held.get(pkg.name) ?? [],
      version: done.at(-1) ?? null,
    };
  });
}

/**
 * Reports migrations per package and database, read-only and lock-free.
 *
 * Permissions: `--allow-read` on the config's folder, the app root, the migration folders and the
 * updates folder (SQLite files are opened read-only); PostgreSQL adds `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. It takes no lock and writes nothing.
 *
 * @throws {LockstepError} discovery and planning errors, `DATABASE_UNREACHABLE`.
 * @example
 * ```ts ignore
 * const { pending } = await status(config);
 * ```
 */
export async function status(base: Config): Promise<MigrationStatus> {
  const config = await withPacks(base);
  await using connections = new Connections(config, { readOnly: true });
  return await statusWith(config, connections);
}

/**
 * {@link status} on connections the caller opened (read-only ones will do).
 * `firstInstall`: nothing is installed yet, so missing migrations folders
 * are empty (the first bundles bring them). `hints`: `check`'s cache of
 * migration files read before.
 */
export async function statusWith(
  config: Config,
  connections: Connections,
  options: { firstInstall?: boolean; hints?: CheckCache } = {},
): Promise<MigrationStatus> {
  const { hints } = options;
  const inputs = hints &&
    await statusInputs(config, connections, options.firstInstall === true, hints);
  if (inputs) {
    const known = hints!.statusFor(inputs.key);
    if (known !== undefined) return known as MigrationStatus;
  }
  const status = await computeStatus(config, connections, options);
  if (inputs?.settled) hints!.rememberStatus(inputs.key, status);
  return status;
}

/**
 * The identity of everything a status is computed from, read without
 * reading a migration: each migration file's name and identity (size,
 * times, inode), each ledger's fingerprint, the packages configured and
 * lockstep's version. `settled`: every file is old enough to be trusted
 * (see `RACY_MS`). `undefined` when the status cannot be hinted: in a fleet
 * (it depends on the hosts), with a `.ts` migration (what a module declares
 * may come from what it imports), or a folder that cannot be listed.
 */
async function statusInputs(
  config: Config,
  connections: Connections,
  firstInstall: boolean,
  hints: CheckCache,
): Promise<{ key: string; settled: boolean } | undefined> {
  if (config.fleet) return undefined;
  const readAt = Date.now();
  let allSettled = true;
  const parts = [
    VERSION,
    String(firstInstall),
    JSON.stringify(config.packages),
    JSON.stringify(config.packs.loaded?.dormant ?? []),
  ];
  for (const pkg of Object.values(config.packages)) {
    let names: string[];
    try {
      names = Array.from(Deno.readDirSync(pkg.migrations), (entry) => entry.name).sort();
    } catch (error) {
      if (firstInstall && error instanceof Deno.errors.NotFound) {
        parts.push(`${pkg.migrations} missing`);
        continue;
      }
      return undefined; // discovering says what is wrong
    }
    for (const name of names) {
      if (name.endsWith(".ts")) return undefined;
      const path = `${pkg.migrations}/${name}`;
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(path);
      } catch {
        return undefined; // gone meanwhile, or not readable: discovering says what is wrong
      }
      if (!info.isFile) return undefined;
      allSettled &&= settled(info, readAt);
      parts.push(`${path} ${fileIdentity(info)}`);
      hints.keepFile(path);
    }
  }
  for (const used of connections.used()) {
    const db = await connections.getExisting(used.name);
    if (db === null) {
      parts.push(`${used.name} absent`);
      continue;
    }
    const ledger = await hasLedger(db) ? await dialectOf(db).ledgerFingerprint(db) : "none";
    parts.push(`${used.name} ${db.display} ${ledger}`);
  }
  return { key: await sha256Hex(parts.join("\n")), settled: allSettled };
}

async function computeStatus(
  config: Config,
  connections: Connections,
  options: { firstInstall?: boolean; hints?: CheckCache },
): Promise<MigrationStatus> {
  const discovered = await discover(Object.values(config.packages), {
    missingIsEmpty: options.firstInstall === true,
    ...(options.hints === undefined ? {} : { hints: options.hints }),
  });
  const { rows, databases } = await readLedgers(connections);
  const fleet = await readFleetFacts(config, connections, await readCodeVersion(config));
  const planning = planFor(config, fleet, discovered.migrations);
  const result = plan(discovered.migrations, rows, {
    baselines: Object.values(discovered.baselines),
    hold: planning.hold,
    tolerate: planning.tolerate,
  });
  return {
    packages: packageStatus(config, discovered, result),
    databases,
    pending: result.pending,
    ahead: result.ahead,
    changed: result.changed,
    newer: result.newer,
    held: result.held,
    contracts: heldContracts(result, planning),
    fleet,
  };
}
