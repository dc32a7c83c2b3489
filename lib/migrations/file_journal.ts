/**
 * Crash safety for the files TypeScript migrations change (`ctx.files`):
 * before a migration first changes a file, the file's content (or its
 * absence) is written to `updates/.lockstep/migration-files/` and fsynced.
 * When the migration's transaction commits, its entries are forgotten;
 * when it fails, its changes are undone in memory and forgotten too.
 *
 * After a crash (SIGKILL, power loss) the database rolled back what had not
 * committed, and the files must follow: {@link recoverMigrationFiles} puts
 * back each file changed by a migration the ledger does not hold, and keeps
 * the changes of those it holds (they committed before the crash). `migrate`
 * and `recover` run it first; `check` reports an open file journal.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { type FileBefore, syncFolder, writeFileAtomic } from "../files.ts";
import { workFolder } from "../oplock.ts";

/** One file a migration changed: what it was before. */
interface Entry {
  /** Root-relative path. */
  readonly path: string;
  /** The migration that first changed it. */
  readonly id: string;
  /** The saved copy's file name in the journal folder, or `null` when the file did not exist. */
  readonly copy: string | null;
  /** Its mode, when it existed. */
  readonly mode: number;
}

/** The journal folder. */
export function migrationFilesFolder(config: Pick<Config, "updates">): string {
  return join(workFolder(config), "migration-files");
}

function indexPath(config: Pick<Config, "updates">): string {
  return join(migrationFilesFolder(config), "journal.json");
}

/** The migrations whose file changes an open journal holds (none: no journal). Reads only. */
export async function openMigrationFiles(config: Pick<Config, "updates">): Promise<string[]> {
  const entries = await readEntries(config);
  return [...new Set(entries.map((e) => e.id))];
}

async function readEntries(config: Pick<Config, "updates">): Promise<Entry[]> {
  try {
    return JSON.parse(await Deno.readTextFile(indexPath(config))).entries;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** The journal of one migrate run. */
export class FileJournal {
  readonly #config: Pick<Config, "updates">;
  #entries: Entry[] = [];
  /** The migration whose changes are being remembered now. */
  current = "";

  /** A journal for `config`'s updates folder; nothing is written until a file changes. */
  constructor(config: Pick<Config, "updates">) {
    this.#config = config;
  }

  /** Saves `before` (the file's state before the current migration first changes it). */
  async remember(path: string, before: FileBefore): Promise<void> {
    const folder = migrationFilesFolder(this.#config);
    await Deno.mkdir(folder, { recursive: true });
    let copy: string | null = null;
    if (before !== null) {
      copy = `${this.#entries.length}-${crypto.randomUUID().slice(0, 8)}`;
      await writeFileAtomic(join(folder, copy), before.data, { mode: 0o600 });
    }
    this.#entries.push({ path, id: this.current, copy, mode: before?.mode ?? 0o644 });
    await this.#write();
  }

  /** Forgets the entries of `ids` (their changes committed, or were undone). */
  async forget(ids: readonly string[]): Promise<void> {
    if (this.#entries.length === 0) return;
    const gone = new Set(ids);
    this.#entries = this.#entries.filter((e) => !gone.has(e.id));
    if (this.#entries.length > 0) await this.#write();
    else await removeFolder(this.#config);
  }

  async #write(): Promise<void> {
    await writeFileAtomic(
      indexPath(this.#config),
      new TextEncoder().encode(JSON.stringify({ entries: this.#entries }, null, 2) + "\n"),
      { mode: 0o600 },
    );
    await syncFolder(migrationFilesFolder(this.#config));
  }
}

/**
 * After a crash: puts back, newest first, every file changed by a migration
 * that `applied` says is not in the ledger, and removes the journal.
 * Returns the paths put back. Safe to run again.
 */
export async function recoverMigrationFiles(
  config: Pick<Config, "updates" | "root">,
  applied: (id: string) => boolean,
): Promise<string[]> {
  const entries = await readEntries(config);
  const folder = migrationFilesFolder(config);
  const restored: string[] = [];
  for (const entry of entries.toReversed()) {
    if (applied(entry.id)) continue;
    const target = join(config.root, ...entry.path.split("/"));
    if (entry.copy === null) {
      await Deno.remove(target).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    } else {
      await writeFileAtomic(target, await Deno.readFile(join(folder, entry.copy)), {
        mode: entry.mode,
      });
    }
    restored.push(entry.path);
  }
  await removeFolder(config);
  return restored;
}

async function removeFolder(config: Pick<Config, "updates">): Promise<void> {
  await Deno.remove(migrationFilesFolder(config), { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
