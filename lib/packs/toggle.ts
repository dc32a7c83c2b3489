/**
 * `pack enable NAME` and `pack disable NAME`: a disabled pack keeps its
 * files, and its migrations stop counting (pending ones are not run, applied
 * ones stay known); `packs()` leaves it out, so the application does not load
 * it. Disabling refuses while installed packs require it; enabling refuses
 * while its own requirements are not met. Both write state.json only.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { readCodeVersion } from "../host.ts";
import { refuseOpenJournal } from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { refusal } from "../problems.ts";
import { readState } from "../state.ts";
import { packHasDependents, packNotInstalled, packRequirementUnmet } from "./problems.ts";
import { loadPacks } from "./registry.ts";
import { unmetPackRequirements } from "./requires.ts";
import { recordPackToggle } from "./record.ts";
import { dependentsOf, installedVersions } from "./status.ts";

/** What {@link enablePack} or {@link disablePack} did. */
export interface PackToggleResult {
  /** The pack. */
  readonly pack: string;
  /** Whether it is enabled now. */
  readonly enabled: boolean;
  /** False when it already was. */
  readonly changed: boolean;
}

/**
 * Enables installed pack `name`: its migrations count again, and `packs()`
 * lists it.
 *
 * Permissions: `--allow-read` and `--allow-write` on the updates folder, `--allow-read` on the
 * config's folder and the packs folder.
 *
 * @throws {LockstepError} `PACK_NOT_INSTALLED`, `PACK_INVALID` (its folder
 * cannot be used), `PACK_REQUIREMENT_UNMET`, `LOCK_HELD`, `JOURNAL_OPEN`.
 * @example
 * ```ts ignore
 * await enablePack(config, "reviews"); // then "lockstep migrate" runs its pending migrations
 * ```
 */
export async function enablePack(config: Config, name: string): Promise<PackToggleResult> {
  return await toggle(config, name, true);
}

/**
 * Disables installed pack `name`: its files stay, its migrations stop
 * counting, and `packs()` leaves it out.
 *
 * Permissions: `--allow-read` and `--allow-write` on the updates folder, `--allow-read` on the
 * config's folder and the packs folder.
 *
 * @throws {LockstepError} `PACK_NOT_INSTALLED`, `PACK_HAS_DEPENDENTS`,
 * `LOCK_HELD`, `JOURNAL_OPEN`.
 * @example
 * ```ts ignore
 * await disablePack(config, "reviews");
 * ```
 */
export async function disablePack(config: Config, name: string): Promise<PackToggleResult> {
  return await toggle(config, name, false);
}

async function toggle(config: Config, name: string, enable: boolean): Promise<PackToggleResult> {
  const action = `${enable ? "enable" : "disable"} pack "${name}"`;
  using _lock = await takeOperationLock(config, action);
  await refuseOpenJournal(config, action);
  const state = await readState(config);
  const known = state.packs[name];
  if (known === undefined || known.version === null) {
    throw refusal(packNotInstalled(name, known !== undefined), action);
  }
  if (known.enabled === enable) return { pack: name, enabled: enable, changed: false };
  const loaded = await loadPacks(config, state);
  if (enable) {
    const pack = loaded.find((p) => p.name === name)!;
    if (pack.problem !== null) {
      throw new LockstepError(
        "PACK_INVALID",
        `Cannot ${action}: ${pack.problem.message}. ` +
          `Nothing was changed.`,
        { data: pack.problem.data },
      );
    }
    const versions = installedVersions(await readCodeVersion(config), loaded);
    const unmet = unmetPackRequirements(known.requires, versions);
    if (unmet.length > 0) throw refusal(packRequirementUnmet(name, known.version, unmet), action);
  } else {
    const dependents = dependentsOf(name, loaded);
    if (dependents.length > 0) throw refusal(packHasDependents(name, dependents), action);
  }
  const next = await recordPackToggle(config, name, enable);
  return { pack: name, enabled: next.enabled, changed: true };
}
