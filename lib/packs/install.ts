/**
 * `pack install NAME`: the operator's explicit consent to add a pack's code
 * and tables (or to update it), recorded in the pack database's
 * `lockstep_events` with who and when. The pack's bundles come from
 * `pending/` and are verified as every bundle is (plus the pack's own
 * checks); then, under the change policy, they install through the same
 * crash-safe journal as `install`, and the pack's migrations run. A failure
 * undoes what the run changed.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import type { Step, StepResult } from "../flow.ts";
import type { SafetyOptions } from "../guard.ts";
import { refuseOpenJournal } from "../journal.ts";
import { takeOperationLock } from "../oplock.ts";
import { refusal } from "../problems.ts";
import { readState } from "../state.ts";
import { check } from "../check.ts";
import { describeInstalled, installWithin, planInstall } from "../bundles/install.ts";
import type { ChainStep } from "../bundles/pending.ts";
import type { MigrateEvent } from "../migrations/apply.ts";
import { discover } from "../migrations/discover.ts";
import { migrateWithin } from "../migrations/migrate.ts";
import type { Scope } from "./chain.ts";
import { consentOf, recordPackEvent } from "./events.ts";
import { packNotFound } from "./problems.ts";
import { fetchPackIfMissing } from "./from_feed.ts";
import { loadPacks, packDatabase, withPacks } from "./registry.ts";
import {
  guardPackRun,
  type PackRun,
  type PackStep,
  undoCodeStep,
  undoDatabasesStep,
} from "./run.ts";
import { packNameProblem } from "./bundle.ts";

/** Options for {@link installPack}. */
export interface PackInstallOptions extends SafetyOptions {
  /** Install up to this version (default: the newest pending one). */
  version?: string;
  /** Verify and report what would change; write nothing (default `false`). */
  dryRun?: boolean;
  /** Asked with the plan before anything changes; resolve `false` to stop. Default: go ahead. */
  confirm?: (plan: PackInstallPlan) => Promise<boolean>;
  /** Who consents, recorded with the install (`alice (confirmed at a terminal)`; default `a program`). */
  by?: string;
  /** Receives each step as it finishes. */
  onStep?: (step: StepResult<PackStep>) => void;
  /** Receives each migration step. */
  onMigrate?: (event: MigrateEvent) => void;
  /** How long to wait for another process's migration lock, in ms (default 30,000). */
  lockTimeoutMs?: number;
}

/** One bundle of a pack install. */
export interface PackBundlePlan {
  /** The zip's file name in `pending/`. */
  readonly file: string;
  /** The version it installs. */
  readonly version: string;
  /** The version it installs over (`null` for a first install). */
  readonly from: string | null;
  /** Files it writes, relative to the app root. */
  readonly writes: readonly string[];
  /** Files it removes, relative to the app root. */
  readonly removes: readonly string[];
}

/** What {@link installPack} will do, as it asks for consent. */
export interface PackInstallPlan {
  /** The pack. */
  readonly pack: string;
  /** Its installed version, or `null`. */
  readonly from: string | null;
  /** The version it will have. */
  readonly to: string;
  /** The bundles, in order. */
  readonly bundles: readonly PackBundlePlan[];
}

/** What {@link installPack} did. */
export interface PackInstallResult extends PackInstallPlan {
  /** True for `dryRun`. */
  readonly dryRun: boolean;
  /** False when `confirm` declined: nothing changed. */
  readonly confirmed: boolean;
  /** Migration ids applied, in order. */
  readonly applied: readonly string[];
  /** The backup taken first, or `null`. */
  readonly backup: string | null;
  /** Each step with its duration. */
  readonly steps: readonly StepResult[];
}

