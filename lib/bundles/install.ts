/**
 * `install` and `recover`: verify every applicable bundle before the first
 * write to the app root, then apply each, in version order, as its own
 * crash-safe file transaction; record it in state.json and move the zip to
 * `installed/`.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import type { Config } from "../config.ts";
import { compare } from "../deps/semver.ts";
import { isDiskFull, LockstepError } from "../errors.ts";
import { confined, syncFolder } from "../files.ts";
import { readCodeVersion, utcStamp } from "../host.ts";
import {
  faultHook,
  type JournalStep,
  recoverJournal,
  refuseOpenJournal,
  Transaction,
} from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { readState, type State, writeState } from "../state.ts";
import { recoverRestore } from "../backup/restore.ts";
import { openBundle } from "./archive.ts";
import type { Manifest } from "./manifest.ts";
import { chain, inspectBundle, type PendingBundle, readPending } from "./pending.ts";

/** Options for {@link install}. */
export interface InstallOptions {
  /** Install this zip only (default: every applicable bundle in `pending/`). */
  bundle?: string;
  /** Verify and report what would change; write nothing (default `false`). */
  dryRun?: boolean;
  /**
   * Asked with the versions about to be installed, after the checks that need
   * no staging and before anything is written; resolve `false` to stop.
   * Default: go ahead.
   */
  confirm?: (versions: readonly string[]) => Promise<boolean>;
  /** Receives each step of each bundle. */
  onProgress?: (
    event: { bundle: string; step: JournalStep | "verified" | "recorded"; path?: string },
  ) => void;
  /**
   * Test facility: the process exits at once (status 137, no clean-up) after
   * the named step, `<step>` or `<step>:<n>` for its n-th occurrence. The CLI
   * reads it from `LOCKSTEP_FAULT` when `--allow-env=LOCKSTEP_FAULT` is granted.
   */
  fault?: string;
}

/** One bundle `install` installed, or would install. */
export interface InstalledBundle {
  /** The zip's file name. */
  readonly file: string;
  /** The version it installed. */
  readonly version: string;
  /** The version it replaced (`null` without a version file). */
  readonly from: string | null;
  /** Files written (created or replaced). */
  readonly writes: readonly string[];
  /** Files removed. */
  readonly removes: readonly string[];
  /** Where the zip was moved (not for dry runs). */
  readonly keptAs?: string;
}

/** What {@link install} did. */
export interface InstallResult {
  /** Bundles installed (or that would be, for dry runs), in order. */
  readonly installed: readonly InstalledBundle[];
  /** Bundles refused, with the reason; each was left where it was. */
  readonly refused: readonly { file: string; version?: string; code: string; message: string }[];
  /** True for `dryRun`. */
  readonly dryRun: boolean;
  /** False when `confirm` declined: nothing was installed. */
  readonly confirmed: boolean;
}

/**
 * Installs the applicable pending bundles (or `options.bundle`) in version
 * order. Refused bundles stay where they are and are reported; the chain
 * stops at the first refused bundle above the installed version.
 *
 * @throws {LockstepError} `JOURNAL_OPEN`, `LOCK_HELD`, and, for the bundle being
 * installed, `BUNDLE_*` refusals found while staging, `DISK_FULL`.
 */
