/**
 * What a failed update on one host may do to a shared database: a host's
 * failure stays local. Migrations that committed on a shared database are
 * undone (the database restored) only when they include contract ones (the
 * previous release runs on expand ones), from the backup this run took
 * itself, and only while no other host runs the release they were made
 * for: else restoring it would undo the other hosts' work. Every database
 * kept says why.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { readCodeVersion } from "../host.ts";
import { Connections } from "../migrations/connections.ts";
import { readLedger } from "../migrations/ledger.ts";
import type { SharedBackup } from "./backup.ts";
import { othersOn } from "./registry.ts";

/** The shared databases to restore (with their backup) and those kept, with the reason. */
export interface SharedUndo {
  /** Database → the backup it comes back from. */
  readonly restore: Record<string, string>;
  /** The databases kept as they are. */
  readonly kept: { database: string; reason: string }[];
}

/**
 * Decides, for each shared database `changed` on which this run committed
 * migrations (`applied`), whether the undo restores it.
 */
export async function sharedUndo(
  config: Config,
  changed: readonly string[],
  backups: readonly SharedBackup[],
  applied: readonly string[],
): Promise<SharedUndo> {
  const restore: Record<string, string> = {};
  const kept: { database: string; reason: string }[] = [];
  const release = await readCodeVersion(config);
  for (const name of changed) {
    const mine = backups.find((b) => b.database === name && b.takenHere);
    const phases = await committedPhases(config, name, applied).catch(() => null);
    const others = await othersOn(config, name, release).catch(() => null);
    if (phases !== null && !phases.includes("contract")) {
      kept.push({
        database: name,
        reason: "what this run committed on it are expand migrations, which the previous " +
          "release runs on",
      });
    } else if (others === null) {
      kept.push({
        database: name,
        reason: "the fleet's registry could not be read to confirm that no host runs on it",
      });
    } else if (others.length > 0) {
      const hosts = others.map((h) => `${h.host} (${h.codeVersion})`).join(", ");
      kept.push({ database: name, reason: `host(s) ${hosts} already run on it` });
    } else if (mine === undefined) {
      kept.push({ database: name, reason: "this host did not back it up (another host did)" });
    } else {
      restore[name] = mine.backup;
    }
  }
  return { restore, kept };
}

/** The phases of the migrations among `ids` that the ledger of `database` holds. */
async function committedPhases(
  config: Config,
  database: string,
  ids: readonly string[],
): Promise<string[]> {
  await using connections = new Connections(config, { readOnly: true });
  const rows = await readLedger(await connections.get(database));
  return rows.filter((row) => ids.includes(row.id)).map((row) => row.phase);
}
