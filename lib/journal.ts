/**
 * Crash-safe file transactions over the app root, shared by install and
 * restore: stage new files, write a journal, move each old file aside and
 * rename each new one into place, commit, clean up. A crash at any point
 * leaves a journal that {@link recoverJournal} rolls back to exactly the
 * previous tree (or, once committed, finishes).
 *
 * Layout: `<work>/journal/journal.json`, `staging/<path>`, `aside/<path>`,
 * where `<work>` is `updates/.lockstep` (on the app root's filesystem, so
 * every move is a rename).
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Config } from "./config.ts";
import { fault } from "./fault.ts";
import { journalOpen, refusal, undoOpen } from "./problems.ts";
import { pathExists, syncFolder, writeFileAtomic } from "./files.ts";
import { workFolder } from "./oplock.ts";
import { createAhead } from "./create_ahead.ts";

/** One change to one file under the root. */
export interface JournalEntry {
  /** Root-relative path. */
  readonly path: string;
  /** `write`: the staged file replaces or creates it; `delete`: it is removed. */
  readonly action: "write" | "delete";
  /** Whether the path existed when the journal was written. */
  readonly existed: boolean;
}

/** What journal.json holds. */
export interface JournalFile {
  readonly kind: "install" | "restore" | "pack-remove";
  /** What is being done, for messages (`install shop 1.5.0`). */
  readonly label: string;
  readonly root: string;
  readonly created: string;
  readonly state: "prepared" | "committed";
  readonly entries: readonly JournalEntry[];
  /** Folders created under the root for new files, outermost first. */
  readonly folders: readonly string[];
  /** Free-form facts the owner needs to finish (the bundle, the version). */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A step of applying, for fault injection and progress. */
export type JournalStep = "staged" | "journaled" | "aside" | "moved" | "deleted" | "committed";

/** Called after each step, for progress displays (the fault point of the same name follows). */
export type StepHook = (step: JournalStep, path?: string) => void | Promise<void>;

function journalFolder(config: Pick<Config, "updates">): string {
  return join(workFolder(config), "journal");
}

/**
 * Where committed transactions are kept, old files aside, while the run
 * that made them may still have to undo them (`update`), with the plan of an
 * undo under way (`plan.json`).
 */
export function undoFolder(config: Pick<Config, "updates">): string {
  return join(workFolder(config), "undo");
}

/** The plan of an undo under way: while it exists, the undo is unfinished. */
export function undoPlanPath(config: Pick<Config, "updates">): string {
  return join(undoFolder(config), "plan.json");
}

/** The open journal, or `null`. Reads only: `check` uses it. */
export async function readJournal(config: Pick<Config, "updates">): Promise<JournalFile | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(journalFolder(config), "journal.json")));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Refuses to go on while a journal is open (an interrupted install or restore).
 *
 * @throws {LockstepError} `JOURNAL_OPEN`.
 */
export async function refuseOpenJournal(
  config: Pick<Config, "updates">,
  action: string,
): Promise<void> {
  const open = await readJournal(config);
  const staging = pathExists(journalFolder(config));
  if (open !== null || staging) throw refusal(journalOpen(describeJournal(open)), action);
  if (pathExists(undoPlanPath(config))) throw refusal(undoOpen(), action);
}

/** What the problem catalogue needs to word an open journal (`null`: only a staging folder). */
export function describeJournal(
  journal: JournalFile | null,
): {
  label: string | null;
  created: string | null;
  committed: boolean;
  kind: JournalFile["kind"] | null;
} {
  return {
    label: journal?.label ?? null,
    created: journal?.created ?? null,
    committed: journal?.state === "committed",
    kind: journal?.kind ?? null,
  };
}

/** fsyncs in flight at once: the filesystem batches concurrent ones into few journal commits. */
const SYNCS = 32;

/** A file transaction being built and applied. */
export class Transaction {
  readonly #config: Pick<Config, "updates">;
  readonly #root: string;
  readonly #folder: string;
  readonly #entries: JournalEntry[] = [];
  readonly #onStep: StepHook;
  readonly #missing = new Set<string>();
  /** Staged files whose data is being (or was) fsynced by {@link written}. */
  readonly #synced = new Set<string>();
  readonly #syncing = new Set<Promise<void>>();
  #syncFailure: { error: unknown } | undefined;

