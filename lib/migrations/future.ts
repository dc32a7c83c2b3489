/**
 * The migration plan of the code as it will be after an install, judged
 * before anything changes: the migrations folders are laid out as the
 * bundles will leave them (the current files, then each bundle's files and
 * removals in order) in a scratch folder, discovered and planned against
 * the ledgers and the live schema. What would block the application after
 * the install refuses it now: an applied migration the bundles change, a
 * migration older than applied ones, a cycle, an unknown dependency, a
 * database ahead of the new code, drift.
 *
 * A TypeScript migration is imported from the scratch folder: one that
 * imports application modules by a relative path outside its migrations
 * folder cannot load there, and is refused with that reason. The scratch
 * folder is under the updates folder: without write access there (the
 * read-only `install --dry-run` and `bundle inspect`) the plan is not judged.
 *
 * @module
 */
import { join, relative } from "node:path";
import type { Config, PackageConfig } from "../config.ts";
import { isLockstepError, LockstepError } from "../errors.ts";
import { workFolder } from "../oplock.ts";
import { openBundle } from "../bundles/archive.ts";
import { payloadPath } from "../packs/bundle.ts";
import type { Manifest } from "../bundles/manifest.ts";
import { databaseAhead, migrationChanged, refusal, schemaDrift } from "../problems.ts";
import { Connections } from "./connections.ts";
import { discover } from "./discover.ts";
import { plan } from "./plan.ts";
import { schemaStates } from "./schema.ts";
import { readLedgers } from "./status.ts";
import { planFor, readFleetFacts } from "../fleet/hold.ts";

/**
 * Refuses `action` (`install 1.5.0`) when the migrations after `bundles`
 * (in install order) could not run against the databases as they are.
 * Returns whether it judged (see the module documentation: not without
 * write access to the updates folder).
 *
 * @throws {LockstepError} `DATABASE_AHEAD`, `MIGRATION_CHANGED`,
 * `SCHEMA_DRIFT`, and the discovery and planning errors (`MIGRATION_CYCLE`,
 * `MIGRATION_UNKNOWN_DEPENDENCY`, `MIGRATION_ANCESTOR_UNAPPLIED`, …), each
 * saying that nothing was changed.
 */
export async function judgeFuture(
  config: Config,
  bundles: readonly { readonly path: string; readonly manifest: Manifest }[],
  action: string,
): Promise<boolean> {
  const writable = Deno.permissions.querySync({ name: "write", path: config.updates });
  if (writable.state !== "granted") return false;
  const scratch = join(workFolder(config), `preflight-${crypto.randomUUID()}`);
  try {
    const packages = await layOut(config, bundles, scratch);
    const discovered = await discover(packages);
    await using connections = new Connections(config, { readOnly: true });
    const { rows } = await readLedgers(connections);
    // In a fleet, the release installed last survives a newer release's expand migrations.
    const release = bundles.at(-1)?.manifest.version ?? null;
    const fleet = await readFleetFacts(config, connections, release);
    const future = plan(discovered.migrations, rows, {
      baselines: Object.values(discovered.baselines),
      tolerate: planFor(config, fleet, discovered.migrations).tolerate,
    });
    if (future.ahead.length > 0) throw refusal(databaseAhead(future.ahead), action);
    if (future.changed.length > 0) throw refusal(migrationChanged(future.changed), action);
    const drifted = (await schemaStates(connections)).filter((s) => s.changes.length > 0);
    if (drifted.length > 0) throw refusal(schemaDrift(drifted), action);
    return true;
  } catch (error) {
    if (!isLockstepError(error)) throw error;
    // Name the files where they will be, not in the scratch folder.
    const message = error.message.replaceAll(scratch, config.root);
    if (/Nothing was changed\.$/.test(message)) {
      throw new LockstepError(error.code, message, { cause: error, data: error.data });
    }
    throw new LockstepError(
      error.code,
      `Cannot ${action}: with its migrations, ${lowerFirst(message)} Nothing was changed.`,
      { cause: error, data: error.data },
    );
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/**
 * Copies each package's migrations folder under `scratch` and applies the
 * bundles' files and removals in it; returns the packages pointed there (a
 * folder outside the app root, which no bundle can change, stays as it is).
 */
async function layOut(
  config: Config,
  bundles: readonly { readonly path: string; readonly manifest: Manifest }[],
  scratch: string,
): Promise<PackageConfig[]> {
  const packages: PackageConfig[] = [];
  for (const pkg of Object.values(config.packages)) {
    const folder = relative(config.root, pkg.migrations);
    if (folder.startsWith("..")) {
      packages.push(pkg);
      continue;
    }
    const copy = join(scratch, folder);
    await Deno.mkdir(copy, { recursive: true });
    const entries = readFolder(pkg.migrations);
    for (const entry of entries ?? []) {
      if (entry.isFile) {
        await Deno.copyFile(join(pkg.migrations, entry.name), join(copy, entry.name));
      }
    }
    for (const bundle of bundles) await overlay(config, bundle, folder, copy);
    const brought = bundles.some((b) =>
      Object.keys(b.manifest.files).some((path) => path.startsWith(`${folder}/`))
    );
    // A folder neither on disk nor in a bundle is missing after the install too.
    packages.push({ ...pkg, migrations: entries === null && !brought ? pkg.migrations : copy });
  }
  return packages;
}

/** Writes `bundle`'s files under `folder` into `copy`, and removes its removals there. */
async function overlay(
  config: Config,
  bundle: { readonly path: string; readonly manifest: Manifest },
  folder: string,
  copy: string,
): Promise<void> {
  const inside = (path: string) =>
    path.startsWith(`${folder}/`) && !path.slice(folder.length + 1).includes("/");
  const writes = Object.keys(bundle.manifest.files).filter(inside);
  if (writes.length > 0) {
    await using archive = await openBundle(bundle.path, config.limits);
    for (const path of writes) {
      const target = join(copy, path.slice(folder.length + 1));
      await archive.extract(
        payloadPath(config, bundle.manifest, path),
        Deno.openSync(target, { write: true, create: true, truncate: true }),
      );
    }
  }
  for (const path of bundle.manifest.remove.filter(inside)) {
    await Deno.remove(join(copy, path.slice(folder.length + 1))).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** The folder's entries, or `null` when it does not exist (the bundles may bring it). */
function readFolder(path: string): Deno.DirEntry[] | null {
  try {
    return Array.from(Deno.readDirSync(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
