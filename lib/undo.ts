/**
 * Undoing a failed update: only what the run changed, nothing more.
 *
 * - **Code**: each bundle the run installed is rolled back through its kept
 *   install journal (the old files were moved aside, not deleted), newest
 *   first; state.json goes back to what it was; the bundles go back to
 *   `pending/`. Exact and fast: no restore of the whole tree.
 * - **Databases**: a database is restored from the run's backup only when
 *   migrations on it committed and cannot be rolled back (migrations run in
 *   one transaction per database roll back by themselves). Then only that
 *   database, and the writes made to it since the backup are gone: the
 *   caller says so.
 *
 * The plan is written (`updates/.lockstep/undo/plan.json`) before the first
 * step, and every step is safe to run again, so `recover` finishes an undo a
 * crash interrupted; `check` reports it (`UNDO_OPEN`) until then.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Config } from "./config.ts";
import { LockstepError, messageOf } from "./errors.ts";
import { announce } from "./fleet/registry.ts";
import { fault } from "./fault.ts";
import { pathExists, syncFolder, writeFileAtomic } from "./files.ts";
import { hostName, readCodeVersion } from "./host.ts";
import { rollBackRetained, undoFolder, undoPlanPath } from "./journal.ts";
import { type State, writeState } from "./state.ts";
import { readBackupManifest } from "./backup/list.ts";
import { hasLedger, recordEvent } from "./migrations/ledger.ts";
import { dialectOf } from "./sql/dialects.ts";
import { openDatabase } from "./sql/open.ts";

/** What an update must put back after a failure. */
export interface UndoPlan {
  /** What is being undone, for messages (`update shop 1.0.0 → 1.1.0`). */
  readonly label: string;
  /** When the undo began (ISO 8601, UTC). */
  readonly created: string;
  /** state.json before the update, put back with the code; `null` when the code did not change. */
  readonly state: State | null;
  /** The kept install journals, in the order they were applied. */
  readonly journals: readonly string[];
  /** The bundles the run installed (kept in `installed/`), to go back to `pending/`. */
  readonly bundles: readonly { readonly keptAs: string; readonly file: string }[];
  /** The backup the databases come back from. */
  readonly backup: string | null;
  /** The databases to restore from it: those on which migrations committed. */
  readonly databases: readonly string[];
  /**
   * In a fleet: the backup each shared database comes back from (the one this
   * run took before migrating it), by database.
   */
  readonly databaseBackups?: Readonly<Record<string, string>>;
  /**
   * In a fleet: shared databases on which migrations committed that are kept
   * as they are, and why (another host runs on them, or no backup of them is
   * here).
   */
  readonly kept?: readonly { readonly database: string; readonly reason: string }[];
}

