/**
 * The only place lockstep reads the environment: `LOCKSTEP_CONFIG`,
 * `LOCKSTEP_FAULT` (the test facility), each database's `passwordEnv`, and
 * `USER` (who consented to a pack install), each only when its `--allow-env`
 * is granted. And where the config comes
 * from: `--config PATH`, else `$LOCKSTEP_CONFIG`, else `./lockstep.json`.
 *
 * @module
 */
import { type Config, loadConfig } from "../lib/config.ts";
import { LockstepError } from "../lib/errors.ts";
import type { ConfigNeed } from "./command.ts";

/** Reads a variable only when its permission is granted: a missing grant means "not set". */
export function readEnv(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) : undefined;
}

/**
 * Reads a `passwordEnv` variable when its permission is granted; a missing
 * grant throws `NotCapable` (never a prompt), so the database's message says
 * to grant `--allow-env=NAME` rather than that the variable is unset.
 */
export function readPassword(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  if (state !== "granted") throw new Deno.errors.NotCapable(`Requires env access to "${name}"`);
  return Deno.env.get(name);
}

/** The config file to read: `--config`, else `$LOCKSTEP_CONFIG`, else `lockstep.json`. */
export function configPath(flag: string | undefined): string {
  return flag ?? readEnv("LOCKSTEP_CONFIG") ?? "lockstep.json";
}

/**
 * Loads the config as a command needs it: `required` throws when there is
 * none; `optional` runs without one when there is none and no `--config`
 * named it; `none` never reads it.
 */
export async function loadConfigFor(
  need: ConfigNeed,
  flag: string | undefined,
): Promise<Config | undefined> {
  if (need === "none") return undefined;
  try {
    return await loadConfig(configPath(flag), readPassword);
  } catch (error) {
    const absent = error instanceof LockstepError && error.code === "CONFIG_NOT_FOUND";
    if (need === "optional" && flag === undefined && absent) return undefined;
    throw error;
  }
}

/**
 * Who consents to a pack change, as the event log records it: the user's
 * name (`$USER`, read when `--allow-env=USER` is granted) and how.
 */
export function operator(yes: boolean): string {
  const how = yes ? "--yes, unattended" : "confirmed at a terminal";
  return `${readEnv("USER") ?? "an operator"} (${how})`;
}
