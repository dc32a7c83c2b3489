/**
 * The fleet's host registry, `lockstep_hosts`, kept in each shared database:
 * which hosts run which code, as each host says itself. `start` and `gate()`
 * register the host, `start` refreshes it while the application runs (a
 * heartbeat), `update` marks it `updating`. Times are the database's clock,
 * so hosts whose clocks disagree are still judged alike. A host unseen for
 * `fleet.staleAfterSeconds` is stale: shown, never counted as running.
 *
 * @module
 */
import { compare } from "../deps/semver.ts";
import type { Config } from "../config.ts";
import { messageOf } from "../errors.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { Connections } from "../migrations/connections.ts";
import { ledgerTable } from "../sql/dialect.ts";
import type { DatabaseConfig } from "../sql/dialect.ts";
import { dialectOf } from "../sql/dialects.ts";
import type { Sql } from "../sql/driver.ts";
import { readState, type State, writeState } from "../state.ts";
import { VERSION } from "../version.ts";

/** What a host says it does: `updating` from the start of an update until it runs again. */
export type HostState = "running" | "updating" | "stopped";

/** This host as it registers. */
export interface HostFacts {
  /** Its id: `fleet.host`, or generated once and kept in `state.json`. */
  readonly host: string;
  /** The configured application. */
  readonly app: string;
  /** The code version it runs (or, while updating, installs). */
  readonly codeVersion: string | null;
  /** The version of each pack it runs, by name. */
  readonly packs: Readonly<Record<string, string>>;
  /** The lockstep that registered it. */
  readonly lockstepVersion: string;
}

/** One host as the registry holds it. */
export interface FleetHost extends HostFacts {
  /** The database whose registry holds the row. */
  readonly database: string;
  /** What it said last. */
  readonly state: HostState;
  /** When it first registered (ISO 8601, UTC). */
  readonly firstSeen: string;
  /** When it last registered or beat (ISO 8601, UTC). */
  readonly lastSeen: string;
  /** Since when it runs `codeVersion` (ISO 8601, UTC). */
  readonly versionSince: string;
  /** Seconds since `lastSeen`, by the database's clock. */
  readonly ageSeconds: number;
  /** Seconds since `versionSince`, by the database's clock. */
  readonly versionAgeSeconds: number;
  /** Unseen longer than `fleet.staleAfterSeconds` while not stopped: never counted as running. */
  readonly stale: boolean;
}

/** The databases the fleet shares (none without `fleet` in lockstep.json), by name. */
export function sharedDatabases(config: Config): DatabaseConfig[] {
  if (config.fleet === null) return [];
  const used = new Set(Object.values(config.packages).map((p) => p.database));
  return [...used].sort().map((name) => config.databases[name]!)
    .filter((db) => dialectOf(db).shared);
}

/**
 * This host's id: `fleet.host`, else the one kept in `state.json`, else a
 * new one written there when the updates folder may be written; `null` when
 * there is none and none can be kept (a read-only start before any install).
 */
export async function hostId(config: Config): Promise<string | null> {
  if (config.fleet?.host) return config.fleet.host;
  const state = await readState(config);
  if (state.hostId !== undefined) return state.hostId;
  const write = await Deno.permissions.query({ name: "write", path: config.updates });
  if (write.state !== "granted") return null;
  const id = `host-${crypto.randomUUID().slice(0, 13)}`;
  await Deno.mkdir(config.updates, { recursive: true });
  await writeState(config, { ...state, hostId: id });
  return id;
}

/**
 * This host's id without writing anything: `fleet.host`, or the one in
 * `state.json` (`null` before it has one).
 */
export async function knownHostId(config: Config): Promise<string | null> {
  return config.fleet?.host ?? (await readState(config)).hostId ?? null;
}

/**
 * Who the ledger says made a change: in a fleet, the host's id (generated
 * and kept now if it has none); else the machine's name when
 * `--allow-sys=hostname` is granted.
 */
export async function ledgerHost(config: Config): Promise<string | null> {
  return (config.fleet && await hostId(config)) || hostName();
}

/** The version of each installed, enabled pack, by name: the packs this host runs. */
export function runningPacks(state: State): Record<string, string> {
  return Object.fromEntries(
    Object.entries(state.packs).flatMap(([name, pack]) =>
      pack.enabled && pack.version !== null ? [[name, pack.version]] : []
    ),
  );
}

/** This host's facts as it registers them; `codeVersion` overrides the version file. */
export async function hostFacts(
  config: Config,
  host: string,
  codeVersion?: string | null,
): Promise<HostFacts> {
  return {
    host,
    app: config.app,
    codeVersion: codeVersion === undefined ? await readCodeVersion(config) : codeVersion,
    packs: runningPacks(await readState(config)),
    lockstepVersion: VERSION,
  };
}

/**
 * Writes this host's row in every shared database (creating the registry in
 * one that has none yet). Returns one message per database it could not
 * reach or write: registering never stops the application.
 */
export async function register(
  config: Config,
  facts: HostFacts,
  state: HostState,
): Promise<string[]> {
  const shared = sharedDatabases(config);
  if (shared.length === 0) return [];
  const problems: string[] = [];
  await using connections = new Connections(config, { readOnly: false, lockTimeoutMs: 5000 });
  for (const db of shared) {
    try {
      await saveHost(await connections.get(db.name), facts, state);
    } catch (error) {
      problems.push(`database "${db.name}": ${messageOf(error)}`);
    }
  }
  return problems;
}