  private constructor(config: Pick<Config, "updates">, root: string, onStep: StepHook) {
    this.#config = config;
    this.#root = root;
    this.#folder = journalFolder(config);
    this.#onStep = async (step, path) => {
      await onStep(step, path);
      fault(step);
    };
  }

  /**
   * Starts a transaction: makes the journal folder, which must not exist.
   *
   * @throws {LockstepError} `JOURNAL_OPEN`.
   */
  static async begin(
    config: Pick<Config, "updates">,
    root: string,
    onStep: StepHook = () => {},
  ): Promise<Transaction> {
    await refuseOpenJournal(config, "start a file transaction");
    await Deno.mkdir(workFolder(config), { recursive: true });
    await Deno.mkdir(journalFolder(config));
    await Deno.mkdir(join(journalFolder(config), "staging"));
    await Deno.mkdir(join(journalFolder(config), "aside"));
    return new Transaction(config, root, onStep);
  }

  /** Where to write the new content of `path` before {@link commit}. */
  stagingPath(path: string): string {
    return join(this.#folder, "staging", ...path.split("/"));
  }

  /** Records that `path` gets the staged file (already written to {@link stagingPath}). */
  write(path: string): void {
    this.#entries.push({ path, action: "write", existed: this.#exists(path) });
  }

  /**
   * Stages `files` (root-relative paths, each created with its mode) in
   * order: their folders made once each, each file created a few ahead on
   * the thread pool ({@link createAhead}: creating a small file costs more
   * than writing it), filled by `fill` while open (given its index and its
   * staging path), then {@link written}. A file `fill` fails on is closed and
   * the failure thrown.
   */
  async stageAll(
    files: readonly { readonly path: string; readonly mode: number }[],
    fill: (index: number, out: Deno.FsFile, staged: string) => Promise<void>,
  ): Promise<void> {
    const staged = files.map((file) => ({ path: this.stagingPath(file.path), mode: file.mode }));
    for (const folder of new Set(staged.map((file) => dirname(file.path)))) {
      Deno.mkdirSync(folder, { recursive: true });
    }
    let index = 0;
    for await (const out of createAhead(staged)) {
      const at = index++;
      try {
        await fill(at, out, staged[at]!.path);
      } catch (error) {
        out.close();
        throw error;
      }
      // fsynced while the next files are staged, then closed.
      await this.written(files[at]!.path, out);
    }
  }

  /**
   * {@link write}, for a staged file still open as `file` once its content
   * is written: its data is fsynced now on Deno's thread pool (a few dozen
   * at once), while the next files are staged, and the file is closed after.
   * {@link apply} waits for every sync before it writes the journal; a sync
   * that failed is thrown here or there.
   */
  async written(path: string, file: Deno.FsFile): Promise<void> {
    this.write(path);
    this.#synced.add(path);
    const syncing: Promise<void> = file.syncData().finally(() => file.close()).then(
      () => undefined,
      (error) => {
        this.#syncFailure ??= { error };
      },
    ).finally(() => this.#syncing.delete(syncing));
    this.#syncing.add(syncing);
    if (this.#syncing.size >= SYNCS) await Promise.race(this.#syncing);
    this.#throwSyncFailure();
  }

  #throwSyncFailure(): void {
    if (this.#syncFailure !== undefined) throw this.#syncFailure.error;
  }

  /**
   * Whether anything is at root-relative `path`, remembering the folders
   * found missing: the files of a new folder cost no failed lstat each
   * (an error object per missing file cost more than writing the file).
   */
  #exists(path: string): boolean {
    const folder = dirname(path);
    if (folder !== "." && this.#missing.has(folder)) return false;
    if (pathExists(join(this.#root, path))) return true;
    if (folder !== "." && !pathExists(join(this.#root, folder))) this.#missing.add(folder);
    return false;
  }

  /** Records that `path` is removed. */
  delete(path: string): void {
    if (pathExists(join(this.#root, path))) {
      this.#entries.push({ path, action: "delete", existed: true });
    }
  }

  /**
   * Whether a file can be made in `folder`: makes and removes a probe file,
   * listed in the journal folder first so that {@link recoverJournal} removes
   * it after a crash. Returns why not, or `undefined`.
   */
  probeWritable(folder: string): string | undefined {
    const probe = join(folder, `.lockstep-probe-${crypto.randomUUID()}`);
    const list = Deno.openSync(join(this.#folder, "probes"), { append: true, create: true });
    try {
      list.writeSync(new TextEncoder().encode(`${probe}\n`));
      list.syncSync();
    } finally {
      list.close();
    }
    try {
      Deno.writeFileSync(probe, new Uint8Array(), { createNew: true });
      Deno.removeSync(probe);
      return undefined;
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** Drops everything staged; for failures before {@link apply}. */
  async abandon(): Promise<void> {
    await Promise.all(this.#syncing);
    await Deno.remove(this.#folder, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /**
   * Writes the journal, then moves each old file aside and each new one in,
   * then commits. `data` is kept in the journal for the owner, who records
   * the outcome and then calls {@link finish}; a crash in between is
   * finished by {@link recoverJournal}.
   */
  async apply(
    kind: JournalFile["kind"],
    label: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    await this.#onStep("staged");
    const folders = this.#foldersToCreate();
    const journal: JournalFile = {
      kind,
      label,
      root: this.#root,
      created: new Date().toISOString(),
      state: "prepared",
      entries: this.#entries,
      folders,
      data,
    };
    await syncFiles(
      this.#entries.filter((e) => e.action === "write" && !this.#synced.has(e.path))
        .map((e) => this.stagingPath(e.path)),
    );
    await Promise.all(this.#syncing);
    this.#throwSyncFailure();
    await syncTree(join(this.#folder, "staging"));
    await this.#writeJournal(journal);
    await this.#onStep("journaled");
    const touched = new Set<string>();
    // Removals first: a file may stand where a folder of new files goes, and the
    // files of a folder a new file replaces must be out of it first.
    for (const entry of this.#entries) {
      if (entry.action !== "delete") continue;
      const target = join(this.#root, entry.path);
      const aside = asidePath(this.#folder, entry);
      Deno.mkdirSync(dirname(aside), { recursive: true });
      Deno.renameSync(target, aside);
      await this.#onStep("aside", entry.path);
      await this.#onStep("deleted", entry.path);
      touched.add(dirname(target));
    }
    for (const folder of folders) {
      try {
        Deno.mkdirSync(join(this.#root, folder));
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
    }
    for (const entry of this.#entries) {
      if (entry.action !== "write") continue;
      const target = join(this.#root, entry.path);
      if (entry.existed) {
        const aside = asidePath(this.#folder, entry);
        Deno.mkdirSync(dirname(aside), { recursive: true });
        Deno.renameSync(target, aside);
        await this.#onStep("aside", entry.path);
      }
      Deno.renameSync(this.stagingPath(entry.path), target);
      await this.#onStep("moved", entry.path);
      touched.add(dirname(target));
    }
    for (const folder of touched) await syncFolder(folder);
    await this.#writeJournal({ ...journal, state: "committed" });
    await this.#onStep("committed");
  }

  /** Removes the journal after the owner has recorded a committed transaction. */
  async finish(): Promise<void> {
    await finish(this.#config);
  }

  /**
   * Instead of {@link finish}: keeps the committed journal, with the old
   * files aside, under the undo folder, so that {@link rollBackRetained}
   * can put the tree back later. Returns where it was kept.
   */
  async retain(): Promise<string> {
    const undo = undoFolder(this.#config);
    await Deno.mkdir(undo, { recursive: true });
    const kept = join(undo, `${Date.now()}-${crypto.randomUUID().slice(0, 8)}`);
    await Deno.rename(this.#folder, kept);
    await syncFolder(undo);
    await syncFolder(workFolder(this.#config));
    return kept;
  }

  #foldersToCreate(): string[] {
    const out: string[] = [];
    for (const entry of this.#entries) {
      if (entry.action !== "write") continue;
      const parts = entry.path.split("/").slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const folder = parts.slice(0, i).join("/");
        if (out.includes(folder)) continue;
        // A file where the folder goes is removed first (it is a removal of this transaction).
        if (!isFolder(join(this.#root, folder))) out.push(folder);
      }
    }
    return out;
  }

  async #writeJournal(journal: JournalFile): Promise<void> {
    await writeFileAtomic(
      join(this.#folder, "journal.json"),
      new TextEncoder().encode(JSON.stringify(journal, null, 2) + "\n"),
      { mode: 0o600 },
    );
  }
}

/**
 * fsyncs the staged files' data, many at once: the filesystem batches
 * concurrent syncs into few journal commits, where one after another costs
 * a commit each (2,000 small files here: 1.3 s instead of 2.6 s).
 */
async function syncFiles(paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const file = await Deno.open(paths[next++]!, { read: true });
      try {
        await file.syncData();
      } finally {
        file.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SYNCS, paths.length) }, worker));
}

async function syncTree(folder: string): Promise<void> {
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isDirectory) await syncTree(join(folder, entry.name));
  }
  await syncFolder(folder);
}

/**
 * Removes the probe files listed in `folder`'s `probes` list (a crash can
 * come between making a probe and removing it), then the list.
 */
export async function removeProbes(folder: string): Promise<void> {
  let list: string;
  try {
    list = await Deno.readTextFile(join(folder, "probes"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (
    const probe of list.split("\n").filter((line) => /\/\.lockstep-probe-[0-9a-f-]{36}$/.test(line))
  ) {
    await Deno.remove(probe).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** Removes the journal folder after a commit. */
async function finish(config: Pick<Config, "updates">): Promise<void> {
  await Deno.remove(journalFolder(config), { recursive: true });
  await syncFolder(workFolder(config));
}

/** What {@link recoverJournal} did. */
export interface Recovery {
  /** `none`: no journal; `rolled-back`: the previous tree is back; `completed`: it had committed. */
  readonly outcome: "none" | "rolled-back" | "completed";
  /** The journal's label, for messages. */
  readonly label: string | null;
  /** The journal's kind and data, so the owner can finish its own records. */
  readonly journal: JournalFile | null;
}

/**
 * Rolls an interrupted transaction back to exactly the previous tree, or
 * finishes one that had committed (`onCommitted` completes the owner's
 * records first). Safe to run again after a crash of its own.
 */
export async function recoverJournal(
  config: Pick<Config, "updates">,
  onCommitted: (journal: JournalFile) => Promise<void> = () => Promise.resolve(),
): Promise<Recovery> {
  const folder = journalFolder(config);
  const journal = await readJournal(config);
  if (journal === null) {
    // Crashed while staging, before the journal was written: nothing under the root
    // changed but, perhaps, a writability probe.
    if (!pathExists(folder)) return { outcome: "none", label: null, journal: null };
    await removeProbes(folder);
    await Deno.remove(folder, { recursive: true });
    return { outcome: "rolled-back", label: null, journal: null };
  }
  if (journal.state === "committed") {
    await onCommitted(journal);
    await finish(config);
    return { outcome: "completed", label: journal.label, journal };
  }
  // In the reverse of apply's order: the new files out, the folders made for them, the removals back.
  const writes = journal.entries.filter((e) => e.action === "write").toReversed();
  const removals = journal.entries.filter((e) => e.action === "delete").toReversed();
  for (const entry of writes) {
    const target = join(journal.root, entry.path);
    const aside = asidePath(folder, entry);
    if (pathExists(aside)) {
      // A folder that a new file replaced cannot be renamed over that file.
      if (isFolder(aside)) await removeIfThere(target);
      Deno.renameSync(aside, target);
    } else if (!entry.existed && !pathExists(join(folder, "staging", entry.path))) {
      await removeIfThere(target);
    }
    await syncFolder(dirname(target)).catch(() => undefined);
  }
  for (const created of [...journal.folders].reverse()) {
    // Only a folder, and only if empty: a folder that holds anything else stays, and a file
    // there is one of the removals (not yet made, or back).
    const path = join(journal.root, created);
    if (isFolder(path)) await Deno.remove(path).catch(() => undefined);
  }
  for (const entry of removals) {
    const target = join(journal.root, entry.path);
    const aside = asidePath(folder, entry);
    if (pathExists(aside)) Deno.renameSync(aside, target);
    await syncFolder(dirname(target)).catch(() => undefined);
  }
  await finish(config);
  return { outcome: "rolled-back", label: journal.label, journal };
}

/**
 * Puts the tree back as it was before a retained transaction: the kept
 * journal is marked prepared, moved back into place, and rolled back by
 * {@link recoverJournal}. A crash at any point leaves either the kept folder
 * (run this again) or an open journal (`recover` rolls it back). Nothing
 * happens when the folder is gone (it was rolled back already).
 */
export async function rollBackRetained(
  config: Pick<Config, "updates">,
  kept: string,
): Promise<void> {
  let journal: JournalFile;
  try {
    journal = JSON.parse(await Deno.readTextFile(join(kept, "journal.json")));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  await writeFileAtomic(
    join(kept, "journal.json"),
    new TextEncoder().encode(JSON.stringify({ ...journal, state: "prepared" }, null, 2) + "\n"),
    { mode: 0o600 },
  );
  await Deno.rename(kept, journalFolder(config));
  await recoverJournal(config);
}

/**
 * Where an entry's old file waits: `aside/` for a file a new one replaces,
 * `removed/` for a removed one (apart, so a folder's removed files and the
 * folder a new file replaces never meet). Journals written before this
 * split kept both in `aside/`.
 */
function asidePath(folder: string, entry: JournalEntry): string {
  const split = join(folder, entry.action === "delete" ? "removed" : "aside", entry.path);
  if (entry.action === "delete" && !pathExists(split)) {
    const legacy = join(folder, "aside", entry.path);
    if (pathExists(legacy)) return legacy;
  }
  return split;
}

function isFolder(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
