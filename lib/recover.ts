/**
 * `recover`: after a crash, rolls an interrupted install or restore back to
 * exactly the previous tree, or finishes one whose files had committed (an
 * install's state.json and the move to `installed/`; a restore's state.json
 * and databases). Every other changing command refuses while a journal is
 * open.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { recoverJournal } from "./journal.ts";
import { takeOperationLock } from "./oplock.ts";
import { readState } from "./state.ts";
import { recoverRestore } from "./backup/restore.ts";
import { keep, record } from "./bundles/installed.ts";
import { inspectBundle } from "./bundles/pending.ts";
import { readUndoPlan, runUndo } from "./undo.ts";
import { openMigrationFiles, recoverMigrationFiles } from "./migrations/file_journal.ts";
import { Connections } from "./migrations/connections.ts";
import { readLedgers } from "./migrations/status.ts";
import { withPacks } from "./packs/registry.ts";
import { finishPackRemoval } from "./packs/remove.ts";
import { removeStrayProbes } from "./bundles/targets.ts";

/** What {@link recover} did. */
export interface RecoverResult {
  /** `none`: nothing to recover; `rolled-back`: the previous tree is back; `completed`: the install had committed and was finished. */
  readonly outcome: "none" | "rolled-back" | "completed";
  /** What was interrupted (`install shop 1.5.0`), when known. */
  readonly label: string | null;
}

/**
 * Rolls an interrupted install or restore back to exactly the previous
 * tree, or finishes one that had committed (an install's state.json and the
 * move to `installed/`; a restore's state.json and databases); then finishes
 * the undo of a failed update that a crash interrupted.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. PostgreSQL
 * restores need `--allow-run=pg_restore` for a pg_dump archive.
 *
 * @throws {LockstepError} `LOCK_HELD`.
 * @example
 * ```ts ignore
 * const { outcome } = await recover(config); // "none", "rolled-back" or "completed"
 * ```
 */
export async function recover(config: Config): Promise<RecoverResult> {
  using _lock = await takeOperationLock(config, "recover");
  const undo = await readUndoPlan(config);
  const result = await recoverJournal(config, async (journal) => {
    if (journal.kind === "restore") return await recoverRestore(config, journal);
    if (journal.kind === "pack-remove") return await finishPackRemoval(config, journal);
    // The files are in place; finish the records a crash cut short.
    const path = String(journal.data.bundle);
    const version = String(journal.data.version);
    const state = await readState(config);
    // Gone when the zip had already been moved to installed/: then the records are done too.
    const bundle = await inspectBundle(config, path);
    const pack = journal.data.pack === undefined ? undefined : String(journal.data.pack);
    const current = pack === undefined ? state.installed : state.packs[pack]?.version;
    if (current !== version && bundle.manifest) {
      await record(config, bundle, { version }, state.highWater);
    }
    if (bundle.manifest) {
      await keep(config, bundle);
    }
  });
  const files = await recoverFilesOfMigrations(config);
  // A preflight killed between making a probe file and removing it.
  await removeStrayProbes(config);
  if (undo === null) {
    if (files === null) return { outcome: result.outcome, label: result.label };
    return { outcome: "rolled-back", label: files };
  }
  // A failed update's undo was interrupted: finish putting things back.
  await runUndo(config, undo);
  return { outcome: "completed", label: `the undo of ${undo.label}` };
}

/**
 * Puts back the files of TypeScript migrations a crash interrupted (those
 * the ledger does not hold); returns what was recovered, or `null`.
 */
async function recoverFilesOfMigrations(config: Config): Promise<string | null> {
  const ids = await openMigrationFiles(config);
  if (ids.length === 0) return null;
  await using connections = new Connections(await withPacks(config), { readOnly: true });
  const applied = new Set((await readLedgers(connections)).rows.map((row) => row.id));
  const restored = await recoverMigrationFiles(config, (id) => applied.has(id));
  return `the file changes of ${ids.join(", ")} (${restored.length} file(s) put back)`;
}
