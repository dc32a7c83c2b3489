/**
 * The packs, as an operator lists them (`pack list`) and as an application
 * loads them (`packs()`: the enabled ones, after `gate()`).
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isLockstepError, LockstepError } from "../errors.ts";
import { readCodeVersion } from "../host.ts";
import { Connections } from "../migrations/connections.ts";
import { type MigrationStatus, statusWith } from "../migrations/status.ts";
import { readState } from "../state.ts";
import { applyPacks, loadPacks } from "./registry.ts";
import { type PackStatus, packStatuses } from "./status.ts";

/** An enabled pack, as an application loads it. */
export interface EnabledPack {
  /** Its name. */
  readonly name: string;
  /** Its installed version. */
  readonly version: string;
  /** Its folder (absolute): where the application finds its code. */
  readonly folder: string;
  /** The feed that may update it, or `local`. */
  readonly source: string;
  /** What it requires. */
  readonly requires: Readonly<Record<string, string>>;
}

/**
 * Every pack lockstep knows, sorted by name: installed (enabled or not) and
 * removed (their ledger rows are kept), each with its version, source,
 * requirements (and those not met), the packs that require it, and its
 * pending migrations. Reads only; takes no lock.
 *
 * Permissions: `--allow-read` on the config's folder, the app root (packs and migration folders
 * included) and the updates folder (SQLite files are opened read-only); PostgreSQL adds
 * `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE`, `PERMISSION_DENIED`,
 * `FILE_INVALID` (state.json); a broken migration graph leaves `pending` `null`.
 * @example
 * ```ts ignore
 * for (const p of await listPacks(config)) console.log(p.name, p.version, p.enabled);
 * ```
 */
export async function listPacks(config: Config): Promise<PackStatus[]> {
  const loaded = await loadPacks(config, await readState(config));
  const effective = applyPacks(config, loaded);
  let migrations: MigrationStatus | null = null;
  await using connections = new Connections(effective, { readOnly: true });
  try {
    migrations = await statusWith(effective, connections);
  } catch (error) {
    // The migrations cannot be planned (check says why): the packs are listed all the same.
    if (!isLockstepError(error) || !/^MIGRATION_|^FILE_NOT_FOUND$/.test(error.code)) throw error;
  }
  return packStatuses(loaded, await readCodeVersion(config), migrations);
}

/**
 * The enabled packs, sorted by name, for an application that loads only
 * those (after `gate()` said it may start).
 *
 * Permissions: `--allow-read` on the updates folder and the packs folder.
 *
 * @throws {LockstepError} `PACK_INVALID` (an enabled pack whose folder or
 * declaration cannot be used: `gate()` refuses to start then too),
 * `FILE_INVALID` (state.json).
 * @example
 * ```ts ignore
 * await gate(config);
 * for (const pack of await packs(config)) await import(`${pack.folder}/mod.ts`);
 * ```
 */
export async function packs(config: Config): Promise<EnabledPack[]> {
  const loaded = await loadPacks(config, await readState(config));
  const out: EnabledPack[] = [];
  for (const pack of loaded) {
    if (pack.state.version === null || !pack.state.enabled) continue;
    if (pack.problem !== null) {
      throw new LockstepError("PACK_INVALID", `${pack.problem.message}.`, {
        data: pack.problem.data,
      });
    }
    out.push({
      name: pack.name,
      version: pack.state.version,
      folder: pack.folder,
      source: pack.state.source,
      requires: pack.state.requires,
    });
  }
  return out;
}
