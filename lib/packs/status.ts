/**
 * Each pack as `check` and `pack list` report it: version, source,
 * enabled, requirements (and those the installed parts do not meet), the
 * packs that require it, and its pending migrations.
 *
 * @module
 */
import type { MigrationStatus } from "../migrations/status.ts";
import type { LoadedPack } from "./registry.ts";
import { unmetPackRequirements, type Versions } from "./requires.ts";

/** A pack lockstep knows (installed, disabled or removed). */
export interface PackStatus {
  /** Its name. */
  readonly name: string;
  /** The installed version, or `null` once removed (its ledger rows are kept). */
  readonly version: string | null;
  /** The feed that may update it, or `local`. */
  readonly source: string;
  /** False when disabled or removed: its migrations do not count. */
  readonly enabled: boolean;
  /** What it requires: `app` and `pack:<name>` ranges. */
  readonly requires: Readonly<Record<string, string>>;
  /** Each requirement the installed parts do not meet (for an enabled pack), as `app >=1.4 (have 1.3.0)`. */
  readonly unmet: readonly string[];
  /** The installed packs that require it. */
  readonly dependents: readonly string[];
  /** Its pending migrations; `null` when they do not count (disabled, removed) or cannot be read. */
  readonly pending: readonly string[] | null;
  /** Its folder. */
  readonly folder: string;
}

/** The versions requirements are judged against now: the app's, and each enabled pack's. */
export function installedVersions(
  codeVersion: string | null,
  loaded: readonly LoadedPack[],
): Versions {
  const packs = new Map<string, string>();
  for (const pack of loaded) {
    if (pack.state.version !== null && pack.state.enabled) packs.set(pack.name, pack.state.version);
  }
  return { app: codeVersion, packs };
}

/** The installed packs that require `name` (enabled or not). */
export function dependentsOf(name: string, loaded: readonly LoadedPack[]): string[] {
  return loaded.filter((p) => p.state.version !== null && `pack:${name}` in p.state.requires)
    .map((p) => p.name);
}

/** Every known pack's status. */
export function packStatuses(
  loaded: readonly LoadedPack[],
  codeVersion: string | null,
  migrations: MigrationStatus | null,
): PackStatus[] {
  const versions = installedVersions(codeVersion, loaded);
  return loaded.map((pack) => {
    const counted = pack.state.version !== null && pack.state.enabled && pack.problem === null;
    const own = migrations?.packages.find((p) => p.name === pack.name);
    return {
      name: pack.name,
      version: pack.state.version,
      source: pack.state.source,
      enabled: pack.state.version !== null && pack.state.enabled,
      requires: pack.state.requires,
      unmet: counted ? unmetPackRequirements(pack.state.requires, versions) : [],
      dependents: dependentsOf(pack.name, loaded),
      pending: !counted || migrations === null ? null : [...(own?.pending ?? [])],
      folder: pack.folder,
    };
  });
}
