/**
 * The `fleet` section of `lockstep.json`: this host's id in the registry, and
 * how long a host may go unseen (stale) or the fleet may run mixed code
 * versions before `check` says so. Its presence is what makes the PostgreSQL
 * databases shared: the host registers, contract migrations wait for the
 * other hosts, and only the host that migrates backs the database up.
 *
 * @module
 */
import { type Fail, integer, object, onlyKeys, string } from "../config_fields.ts";

/** How this host takes part in a fleet. */
export interface FleetConfig {
  /** This host's id in `lockstep_hosts`; `null`: generated once and kept in `state.json`. */
  readonly host: string | null;
  /** A host unseen this long is stale: shown, never counted as running (default 300). */
  readonly staleAfterSeconds: number;
  /** `check` warns once hosts have run different code versions this long (default 86,400). */
  readonly mixedAfterSeconds: number;
}

const HOST = /^[A-Za-z0-9._:-]{1,128}$/;

/** Reads the `fleet` section; `null` when there is none (one host, nothing shared). */
export function readFleet(value: unknown, fail: Fail): FleetConfig | null {
  if (value === undefined) return null;
  const fleet = object(value, "fleet", fail);
  onlyKeys(fleet, "fleet", ["host", "staleAfterSeconds", "mixedAfterSeconds"], fail);
  const host = fleet.host === undefined ? null : string(fleet.host, "fleet.host", fail);
  if (host !== null && !HOST.test(host)) {
    fail(`"fleet.host" must be 1 to 128 letters, digits, ".", "_", ":" or "-", not "${host}"`);
  }
  const seconds = (key: "staleAfterSeconds" | "mixedAfterSeconds", fallback: number) =>
    fleet[key] === undefined ? fallback : integer(fleet[key], `fleet.${key}`, 1, fail);
  return {
    host,
    staleAfterSeconds: seconds("staleAfterSeconds", 300),
    mixedAfterSeconds: seconds("mixedAfterSeconds", 86_400),
  };
}
