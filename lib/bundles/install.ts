/**
 * `install`: verify every applicable bundle before the first write to the
 * app root, then, under the change policy ({@link guard}: confirmation, a
 * backup, maintenance), apply each in version order as its own crash-safe
 * file transaction; record it in state.json and move the zip to
 * `installed/`.
 *
 * @module
 */
import { dirname, relative } from "node:path";
import type { Config } from "../config.ts";
import { type ErrorCode, isDiskFull, isLockstepError, LockstepError } from "../errors.ts";
import { stopIfAborted } from "../interrupt.ts";
import type { Flow } from "../flow.ts";
import { guard, type SafetyOptions } from "../guard.ts";
import { readCodeVersion } from "../host.ts";
import { type JournalStep, refuseOpenJournal, Transaction } from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { readState } from "../state.ts";
import { openBundle } from "./archive.ts";
import { openSink } from "./extract.ts";
import { checkTargets } from "./targets.ts";
import { checkSpace, preflightChain, type PreflightRefusal } from "./preflight.ts";
import { judgeFuture } from "../migrations/future.ts";
import { keep, record } from "./installed.ts";
import { type ChainStep, inspectBundle, type PendingBundle, readPending } from "./pending.ts";
import { payloadPath } from "../packs/bundle.ts";
import { releaseChain, type Scope } from "../packs/chain.ts";
import type { PackDeclaration } from "../packs/declaration.ts";
import { applyPacks, loadPacks } from "../packs/registry.ts";

/** Options for {@link install}. */
export interface InstallOptions extends SafetyOptions {
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
}

