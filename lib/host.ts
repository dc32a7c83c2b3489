/**
 * Facts about this host and the installed code that lockstep records with
 * each change.
 *
 * @module
 */
import type { Config } from "./config.ts";

/** The installed code version from the version file, or `null` when there is none. */
export async function readCodeVersion(config: Pick<Config, "versionFile">): Promise<string | null> {
  try {
    const text = (await Deno.readTextFile(config.versionFile)).trim();
    return text === "" ? null : text;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * This host's name when `--allow-sys=hostname` is granted, else `null`:
 * recording it is useful, not worth an extra permission.
 */
export function hostName(): string | null {
  const state = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state;
  return state === "granted" ? Deno.hostname() : null;
}

/** A compact UTC timestamp for file names: `20261121T101500Z`. */
export function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