/** Upserts `facts` as `state` in the registry of `sql`, creating the registry when missing. */
export async function saveHost(sql: Sql, facts: HostFacts, state: HostState): Promise<void> {
  const dialect = dialectOf(sql);
  const table = ledgerTable(sql, "lockstep_hosts");
  const upsert = () =>
    sql.query(
      `insert into ${table} as h (host, app, code_version, packs, lockstep_version, state,
                           first_seen, version_since, last_seen)
       values ($1, $2, $3, $4, $5, $6, ${dialect.now}, ${dialect.now}, ${dialect.now})
       on conflict (host) do update set
         app = excluded.app, packs = excluded.packs, lockstep_version = excluded.lockstep_version,
         state = excluded.state, last_seen = excluded.last_seen,
         version_since = case when coalesce(h.code_version, '') = coalesce(excluded.code_version, '')
                              then h.version_since else excluded.version_since end,
         code_version = excluded.code_version`,
      [
        facts.host,
        facts.app,
        facts.codeVersion,
        JSON.stringify(facts.packs),
        facts.lockstepVersion,
        state,
      ],
    );
  if (await dialect.hasLedgerTable(sql, "lockstep_hosts")) {
    await upsert();
    return;
  }
  try {
    await sql.exec(dialect.hostsDdlIn(sql.ledgerSchema));
  } catch (error) {
    // Another host created it at the same moment; anything else shows in the upsert.
    if (!(await dialect.hasLedgerTable(sql, "lockstep_hosts"))) throw error;
  }
  await upsert();
}

/** Every host in the registry of `sql` (none when it has no registry), newest code first. */
export async function readHosts(
  sql: Sql,
  database: string,
  staleAfterSeconds: number,
): Promise<FleetHost[]> {
  const dialect = dialectOf(sql);
  if (!(await dialect.hasLedgerTable(sql, "lockstep_hosts"))) return [];
  const rows = await sql.query(
    `select host, app, code_version, packs, lockstep_version, state, first_seen, last_seen,
            version_since, ${dialect.ageSeconds("last_seen")} as age,
            ${dialect.ageSeconds("version_since")} as version_age
       from ${ledgerTable(sql, "lockstep_hosts")} order by host`,
  );
  const iso = (value: unknown) => value instanceof Date ? value.toISOString() : String(value);
  const hosts = rows.map((r): FleetHost => {
    const state = r.state as HostState;
    const ageSeconds = Math.max(0, Math.round(Number(r.age)));
    return {
      database,
      host: String(r.host),
      app: String(r.app),
      codeVersion: r.code_version === null ? null : String(r.code_version),
      packs: packsOf(r.packs),
      lockstepVersion: String(r.lockstep_version),
      state,
      firstSeen: iso(r.first_seen),
      lastSeen: iso(r.last_seen),
      versionSince: iso(r.version_since),
      ageSeconds,
      versionAgeSeconds: Math.max(0, Math.round(Number(r.version_age))),
      stale: state !== "stopped" && ageSeconds > staleAfterSeconds,
    };
  });
  return hosts.sort((a, b) =>
    newestFirst(a.codeVersion, b.codeVersion) || (a.host < b.host ? -1 : 1)
  );
}

/** Removes host `host` from the registry of `sql`; false when it was not there. */
export async function forgetHost(sql: Sql, host: string): Promise<boolean> {
  if (!(await dialectOf(sql).hasLedgerTable(sql, "lockstep_hosts"))) return false;
  const gone = await sql.query(
    `delete from ${ledgerTable(sql, "lockstep_hosts")} where host = $1 returning host`,
    [host],
  );
  return gone.length > 0;
}

/**
 * The code versions the counted hosts run (oldest first) and for how long
 * they have differed: since the first of them moved off the oldest version;
 * `null` when they all run one version.
 */
export function mixedVersions(
  hosts: readonly FleetHost[],
): { versions: string[]; sinceSeconds: number } | null {
  const running = hosts.filter(counts)
    .sort((a, b) => newestFirst(b.codeVersion, a.codeVersion));
  const versions = [...new Set(running.map((h) => h.codeVersion ?? "unversioned"))];
  if (versions.length < 2) return null;
  const moved = running.filter((h) => h.codeVersion !== running[0]!.codeVersion);
  return { versions, sinceSeconds: Math.max(...moved.map((h) => h.versionAgeSeconds)) };
}

/** True when `host` counts as running code: not stopped, not stale. */
export function counts(host: FleetHost): boolean {
  return host.state !== "stopped" && !host.stale;
}

function newestFirst(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return compare(b, a);
}

function packsOf(value: unknown): Record<string, string> {
  try {
    const parsed = JSON.parse(String(value));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  } catch {
    return {};
  }
}

/**
 * Records this host's state (and the code version it has, by default the
 * version file's) in every shared database; nothing without a fleet or a
 * host id. Returns what could not be written (the caller reports it).
 */
export async function announce(
  config: Config,
  state: HostState,
  codeVersion?: string | null,
): Promise<string[]> {
  if (config.fleet === null) return [];
  const host = await hostId(config);
  if (host === null) return ["this host has no id"];
  return await register(config, await hostFacts(config, host, codeVersion), state);
}

/**
 * The other counted hosts of shared database `database` that run `release`
 * or newer: hosts that started on what this host's run migrated.
 */
export async function othersOn(
  config: Config,
  database: string,
  release: string | null,
): Promise<FleetHost[]> {
  if (config.fleet === null || release === null) return [];
  const self = await knownHostId(config);
  await using connections = new Connections(config, { readOnly: true });
  const hosts = await readHosts(
    await connections.get(database),
    database,
    config.fleet.staleAfterSeconds,
  );
  return hosts.filter((h) =>
    h.host !== self && counts(h) && h.codeVersion !== null && compare(h.codeVersion, release) >= 0
  );
}