/**
 * Installs (or updates) pack `name` from `pending/` (fetched there first
 * from the update feed, when one is configured and no bundle of the pack
 * waits): see the module documentation.
 *
 * Permissions: `--allow-read` and `--allow-write` on the app root, the updates folder and the
 * SQLite files, and `--allow-read` on the config's folder and the migration folders; PostgreSQL
 * adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and `--allow-env=<passwordEnv>`. A dry
 * run needs `--allow-read` only. Fetching from the feed adds `--allow-net` on the feed's host (or
 * `--allow-read` on its mirror folder).
 *
 * @throws {LockstepError} `PACK_NOT_FOUND` (no bundle of it in `pending/`, nor in the feed),
 * the feed's errors when it is fetched (`FEED_STALE`, `FEED_UNREACHABLE`, …),
 * `PACK_NAME_INVALID`, `PACK_NOT_ALLOWED`, `PACK_REQUIREMENT_UNMET`,
 * `PACK_CYCLE`, `PACK_FOLDER_OWNED`, `PACK_INVALID`, the bundle's refusals
 * (`BUNDLE_SIGNATURE_INVALID`, `BUNDLE_VERSION_REFUSED`, …), the blocking
 * problems `check` reports, `MIGRATION_FAILED` (undone), `LOCK_HELD`,
 * `JOURNAL_OPEN`. A refused bundle stays in `pending/`.
 * @example
 * ```ts ignore
 * const result = await installPack(config, "reviews", { by: "alice" });
 * console.log(`${result.pack} ${result.from ?? "(none)"} → ${result.to}`);
 * ```
 */
export async function installPack(
  config: Config,
  name: string,
  options: PackInstallOptions = {},
): Promise<PackInstallResult> {
  const { dryRun = false, lockTimeoutMs = 30_000 } = options;
  const scope: Scope = {
    kind: "pack",
    name,
    ...(options.version === undefined ? {} : { version: options.version }),
  };
  const idle = { dryRun, applied: [], backup: null, steps: [] };
  if (dryRun) return { ...(await planPackInstall(config, scope, true)), ...idle, confirmed: true };
  // Not in pending/: from the update feed, when one is configured (the name is the consent).
  await fetchPackIfMissing(config, name, options.version);
  using _lock = await takeOperationLock(config, `install pack "${name}"`);
  const applied: string[] = [];
  const confirm = options.confirm;
  const done = await guardPackRun(config, {
    command: "pack-install",
    action: `install pack "${name}"`,
    preflight: () => planPackInstall(config, scope, false),
    detail: (plan) => `pack ${name} ${plan.from ?? "(none)"} → ${plan.to}`,
    confirm: confirm && ((plan) => confirm(plan)),
    backupLabel: "before-pack-install",
    maintenanceMessage: (plan) =>
      `Installing pack ${name} ${plan.to} in ${config.app}. Please try again in a few minutes.`,
    steps: (plan, run) => [
      installStep(config, { scope, plan, run }, options),
      migrateStep(config, { name, applied, run }, { ...options, lockTimeoutMs }),
      {
        name: "record",
        run: async () => {
          const database = await databaseOf(config, name);
          const message = `pack ${name} ${plan.from ?? "(none)"} → ${plan.to} installed from ` +
            `${plan.bundles.map((b) => b.file).join(", ")} with the consent of ${
              consentOf(options.by)
            }`;
          await recordPackEvent(config, database, { kind: "pack-install", message }, lockTimeoutMs);
          return `consent recorded in database "${database}"`;
        },
      },
    ],
  }, options);
  const base = { ...done.plan, dryRun, applied, steps: done.steps };
  if (done.status === "declined") return { ...base, confirmed: false, backup: null };
  return { ...base, confirmed: true, backup: done.backup?.id ?? null };
}

/** The install step: the pack's bundles through the install journal, each kept for an undo. */
function installStep(
  config: Config,
  { scope, plan, run }: { scope: Scope; plan: PackInstallPlan; run: PackRun },
  options: PackInstallOptions,
): Step<PackStep> {
  return {
    name: "install",
    run: async (flow) => {
      const result = await installWithin(
        config,
        { scope, ...(options.signal ? { signal: options.signal } : {}) },
        flow,
      );
      run.journals.push(...result.journals);
      for (const b of result.installed) {
        if (b.keptAs) run.kept.push({ keptAs: b.keptAs, file: b.file });
      }
      const refused = result.refused.find((r) => plan.bundles.some((b) => b.file === r.file));
      if (refused !== undefined) {
        throw new LockstepError(refused.code, refused.message, { data: { refused: [refused] } });
      }
      return describeInstalled(result.installed);
    },
    undo: undoCodeStep(config, run),
  };
}