export async function install(
  config: Config,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const { dryRun = false, onProgress } = options;
  const fault = faultHook(options.fault);
  await refuseOpenJournal(config, "install");
  using _lock = dryRun ? undefined : await takeOperationLock(config, "install");
  const state = await readState(config);
  const current = await readCodeVersion(config);
  const found = options.bundle === undefined
    ? await readPending(config)
    : [await inspectBundle(config, options.bundle)];
  const refused: InstallResult["refused"][number][] = [];
  const refuse = (bundle: PendingBundle, code: string, message: string) =>
    refused.push({
      file: bundle.file,
      ...(bundle.manifest ? { version: bundle.manifest.version } : {}),
      code,
      message,
    });
  // Bundles whose manifest could not be read have no place in the version order.
  for (const bundle of found) {
    if (bundle.problem && !bundle.manifest) {
      refuse(bundle, bundle.problem.code, bundle.problem.message);
    }
  }
  const installed: InstalledBundle[] = [];
  let blocked = false;
  let high = state.highWater;
  const steps = chain(found, current, state.highWater);
  const candidates = steps.filter((s) => !s.refusal).map((s) => s.bundle.manifest!.version);
  if (!dryRun && candidates.length > 0 && options.confirm && !(await options.confirm(candidates))) {
    return { installed: [], refused, dryRun, confirmed: false };
  }
  for (const step of steps) {
    const { bundle, from } = step;
    if (step.refusal) {
      const message = bundle.problem?.message ??
        `Cannot install bundle "${bundle.file}": ${step.refusal.reason}. It was left where it is.`;
      refuse(bundle, step.refusal.code, message);
      continue;
    }
    // A bundle that failed while staging stops the rest of the chain too.
    if (blocked) {
      refuse(
        bundle,
        "BUNDLE_NOT_APPLICABLE",
        `Cannot install bundle "${bundle.file}": an earlier bundle in the chain was refused. It was left where it is.`,
      );
      continue;
    }
    try {
      const { finish, ...done } = await installOne(config, bundle, from, {
        dryRun,
        fault,
        onProgress,
      });
      if (dryRun) {
        installed.push(done);
        continue;
      }
      high = await record(config, bundle, done, high, fault);
      const keptAs = await keep(config, bundle, fault);
      await finish();
      installed.push({ ...done, keptAs });
    } catch (error) {
      if (
        !(error instanceof LockstepError) || error.code === "LOCK_HELD" ||
        error.code === "JOURNAL_OPEN"
      ) throw error;
      refuse(bundle, error.code, error.message);
      blocked = true;
    }
  }
  return { installed, refused, dryRun, confirmed: true };
}

async function installOne(
  config: Config,
  bundle: PendingBundle,
  from: string | null,
  run: { dryRun: boolean; fault: (step: string) => void; onProgress: InstallOptions["onProgress"] },
): Promise<InstalledBundle & { finish: () => Promise<void> }> {
  const manifest = bundle.manifest!;
  const versionFile = relative(config.root, config.versionFile);
  const writes = Object.keys(manifest.files).filter((p) => p !== versionFile);
  const result = {
    file: bundle.file,
    version: manifest.version,
    from,
    writes: [...writes, versionFile],
    removes: [...manifest.remove],
  };
  if (run.dryRun) {
    await preflight(config, bundle.file, manifest, writes, undefined);
    return { ...result, finish: () => Promise.resolve() };
  }

  const label = `install ${config.app} ${manifest.version}`;
  const tx = await Transaction.begin(config, config.root, (step, path) => {
    run.onProgress?.({ bundle: bundle.file, step, ...(path === undefined ? {} : { path }) });
    run.fault(step);
  });
  try {
    await preflight(config, bundle.file, manifest, writes, tx);
    await using archive = await openBundle(bundle.path, config.limits);
    for (const path of writes) {
      const staged = tx.stagingPath(path);
      const mode = manifest.files[path]!.mode;
      Deno.mkdirSync(dirname(staged), { recursive: true });
      await archive.extract(path, Deno.openSync(staged, { write: true, createNew: true, mode }));
      Deno.chmodSync(staged, mode);
      tx.write(path);
    }
    const staged = tx.stagingPath(versionFile);
    await Deno.mkdir(dirname(staged), { recursive: true });
    await Deno.writeTextFile(staged, `${manifest.version}\n`, { createNew: true });
    for (const path of manifest.remove) tx.delete(path);
    tx.write(versionFile);
  } catch (error) {
    await tx.abandon();
    if (isDiskFull(error)) {
      throw new LockstepError(
        "DISK_FULL",
        `Cannot install bundle "${bundle.file}": the disk is full while staging its files. ` +
          `The staged files were removed and the app root is unchanged. Free space and retry.`,
        { cause: error, data: { bundle: bundle.file } },
      );
    }
    throw error;
  }
  run.onProgress?.({ bundle: bundle.file, step: "verified" });
  await tx.apply("install", label, {
    bundle: bundle.path,
    file: bundle.file,
    version: manifest.version,
    from,
  });
  return { ...result, finish: () => tx.finish() };
}