/** One bundle `install` installed, or would install. */
export interface InstalledBundle {
  /** The zip's file name. */
  readonly file: string;
  /** The pack it installed, for a pack bundle (its version and `from` are the pack's). */
  readonly pack?: string;
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

/** A bundle install refused, with the reason; it was left where it was. */
export interface RefusedBundle {
  /** The zip's file name. */
  readonly file: string;
  /** Its version, when the manifest could be read. */
  readonly version?: string;
  /** The refusal's error code. */
  readonly code: ErrorCode;
  /** Why, for people. */
  readonly message: string;
}

/** What {@link install} did. */
export interface InstallResult {
  /** Bundles installed (or that would be, for dry runs), in order. */
  readonly installed: readonly InstalledBundle[];
  /** Bundles refused, with the reason; each was left where it was. */
  readonly refused: readonly RefusedBundle[];
  /** True for `dryRun`. */
  readonly dryRun: boolean;
  /** False when `confirm` declined: nothing was installed. */
  readonly confirmed: boolean;
  /** The backup taken before the first change, or `null`. */
  readonly backup: string | null;
}

/** What install judged before changing anything. */
interface InstallPlan {
  /** The version chain, refusals included. */
  readonly steps: readonly ChainStep[];
  /** The versions that would be installed (`reviews 0.2.0` for a pack). */
  readonly candidates: readonly string[];
}

/**
 * Installs the applicable pending bundles (or `options.bundle`) in version
 * order, under the change policy (a backup first unless `backup: false`,
 * maintenance on while installing unless `maintenance: false`). Refused
 * bundles stay where they are and are reported; the chain stops at the first
 * refused bundle above the installed version.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`.
 * `--allow-run=pg_dump` is optional (a pg_dump backup).
 *
 * @throws {LockstepError} `JOURNAL_OPEN`, `LOCK_HELD`, `DISK_FULL`, the
 * backup's errors; refusals of single bundles are reported in `refused`.
 * @example
 * ```ts ignore
 * const { installed, refused } = await install(config, { confirm: async (versions) =>
 * versions.length < 3 });
 * ```
 */
export async function install(
  config: Config,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const { dryRun = false } = options;
  await refuseOpenJournal(config, "install");
  using _lock = dryRun ? undefined : await takeOperationLock(config, "install");
  const refused: RefusedBundle[] = [];
  const installed: InstalledBundle[] = [];
  const base = { installed, refused, dryRun, confirmed: true, backup: null };
  if (dryRun) {
    const plan = await planInstall(config, options, refused);
    await installChain(config, plan, { ...options, refused, installed });
    return base;
  }
  const confirm = options.confirm;
  const done = await guard(config, {
    command: "install",
    preflight: () => planInstall(config, options, refused),
    idle: (plan) => plan.candidates.length === 0,
    confirm: confirm && ((plan) => confirm(plan.candidates)),
    backup: { label: "before-install" },
    steps: (plan) => [{
      name: "install",
      run: async (flow) => {
        await installChain(config, plan, { ...options, refused, installed, flow });
        return describeInstalled(installed);
      },
    }],
    outcome: () =>
      refused.length === 0 ? undefined : `install refused ${refused.map((b) => b.file).join(", ")}`,
  }, options);
  if (done.status === "declined") return { ...base, confirmed: false };
  if (done.status === "idle") {
    // Nothing applies: what the chain refused is still reported.
    for (const step of done.plan.steps) if (step.refusal) refuseStep(refused, step);
  }
  return { ...base, backup: done.backup?.id ?? null };
}

/**
 * {@link install} as a step of a larger run (`update`): no confirmation,
 * backup or maintenance of its own; what it changes is recorded on `flow`,
 * and each bundle's committed journal is kept (`journals`), so that the run
 * can roll the code back exactly if a later step fails.
 */
export async function installWithin(
  config: Config,
  options: Pick<InstallOptions, "bundle" | "onProgress" | "signal"> & { scope?: Scope },
  flow: Flow,
): Promise<InstallResult & { journals: readonly string[] }> {
  await refuseOpenJournal(config, "install");
  using _lock = await takeOperationLock(config, "install");
  const refused: RefusedBundle[] = [];
  const installed: InstalledBundle[] = [];
  const journals: string[] = [];
  const plan = await planInstall(config, options, refused, true);
  await installChain(config, plan, { ...options, refused, installed, flow, journals });
  return { installed, refused, dryRun: false, confirmed: true, backup: null, journals };
}

/** `1.0.0 → 1.1.0, pack reviews 0.1.0 → 0.2.0`, or `nothing`. */
export function describeInstalled(installed: readonly InstalledBundle[]): string {
  return installed.map((b) =>
    `${b.pack === undefined ? "" : `pack ${b.pack} `}${b.from ?? "(none)"} → ${b.version}`
  ).join(", ") || "nothing";
}

/** A bundle's version as an operator is asked about it: `1.5.0`, or `reviews 0.2.0` for a pack. */
function versionOf(bundle: PendingBundle): string {
  const manifest = bundle.manifest!;
  return manifest.pack === undefined ? manifest.version : `${manifest.pack} ${manifest.version}`;
}

/**
 * The version chain of the pending bundles (or `options.bundle`), and the
 * preflight of the bundles that would install, changing nothing: each read
 * whole, every target writable, room for them and the backup, and the
 * migrations after them runnable. A bundle refused there refuses the whole
 * install: nothing is installed, so nothing is backed up or changed.
 *
 * @throws {LockstepError} `DISK_SPACE_SHORT`, and what the migrations after
 * the install would meet (`DATABASE_AHEAD`, `MIGRATION_CHANGED`,
 * `SCHEMA_DRIFT`, the planning errors).
 */
export async function planInstall(
  config: Config,
  options: Pick<InstallOptions, "bundle" | "dryRun" | "backup"> & { scope?: Scope },
  refused: RefusedBundle[],
  verified = false,
): Promise<InstallPlan> {
  const found = options.bundle === undefined
    ? await readPending(config)
    : [await inspectBundle(config, options.bundle)];
  // Bundles whose manifest could not be read have no place in the version order.
  for (const bundle of found) {
    if (bundle.problem && !bundle.manifest) refuse(refused, bundle, bundle.problem);
  }
  const state = await readState(config);
  const codeVersion = await readCodeVersion(config);
  const steps = releaseChain(found, { codeVersion, state }, options.scope);
  const applicable = steps.filter((s) => !s.refusal);
  if (applicable.length === 0 || verified) {
    return { steps, candidates: applicable.map((s) => versionOf(s.bundle)) };
  }
  const dryRun = options.dryRun === true;
  const declarations = new Map<string, PackDeclaration>();
  const refusals = await preflightChain(config, steps, { dryRun, declarations });
  if (refusals.length > 0) return { steps: refuseChain(steps, refusals), candidates: [] };
  const versions = applicable.map((s) => versionOf(s.bundle));
  const action = `install ${versions.join(", ")}`;
  checkSpace(config, steps, { backup: !dryRun && options.backup !== false, action });
  // The migrations after the install: the packs' as their new declarations say.
  const after = applyPacks(config, await loadPacks(config, state), declarations);
  await judgeFuture(after, applicable.map((s) => s.bundle as Required<PendingBundle>), action);
  return { steps, candidates: versions };
}

/**
 * The chain after the preflight refused some of its bundles: those carry
 * their refusal, and every other one is refused too (a release installs
 * whole or not at all), naming the first refused.
 */
function refuseChain(
  steps: readonly ChainStep[],
  refusals: readonly PreflightRefusal[],
): ChainStep[] {
  const first = refusals[0]!.bundle.file;
  return steps.map((step) => {
    if (step.refusal) return step;
    const own = refusals.find((r) => r.bundle === step.bundle);
    if (own) return { ...step, refusal: { code: own.error.code, reason: stripCannot(own.error) } };
    return {
      ...step,
      refusal: {
        code: "BUNDLE_NOT_APPLICABLE",
        reason: `bundle "${first}" of the same install was refused, and an install is ` +
          `all or nothing`,
      },
    };
  });
}

/** A refusal's reason without its "Cannot use bundle …:" head and "Nothing was changed." tail. */
function stripCannot(error: LockstepError): string {
  return error.message.replace(/^Cannot [^:]*: /, "").replace(/\.? ?Nothing was changed\.$/, "");
}

function refuse(
  refused: RefusedBundle[],
  bundle: PendingBundle,
  problem: { code: ErrorCode; message: string },
): void {
  refused.push({
    file: bundle.file,
    ...(bundle.manifest ? { version: bundle.manifest.version } : {}),
    code: problem.code,
    message: problem.message,
  });
}

function refuseStep(refused: RefusedBundle[], step: ChainStep): void {
  const { bundle, refusal } = step;
  const message = bundle.problem?.message ??
    `Cannot install bundle "${bundle.file}": ${refusal!.reason}. It was left where it is.`;
  refuse(refused, bundle, { code: refusal!.code, message });
}

/** Installs (or, for dry runs, verifies) each bundle of the chain in order. */
async function installChain(
  config: Config,
  plan: InstallPlan,
  run: InstallOptions & {
    refused: RefusedBundle[];
    installed: InstalledBundle[];
    flow?: Flow;
    /** Keep each committed journal (old files aside) here, for an undo, instead of removing it. */
    journals?: string[];
  },
): Promise<void> {
  const { dryRun = false, onProgress, refused, installed, flow } = run;
  let blocked = false;
  let high = (await readState(config)).highWater;
  for (const step of plan.steps) {
    const { bundle, from } = step;
    if (!dryRun) stopIfAborted(run.signal, `before installing bundle "${bundle.file}"`);
    if (step.refusal) {
      refuseStep(refused, step);
      continue;
    }
    // A bundle that failed while staging stops the rest of the chain too.
    if (blocked) {
      refuse(refused, bundle, {
        code: "BUNDLE_NOT_APPLICABLE",
        message: `Cannot install bundle "${bundle.file}": an earlier bundle in the chain was ` +
          `refused. It was left where it is.`,
      });
      continue;
    }
    try {
      const { finish, retain, ...done } = await installOne(config, bundle, from, {
        dryRun,
        flow,
        onProgress,
        signal: run.signal,
      });
      if (dryRun) {
        installed.push(done);
        continue;
      }
      high = await record(config, bundle, done, high);
      const keptAs = await keep(config, bundle);
      if (run.journals) run.journals.push(await retain());
      else await finish();
      installed.push({ ...done, keptAs });
    } catch (error) {
      if (
        !isLockstepError(error) ||
        isLockstepError(error, "LOCK_HELD", "JOURNAL_OPEN", "INTERRUPTED")
      ) {
        throw error;
      }
      refuse(refused, bundle, error);
      blocked = true;
    }
  }
}

async function installOne(
  config: Config,
  bundle: PendingBundle,
  from: string | null,
  run: {
    dryRun: boolean;
    flow: Flow | undefined;
    onProgress: InstallOptions["onProgress"];
    signal: AbortSignal | undefined;
  },
): Promise<InstalledBundle & { finish: () => Promise<void>; retain: () => Promise<string> }> {
  const manifest = bundle.manifest!;
  // A pack's version is in its own lockstep-package.json, among its files; the app's is written.
  const pack = manifest.pack;
  const versionFile = pack === undefined ? relative(config.root, config.versionFile) : undefined;
  const writes = Object.keys(manifest.files).filter((p) => p !== versionFile);
  const result = {
    file: bundle.file,
    ...(pack === undefined ? {} : { pack }),
    version: manifest.version,
    from,
    writes: versionFile === undefined ? writes : [...writes, versionFile],
    removes: [...manifest.remove],
  };
  if (run.dryRun) {
    await checkTargets(config, bundle.file, manifest, writes);
    const none = () => Promise.reject(new TypeError("a dry run has no journal"));
    return { ...result, finish: () => Promise.resolve(), retain: none };
  }

  const label = `install ${pack === undefined ? config.app : `pack ${pack}`} ${manifest.version}`;
  const tx = await Transaction.begin(config, config.root, (step, path) => {
    run.onProgress?.({ bundle: bundle.file, step, ...(path === undefined ? {} : { path }) });
  });
  try {
    // A probe file in each folder, listed in the journal first: a crash leaves none behind.
    await checkTargets(config, bundle.file, manifest, writes, (folder) => tx.probeWritable(folder));
    await using archive = await openBundle(bundle.path, config.limits);
    const files = writes.map((path) => ({ path, mode: manifest.files[path]!.mode }));
    await tx.stageAll(files, async (index, out, staged) => {
      await archive.extract(payloadPath(config, manifest, writes[index]!), openSink(out));
      Deno.chmodSync(staged, files[index]!.mode);
    });
    for (const path of manifest.remove) tx.delete(path);
    if (versionFile !== undefined) {
      const staged = tx.stagingPath(versionFile);
      await Deno.mkdir(dirname(staged), { recursive: true });
      await Deno.writeTextFile(staged, `${manifest.version}\n`, { createNew: true });
      tx.write(versionFile);
    }
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
  try {
    stopIfAborted(run.signal, `before installing bundle "${bundle.file}" (its files were staged)`);
  } catch (error) {
    await tx.abandon();
    throw error;
  }
  // From here on the app root changes: a failure leaves maintenance on with the reason.
  run.flow?.changed("code");
  await tx.apply("install", label, {
    bundle: bundle.path,
    file: bundle.file,
    version: manifest.version,
    from,
    ...(pack === undefined ? {} : { pack }),
  });
  return { ...result, finish: () => tx.finish(), retain: () => tx.retain() };
}
