/**
 * `pack remove --purge`: the pack's migrations undone, newest first, by
 * their `down` steps, in one transaction on the pack's database, with its
 * ledger rows forgotten and the schema recorded anew. Refused, with nothing
 * changed, unless every applied migration of the pack has a `down` step and
 * no migration of another package depends on any of the pack's.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, PackageConfig } from "../config.ts";
import { undoableFiles } from "../files.ts";
import { hostName, readCodeVersion } from "../host.ts";
import { context } from "../migrations/apply.ts";
import { discover } from "../migrations/discover.ts";
import { forgetPackage, readLedger } from "../migrations/ledger.ts";
import { recordSchema } from "../migrations/schema.ts";
import type { Migration } from "../migrations/types.ts";
import { refusal } from "../problems.ts";
import { openDatabase } from "../sql/open.ts";
import type { PackDeclaration } from "./declaration.ts";
import { packPurgeRefused } from "./problems.ts";
import { type LoadedPack, packDatabase } from "./registry.ts";

/** What a purge undoes. */
export interface PurgePlan {
  /** The pack's database. */
  readonly database: string;
  /** The applied migrations to undo, in the order they are undone (newest first). */
  readonly undo: readonly Migration[];
}

/**
 * Judges whether pack `name`'s migrations can be undone, changing nothing.
 *
 * @throws {LockstepError} `PACK_PURGE_REFUSED` naming the migrations without
 * a `down` step, or those of other packages that depend on the pack's.
 */
export async function judgePurge(
  config: Config,
  pack: LoadedPack & { declaration: PackDeclaration },
  loaded: readonly LoadedPack[],
  action: string,
): Promise<PurgePlan> {
  const { name, declaration } = pack;
  const database = packDatabase(config, declaration)!;
  const own: PackageConfig = {
    name,
    migrations: join(pack.folder, declaration.migrations),
    database,
  };
  const mine = (await discover([own], { missingIsEmpty: true })).migrations;
  const ids = new Set(mine.map((m) => m.id));
  const others = (await discover(otherPackages(config, name, loaded), { missingIsEmpty: true }))
    .migrations;
  const dependents = others.filter((m) => m.dependsOn.some((dep) => ids.has(dep)));
  if (dependents.length > 0) {
    const named = dependents.map((m) => m.id);
    throw refusal(
      packPurgeRefused(name, `migration(s) of other packages depend on them: ${named.join(", ")}`, {
        dependents: named,
      }),
      action,
    );
  }
  const db = await openDatabase(config.databases[database]!, { readOnly: true });
  let applied: Set<string>;
  try {
    applied = new Set((await readLedger(db)).filter((r) => r.package === name).map((r) => r.id));
  } finally {
    await db.close();
  }
  const unknown = [...applied].filter((id) => !ids.has(id));
  const withoutDown = mine.filter((m) => applied.has(m.id) && !hasDown(m)).map((m) => m.id);
  if (unknown.length > 0 || withoutDown.length > 0) {
    const are = (ids: readonly string[], one: string, many: string) =>
      `${ids.join(", ")} ${ids.length === 1 ? one : many}`;
    const reasons = [
      ...(withoutDown.length > 0
        ? [are(withoutDown, "has no down step", "have no down step")]
        : []),
      ...(unknown.length > 0
        ? [are(unknown, "is applied but not on disk", "are applied but not on disk")]
        : []),
    ];
    throw refusal(
      packPurgeRefused(name, reasons.join("; "), { withoutDown, unknown }),
      action,
    );
  }
  return { database, undo: mine.filter((m) => applied.has(m.id)).reverse() };
}

/** Every other package whose migrations could depend on the pack's: configured ones, other packs. */
function otherPackages(
  config: Config,
  name: string,
  loaded: readonly LoadedPack[],
): PackageConfig[] {
  const packages: PackageConfig[] = Object.values(config.packages).filter((p) =>
    !loaded.some((pack) => pack.name === p.name)
  );
  for (const pack of loaded) {
    if (pack.name === name || pack.declaration === null) continue;
    const database = packDatabase(config, pack.declaration);
    if (database === undefined) continue;
    packages.push({
      name: pack.name,
      migrations: join(pack.folder, pack.declaration.migrations),
      database,
    });
  }
  return packages;
}

function hasDown(migration: Migration): boolean {
  return migration.kind === "sql"
    ? migration.down !== undefined
    : typeof migration.module?.down === "function";
}

/**
 * Runs the purge: every `down` step in order, then the pack's ledger rows
 * forgotten, an event logged and the schema recorded, all in one transaction
 * (a failure rolls back all of it, and the file changes of TypeScript `down`
 * steps are undone).
 */
export async function runPurge(
  config: Config,
  name: string,
  plan: PurgePlan,
  lockTimeoutMs: number,
): Promise<void> {
  const target = config.databases[plan.database]!;
  const db = await openDatabase(target);
  const files = undoableFiles(config.root);
  const stamp = { codeVersion: await readCodeVersion(config), host: hostName() };
  try {
    const lock = await db.lock(lockTimeoutMs);
    try {
      await db.transaction(async (tx) => {
        for (const migration of plan.undo) {
          if (migration.module) {
            await migration.module.down!(
              context(tx, files, { yes: true, onLog() {}, onProgress() {} }),
            );
          } else await tx.exec(migration.down!);
        }
        const undone = plan.undo.map((m) => m.id);
        await forgetPackage(tx, name, {
          kind: "pack-purge",
          message: `pack ${name} purged: ${undone.length} migration(s) undone (${
            undone.join(", ")
          })`,
        }, stamp);
        await recordSchema(tx, target.schemas, stamp);
      });
    } catch (error) {
      await files.undo();
      throw error;
    } finally {
      await lock.release();
    }
  } finally {
    await db.close();
  }
}