/**
 * Every check that needs the app root, before anything is written (protected
 * paths were judged with the manifest): links on the way, folders where files
 * should be, and folders that cannot be written.
 */
async function preflight(
  config: Config,
  file: string,
  manifest: Manifest,
  writes: readonly string[],
  tx: Transaction | undefined,
): Promise<void> {
  const touched = [...writes, ...manifest.remove];
  for (const path of touched) {
    try {
      await confined(config.root, path, `install bundle "${file}": write`);
    } catch (error) {
      if (error instanceof LockstepError && error.code === "PATH_UNSAFE") {
        throw new LockstepError("BUNDLE_PATH_UNSAFE", `${error.message}. Nothing was changed.`, {
          cause: error,
          data: { bundle: file, ...error.data },
        });
      }
      throw error;
    }
  }
  const unwritable: string[] = [];
  const folders = new Set<string>();
  for (const path of touched) {
    const target = join(config.root, path);
    const info = await Deno.lstat(target).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (info?.isDirectory) unwritable.push(`${path} (a folder is in the way)`);
    let folder = dirname(target);
    while (!(await Deno.lstat(folder).then((i) => i.isDirectory, () => false))) {
      folder = dirname(folder);
    }
    folders.add(folder);
  }
  // A probe file in each folder (dry runs write nothing, so skip this): the
  // journal lists each probe first, so a crash here leaves nothing behind.
  for (const folder of tx ? folders : []) {
    const failure = tx!.probeWritable(folder);
    if (failure !== undefined) {
      unwritable.push(`${relative(config.root, folder) || "."}/ (${failure})`);
    }
  }

  if (unwritable.length > 0) {
    throw new LockstepError(
      "BUNDLE_TARGET_UNWRITABLE",
      `Cannot install bundle "${file}": these targets cannot be written: ${
        unwritable.join("; ")
      }. Nothing was changed.`,
      { data: { bundle: file, targets: unwritable } },
    );
  }
}

async function record(
  config: Config,
  bundle: PendingBundle,
  done: InstalledBundle,
  high: string | null,
  fault: (step: string) => void,
): Promise<string> {
  const state = await readState(config);
  const highWater = high === null || compare(done.version, high) > 0 ? done.version : high;
  const next: State = {
    installed: done.version,
    highWater,
    history: [...state.history, {
      version: done.version,
      at: new Date().toISOString(),
      bundle: bundle.file,
    }],
    requires: bundle.manifest?.requires ?? {},
  };
  await writeState(config, next);
  fault("recorded");
  return highWater;
}

/** Moves the zip to `installed/<app>-<version>-<UTC timestamp>.zip`, never overwriting. */
async function keep(
  config: Config,
  bundle: PendingBundle,
  fault: (step: string) => void,
): Promise<string> {
  await Deno.mkdir(config.installed, { recursive: true });
  const base = `${config.app}-${bundle.manifest!.version}-${utcStamp()}`;
  for (let n = 0;; n++) {
    const target = join(config.installed, n === 0 ? `${base}.zip` : `${base}-${n}.zip`);
    try {
      await Deno.link(bundle.path, target);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw error;
    }
    await Deno.remove(bundle.path);
    await syncFolder(config.installed);
    await syncFolder(dirname(bundle.path));
    fault("kept");
    return target;
  }
}

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
 * move to `installed/`; a restore's state.json and databases).
 *
 * @throws {LockstepError} `LOCK_HELD`.
 */
export async function recover(config: Config): Promise<RecoverResult> {
  using _lock = await takeOperationLock(config, "recover");
  const result = await recoverJournal(config, async (journal) => {
    if (journal.kind === "restore") return await recoverRestore(config, journal);
    // The files are in place; finish the records a crash cut short.
    const path = String(journal.data.bundle);
    const version = String(journal.data.version);
    const state = await readState(config);
    // Gone when the zip had already been moved to installed/: then the records are done too.
    const bundle = await inspectBundle(config, path);
    if (state.installed !== version && bundle.manifest) {
      const done = { file: bundle.file, version, from: null, writes: [], removes: [] };
      await record(config, bundle, done, state.highWater, () => {});
    }
    if (bundle.manifest) {
      await keep(config, bundle, () => {});
    }
  });
  return { outcome: result.outcome, label: result.label };
}
