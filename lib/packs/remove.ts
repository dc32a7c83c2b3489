/**
 * `pack remove NAME [--purge]`: a backup first, then the pack's folder moved
 * out through the same crash-safe journal as an install (a crash leaves the
 * old tree or the new one, never a mix). Its ledger rows stay known (never
 * "ahead of the code"), so a later reinstall resumes them; its tables stay.
 * With `--purge` its migrations are undone first (see `purge.ts`). Refused
 * while installed packs require it.
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import type { Step, StepResult } from "../flow.ts";
import type { SafetyOptions } from "../guard.ts";
import { type JournalFile, type JournalStep, refuseOpenJournal, Transaction } from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { refusal } from "../problems.ts";
import { readState } from "../state.ts";
import { check } from "../check.ts";
import { consentOf, recordPackEvent } from "./events.ts";
import { packHasDependents, packNotInstalled } from "./problems.ts";
import { judgePurge, type PurgePlan, runPurge } from "./purge.ts";
import { recordPackRemoval } from "./record.ts";
import { loadPacks, packDatabase } from "./registry.ts";
import {
  guardPackRun,
  type PackRun,
  type PackStep,
  undoCodeStep,
  undoDatabasesStep,
} from "./run.ts";
import { dependentsOf } from "./status.ts";

/** Options for {@link removePack}. */
export interface PackRemoveOptions extends SafetyOptions {
  /** Also undo its migrations (default `false`: its tables and ledger rows stay). */
  purge?: boolean;
  /** Asked with the plan before anything changes; resolve `false` to stop. Default: go ahead. */
  confirm?: (plan: PackRemovePlan) => Promise<boolean>;
  /** Who removes it, recorded in the event log (default `a program`). */
  by?: string;
  /** Receives each step as it finishes. */
  onStep?: (step: StepResult<PackStep>) => void;
  /** Receives each step of the file transaction. */
  onProgress?: (event: { step: JournalStep; path?: string }) => void;
  /** How long to wait for another process's migration lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
}

/** What {@link removePack} will do. */
export interface PackRemovePlan {
  /** The pack. */
  readonly pack: string;
  /** Its installed version. */
  readonly version: string;
  /** The files moved out, relative to the app root. */
  readonly files: readonly string[];
  /** The migrations `--purge` undoes, newest first (empty without it). */
  readonly purge: readonly string[];
  /** The pack's database, when its declaration names one. */
  readonly database: string | null;
}

/** What {@link removePack} did. */
export interface PackRemoveResult extends PackRemovePlan {
  /** False when `confirm` declined: nothing changed. */
  readonly confirmed: boolean;
  /** The backup taken first, or `null`. */
  readonly backup: string | null;
  /** Each step with its duration. */
  readonly steps: readonly StepResult[];
}

/**
 * Removes pack `name`: see the module documentation.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 *
 * @throws {LockstepError} `PACK_NOT_INSTALLED`, `PACK_HAS_DEPENDENTS`,
 * `PACK_PURGE_REFUSED` (a migration without a `down` step, or one another
 * package depends on), the blocking problems `check` reports, `LOCK_HELD`,
 * `JOURNAL_OPEN`, and a failed step's error (what it changed undone).
 * @example
 * ```ts ignore
 * await removePack(config, "reviews"); // files gone, tables and ledger rows kept
 * await removePack(config, "ratings", { purge: true }); // its down steps run first
 * ```
 */
export async function removePack(
  config: Config,
  name: string,
  options: PackRemoveOptions = {},
): Promise<PackRemoveResult> {
  const { purge = false, lockTimeoutMs = 30_000 } = options;
  const action = `remove pack "${name}"`;
  using _lock = await takeOperationLock(config, action);
  let purgePlan: PurgePlan | null = null;
  const confirm = options.confirm;
  const done = await guardPackRun(config, {
    command: "pack-remove",
    action,
    preflight: async () => {
      const planned = await planRemoval(config, name, purge, action);
      purgePlan = planned.purgePlan;
      return planned.plan;
    },
    detail: (plan) =>
      `pack ${name} ${plan.version}: ${plan.files.length} file(s)` +
      (purge ? `, ${plan.purge.length} migration(s) to undo` : ""),
    confirm: confirm && ((plan) => confirm(plan)),
    backupLabel: "before-pack-remove",
    maintenanceMessage: (plan) =>
      `Removing pack ${name} ${plan.version} from ${config.app}. Please try again in a few minutes.`,
    steps: (plan, run) => [
      ...(purgePlan === null ? [] : [purgeStep(config, name, purgePlan, run, lockTimeoutMs)]),
      removeStep(config, plan, run, { purged: purgePlan !== null, options }),
      {
        name: "record",
        run: async () => {
          if (plan.database === null) return "no database to record it in";
          const message = `pack ${name} ${plan.version} removed${
            purgePlan === null ? " (its tables and ledger rows are kept)" : " and purged"
          } by ${consentOf(options.by)}`;
          await recordPackEvent(
            config,
            plan.database,
            { kind: "pack-remove", message },
            lockTimeoutMs,
          );
          return `recorded in database "${plan.database}"`;
        },
      },
    ],
  }, options);
  if (done.status === "done") await removeEmptyFolders(join(config.packs.dir, name));
  return {
    ...done.plan,
    confirmed: done.status !== "declined",
    backup: done.backup?.id ?? null,
    steps: done.steps,
  };
}

/** Everything checked before anything changes. */
async function planRemoval(
  config: Config,
  name: string,
  purge: boolean,
  action: string,
): Promise<{ plan: PackRemovePlan; purgePlan: PurgePlan | null }> {
  await refuseOpenJournal(config, action);
  const state = await readState(config);
  const known = state.packs[name];
  if (known === undefined || known.version === null) {
    throw refusal(packNotInstalled(name, known !== undefined), action);
  }
  const loaded = await loadPacks(config, state);
  const dependents = dependentsOf(name, loaded);
  if (dependents.length > 0) throw refusal(packHasDependents(name, dependents), action);
  const pack = loaded.find((p) => p.name === name)!;
  // A plan, shown before consent (or for a dry run): it writes nothing, not even check's hints.
  const report = await check(config, { keepHints: false });
  const blocking = report.problems.filter((p) => p.severity === "blocked" && p.data.pack !== name);
  if (blocking.length > 0) {
    throw new LockstepError(
      blocking[0]!.code,
      `Cannot ${action}: check says the application is blocked: ${blocking[0]!.message} ` +
        `Resolve that first. Nothing was changed.`,
      { data: { problems: blocking.map((p) => p.code) } },
    );
  }
  if (purge && pack.declaration === null) {
    throw new LockstepError(
      "PACK_PURGE_REFUSED",
      `Cannot ${action} with --purge: its migrations cannot be found (${pack.problem?.message}). ` +
        `Nothing was changed.`,
      { data: { pack: name } },
    );
  }
  const purgePlan = purge
    ? await judgePurge(config, { ...pack, declaration: pack.declaration! }, loaded, action)
    : null;
  const database = pack.declaration === null
    ? null
    : packDatabase(config, pack.declaration) ?? null;
  const files = await listFiles(config, pack.folder);
  const plan = {
    pack: name,
    version: known.version,
    files,
    purge: purgePlan?.undo.map((m) => m.id) ?? [],
    database,
  };
  return { plan, purgePlan };
}

function purgeStep(
  config: Config,
  name: string,
  plan: PurgePlan,
  run: PackRun,
  lockTimeoutMs: number,
): Step<PackStep> {
  return {
    name: "purge",
    run: async (flow) => {
      await runPurge(config, name, plan, lockTimeoutMs);
      flow.changed(`database:${plan.database}`);
      return `${plan.undo.length} migration(s) undone on database "${plan.database}"`;
    },
    undo: undoDatabasesStep(config, run),
  };
}

/** Moves the pack's files out through the journal; the journal is kept for an undo. */
function removeStep(
  config: Config,
  plan: PackRemovePlan,
  run: PackRun,
  context: { purged: boolean; options: PackRemoveOptions },
): Step<PackStep> {
  const { onProgress } = context.options;
  return {
    name: "remove",
    run: async (flow) => {
      const tx = await Transaction.begin(config, config.root, (step, path) => {
        onProgress?.({ step, ...(path === undefined ? {} : { path }) });
      });
      for (const path of plan.files) tx.delete(path);
      flow.changed("code");
      await tx.apply("pack-remove", `remove pack ${plan.pack} ${plan.version}`, {
        pack: plan.pack,
        version: plan.version,
        purged: context.purged,
      });
      await recordPackRemoval(config, plan.pack, context.purged);
      run.journals.push(await tx.retain());
      return `${plan.files.length} file(s) moved out of ${
        relative(config.root, config.packs.dir)
      }/${plan.pack}`;
    },
    undo: undoCodeStep(config, run),
  };
}

/**
 * Finishes a committed removal a crash cut short (`recover`): records it in
 * state.json and removes the folders it left empty.
 */
export async function finishPackRemoval(config: Config, journal: JournalFile): Promise<void> {
  const pack = String(journal.data.pack);
  await recordPackRemoval(config, pack, journal.data.purged === true);
  await removeEmptyFolders(join(config.packs.dir, pack));
}

/** Every file (and link) under `folder`, relative to the app root, sorted. */
async function listFiles(config: Config, folder: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else out.push(relative(config.root, path).split(sep).join("/"));
    }
  };
  await walk(folder);
  return out.sort();
}

/** Removes `folder` and the folders under it that hold no file, deepest first. */
export async function removeEmptyFolders(folder: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isDirectory) await removeEmptyFolders(join(folder, entry.name));
  }
  await Deno.remove(folder).catch((error) => {
    // Not empty (Deno has no error class for it, only the code): something stays there.
    const notEmpty = (error as { code?: string }).code === "ENOTEMPTY";
    if (!(error instanceof Deno.errors.NotFound) && !notEmpty) throw error;
  });
}
