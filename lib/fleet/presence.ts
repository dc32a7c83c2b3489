/**
 * A host's presence in its fleet: registered as `running` the code it
 * starts with, refreshed by a heartbeat while it runs, and marked `stopped`
 * when it ends. `gate()` joins for a Deno application (its heartbeat never
 * keeps the process alive); `lockstep start` joins around the command it
 * runs and leaves when the command exits.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { hostFacts, hostId, type HostState, register } from "./registry.ts";

/** This host in the fleet, for as long as it runs. */
export interface FleetPresence {
  /** Its id, or `null` when it could not register (see `problems`) or there is no fleet. */
  readonly host: string | null;
  /** Why it is not registered in some shared database (empty when it is everywhere). */
  readonly problems: readonly string[];
  /** Stops the heartbeat and records `state` (default `stopped`); never throws. */
  leave(state?: HostState): Promise<void>;
}

/** Options for {@link joinFleet}. */
export interface JoinOptions {
  /** Refresh the registration every `fleet.staleAfterSeconds / 3` (default `true`). */
  heartbeat?: boolean;
}

/**
 * Registers this host as running its installed code in every shared
 * database and keeps it fresh; without `fleet` in lockstep.json it does
 * nothing. Registering never stops the application: what failed is in
 * `problems` (`gate()` reports it as `FLEET_UNREGISTERED`).
 *
 * Permissions: as `check` (`--allow-read` on the config's folder, the app root
 * and the updates folder; PostgreSQL `--allow-net=HOST:PORT`,
 * `--allow-env=PGAPPNAME`). Without `fleet.host`, the first join keeps a
 * generated id in `updates/state.json` when `--allow-write` on the updates
 * folder is granted (any changing command does that too).
 *
 * @throws {LockstepError} `FILE_INVALID` (a `state.json` that is not lockstep's).
 * @example
 * ```ts ignore
 * const presence = await joinFleet(config);
 * Deno.addSignalListener("SIGTERM", () => presence.leave().then(() => Deno.exit(0)));
 * ```
 */
export async function joinFleet(
  config: Config,
  options: JoinOptions = {},
): Promise<FleetPresence> {
  const nothing: FleetPresence = { host: null, problems: [], leave: () => Promise.resolve() };
  if (config.fleet === null) return nothing;
  const host = await hostId(config);
  if (host === null) {
    return {
      ...nothing,
      problems: [
        `it has no id: set "fleet.host", or run any changing lockstep command once to keep one`,
      ],
    };
  }
  const facts = await hostFacts(config, host);
  const problems = await register(config, facts, "running");
  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.heartbeat !== false) {
    let beating = false;
    const beat = setInterval(async () => {
      if (beating) return;
      beating = true;
      // A missed beat is retried at the next; staleness allows for two.
      await register(config, facts, "running").catch(() => {}).finally(() => beating = false);
    }, Math.max(1, config.fleet.staleAfterSeconds / 3) * 1000);
    Deno.unrefTimer(beat);
    timer = beat;
  }
  return {
    host,
    problems,
    async leave(state: HostState = "stopped") {
      clearInterval(timer);
      await register(config, facts, state).catch(() => {});
    },
  };
}