/** The migrate step: the pack's migrations (and what they depend on), once its files are in place. */
function migrateStep(
  config: Config,
  { name, applied, run }: { name: string; applied: string[]; run: PackRun },
  options: PackInstallOptions & { lockTimeoutMs: number },
): Step<PackStep> {
  return {
    name: "migrate",
    run: async (flow) => {
      const pkg = (await withPacks(config)).packages[name];
      const last = pkg === undefined ? undefined : (await discover([pkg])).migrations.at(-1)?.id;
      if (last === undefined) return "the pack has no migrations";
      const result = await migrateWithin(config, {
        yes: true,
        to: last,
        lockTimeoutMs: options.lockTimeoutMs,
        ...(options.onMigrate ? { onProgress: options.onMigrate } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }, flow);
      applied.push(...result.applied);
      return `${result.applied.length} migration(s) applied`;
    },
    undo: undoDatabasesStep(config, run),
  };
}

/** The database of installed pack `name`. */
async function databaseOf(config: Config, name: string): Promise<string> {
  const pkg = (await withPacks(config)).packages[name];
  if (pkg !== undefined) return pkg.database;
  const pack = (await loadPacks(config, await readState(config))).find((p) => p.name === name);
  return packDatabase(config, pack!.declaration!)!;
}

/**
 * Everything checked before anything changes: the name, `packs.allow`,
 * check not blocked, and the pack's bundles as install's preflight judges
 * them (read whole, targets, requirements on the state after the run, its
 * declaration and folder, the migrations after it).
 */
async function planPackInstall(
  config: Config,
  scope: Scope & { kind: "pack" },
  dryRun: boolean,
): Promise<PackInstallPlan> {
  const { name, version } = scope;
  const action = `install pack "${name}"`;
  await refuseOpenJournal(config, action);
  const named = packNameProblem(config, name);
  if (named !== undefined) {
    throw new LockstepError(named.code, `Cannot ${action}: ${named.reason}. Nothing was changed.`, {
      data: { pack: name },
    });
  }
  // A plan, shown before consent (or for a dry run): it writes nothing, not even check's hints.
  const report = await check(config, { keepHints: false });
  const blocking = report.problems.filter((p) => p.severity === "blocked" && p.data.pack !== name);
  if (blocking.length > 0) {
    const first = blocking[0]!;
    throw new LockstepError(
      first.code,
      `Cannot ${action}: check says the application is blocked: ${first.message} Resolve that ` +
        `first. Nothing was changed.`,
      { data: { problems: blocking.map((p) => p.code) } },
    );
  }
  const plan = await planInstall(config, { scope, dryRun }, []);
  const steps = plan.steps;
  const target = version === undefined
    ? steps.at(-1)
    : steps.find((s) => s.bundle.manifest!.version === version);
  if (target === undefined) throw refusal(packNotFound(name, version), action);
  if (target.refusal) throw refused(target, action);
  const bundles = steps.filter((s) => !s.refusal).map((s) => ({
    file: s.bundle.file,
    version: s.bundle.manifest!.version,
    from: s.from,
    writes: Object.keys(s.bundle.manifest!.files),
    removes: [...s.bundle.manifest!.remove],
  }));
  const state = await readState(config);
  return {
    pack: name,
    from: state.packs[name]?.version ?? null,
    to: target.bundle.manifest!.version,
    bundles,
  };
}

/** The error of the bundle the operator asked for, which does not install. */
function refused(step: ChainStep, action: string): LockstepError {
  const { code, reason } = step.refusal!;
  const message = /^Cannot /.test(reason)
    ? reason
    : `Cannot ${action} ${
      step.bundle.manifest!.version
    }: ${reason}. It stays in pending/. Nothing was ` +
      `changed.`;
  return new LockstepError(code, message, {
    data: { bundle: step.bundle.file, pack: step.bundle.manifest!.pack, reason },
  });
}