/** The open undo plan, or `null`. Reads only. */
export async function readUndoPlan(config: Pick<Config, "updates">): Promise<UndoPlan | null> {
  try {
    return JSON.parse(await Deno.readTextFile(undoPlanPath(config)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Makes the undo durable before its first step: `recover` finishes it after a crash. */
export async function writeUndoPlan(
  config: Pick<Config, "updates">,
  plan: UndoPlan,
): Promise<void> {
  await Deno.mkdir(undoFolder(config), { recursive: true });
  await writeFileAtomic(
    undoPlanPath(config),
    new TextEncoder().encode(JSON.stringify(plan, null, 2) + "\n"),
    { mode: 0o600 },
  );
}

/**
 * Removes kept journals no undo needs: after a successful run, or left by a
 * run that died before it could fail (the next run starts clean). Refuses
 * nothing: an open plan is kept (callers refuse on it first).
 */
export async function discardKept(config: Pick<Config, "updates">): Promise<void> {
  if (pathExists(undoPlanPath(config))) return;
  await Deno.remove(undoFolder(config), { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** The code part: kept journals rolled back (newest first), state.json, bundles back to pending/. */
export async function undoCode(config: Config, plan: UndoPlan): Promise<string> {
  if (plan.state === null) return "nothing to roll back";
  for (const kept of plan.journals.toReversed()) await rollBackRetained(config, kept);
  await writeState(config, plan.state);
  for (const { keptAs, file } of plan.bundles) await putBack(config, keptAs, file);
  // The fleet must not count this host on the code it left: contract migrations wait for it.
  const unsaid = await announce(config, "updating").catch((error) => [messageOf(error)]);
  fault("undo:code");
  return `code back at ${(await readCodeVersion(config)) ?? "(no version)"}; ` +
    `${plan.bundles.length} bundle(s) back in pending/` +
    (unsaid.length > 0 ? `; the fleet's registry was not told (${unsaid.join("; ")})` : "");
}

/**
 * The database part: each database on which migrations committed, restored
 * from the backup (its artifact re-hashed first), and a `restored` event in
 * its ledger saying what was discarded.
 *
 * @throws {LockstepError} `BACKUP_INVALID` (the artifact changed since the
 * backup), and the dialect's restore errors.
 */
export async function undoDatabases(config: Config, plan: UndoPlan): Promise<string> {
  const kept = (plan.kept ?? []).map((k) => `database "${k.database}" kept: ${k.reason}`);
  if (plan.databases.length === 0) return ["no database to restore", ...kept].join("; ");
  for (const name of plan.databases) {
    const id = plan.databaseBackups?.[name] ?? plan.backup;
    if (id === null) {
      throw new LockstepError(
        "UPDATE_FAILED",
        `Cannot restore database "${name}": the update took no backup.`,
        { data: { databases: [...plan.databases] } },
      );
    }
    const { path, manifest } = await readBackupManifest(config, id);
    const entry = manifest.databases.find((db) => db.name === name);
    const target = config.databases[name];
    if (entry === undefined || target === undefined) {
      throw new LockstepError(
        "BACKUP_INVALID",
        `Cannot restore database "${name}": backup ${id} does not hold it.`,
        { data: { backup: id, database: name } },
      );
    }
    const artifact = join(path, entry.artifact);
    if (entry.format !== "absent") {
      // Loaded here: check reads undo plans at every start-up and never hashes one.
      const { hashFile } = await import("./hashing.ts");
      const actual = await hashFile(artifact);
      if (actual.sha256 !== entry.sha256) {
        throw new LockstepError(
          "BACKUP_INVALID",
          `Cannot restore database "${name}" from backup ${id}: ${entry.artifact} ` +
            `no longer matches its recorded SHA-256.`,
          { data: { backup: id, database: name } },
        );
      }
    }
    await dialectOf(entry).restore(target, artifact, entry.format);
    await noteRestore(config, name, id, manifest.created);
    fault("undo:database");
  }
  const from = [...new Set(plan.databases.map((n) => plan.databaseBackups?.[n] ?? plan.backup))];
  return [
    `database(s) ${quoted(plan.databases)} restored from backup ${from.join(", ")}`,
    ...kept,
  ].join("; ");
}

/** Runs (or finishes) a whole undo plan, then removes it. */
export async function runUndo(config: Config, plan: UndoPlan): Promise<string> {
  const databases = await undoDatabases(config, plan);
  const code = await undoCode(config, plan);
  await finishUndo(config);
  return `${code}; ${databases}`;
}

/** Removes the plan and the kept journals once every step of the undo succeeded. */
export async function finishUndo(config: Pick<Config, "updates">): Promise<void> {
  await Deno.remove(undoFolder(config), { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Logs in a restored database's ledger that it came back from a backup. */
async function noteRestore(
  config: Config,
  name: string,
  backup: string,
  created: string,
): Promise<void> {
  const db = await openDatabase(config.databases[name]!);
  try {
    if (!(await hasLedger(db))) return;
    await recordEvent(db, {
      kind: "restored",
      message:
        `restored from backup ${backup} (made ${created}): writes made since then were discarded`,
    }, { codeVersion: await readCodeVersion(config), host: hostName() });
  } finally {
    await db.close();
  }
}

/** Moves a bundle kept in installed/ back to pending/; one already there by that name wins. */
async function putBack(config: Config, keptAs: string, file: string): Promise<void> {
  await Deno.mkdir(config.pending, { recursive: true });
  try {
    await Deno.link(keptAs, join(config.pending, basename(file)));
  } catch (error) {
    // Put back already (a second run of the undo), or a bundle of that name is there.
    if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotFound) {
      return;
    }
    throw error;
  }
  await Deno.remove(keptAs);
  await syncFolder(config.pending);
}

function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(", ");
}
