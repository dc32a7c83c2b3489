/**
 * The release chain with packs: which pending bundles install, in what
 * order, and why the others do not. App bundles come first, in version
 * order (the app's own chain); then each pack's bundles, packs in dependency
 * order (a pack after the packs it requires), each pack's in version order,
 * with version ordering, replay and downgrade protection per pack.
 * Requirements (`app`, `pack:<name>`) are judged on the state after the
 * whole run: a bundle whose requirement that state does not meet stays in
 * `pending/` with the reason, and so does an app or pack bundle that would
 * break an installed pack's requirement. A cycle of requirements is refused
 * with its chain. Pure: `check`, `install` and `update` share it.
 *
 * @module
 */
import { compare } from "../deps/semver.ts";
import type { ErrorCode } from "../errors.ts";
import { applicability, chain, type ChainStep, type PendingBundle } from "../bundles/pending.ts";
import type { State } from "../state.ts";
import {
  dependencyOrder,
  requiredPacks,
  unmetPackRequirements,
  type Versions,
} from "./requires.ts";

/** Which bundles a run considers. */
export type Scope =
  /** `install`, `update`, `check`: app bundles, and updates of installed, enabled packs. */
  | { readonly kind: "release" }
  /** `pack install NAME [--version V]`: that pack's bundles only (up to V), a first install included. */
  | { readonly kind: "pack"; readonly name: string; readonly version?: string };

type Refusal = NonNullable<ChainStep["refusal"]>;

/** Every readable pending bundle the scope considers, in install order, each judged. */
export function releaseChain(
  pending: readonly PendingBundle[],
  at: { readonly codeVersion: string | null; readonly state: State },
  scope: Scope = { kind: "release" },
): ChainStep[] {
  const { codeVersion, state } = at;
  const readable = pending.filter((b) => b.manifest !== undefined);
  const app = scope.kind === "release"
    ? chain(readable.filter((b) => b.manifest!.pack === undefined), codeVersion, state.highWater)
    : [];
  const packs = new Map<string, ChainStep[]>();
  const byPack = Map.groupBy(
    readable.filter((b) => b.manifest!.pack !== undefined),
    (b) => b.manifest!.pack!,
  );
  for (const [name, bundles] of [...byPack].sort(([a], [b]) => a < b ? -1 : 1)) {
    if (scope.kind === "pack" && name !== scope.name) continue;
    const known = state.packs[name];
    let steps = packChain(bundles, known?.version ?? null, known?.highWater ?? null);
    if (scope.kind === "pack" && scope.version !== undefined) {
      steps = steps.filter((s) => compare(s.bundle.manifest!.version, scope.version!) <= 0);
    } else if (scope.kind === "release") {
      const why = outOfRelease(name, known);
      if (why) steps = steps.map((s) => s.refusal ? s : { ...s, refusal: why });
    }
    packs.set(name, steps);
  }
  refuseCycles(packs);
  judgeRequirements(app, packs, { codeVersion, state });
  const { order } = dependencyOrder(
    [...packs.keys()].filter((name) => last(packs.get(name)!) !== undefined),
    (name) => requiredPacks(last(packs.get(name)!)!.bundle.manifest!.requires),
  );
  const rest = [...packs.keys()].filter((name) => !order.includes(name));
  return [...app, ...[...order, ...rest].flatMap((name) => packs.get(name)!)];
}

/** Why an update of pack `name` is not for `install`/`update`: not installed, or disabled. */
function outOfRelease(
  name: string,
  known: State["packs"][string] | undefined,
): Refusal | undefined {
  if (known === undefined || known.version === null) {
    return {
      code: "PACK_NOT_INSTALLED",
      reason: `pack "${name}" is not installed; adding a pack is the operator's explicit ` +
        `choice: run "lockstep pack install ${name}"`,
    };
  }
  if (!known.enabled) {
    return {
      code: "BUNDLE_NOT_APPLICABLE",
      reason: `pack "${name}" is disabled: run "lockstep pack enable ${name}" to update it`,
    };
  }
  return undefined;
}

/**
 * One pack's bundles in version order, each judged against the ones before
 * it: above the installed version and the high-water mark (a pack not
 * installed, or removed, may come back at the high-water mark, never below),
 * `upgradesFrom`, two files of one version; a refused bundle above the
 * installed version stops the ones after it.
 */
function packChain(
  bundles: readonly PendingBundle[],
  installed: string | null,
  highWater: string | null,
): ChainStep[] {
  const ordered = [...bundles].sort((a, b) =>
    compare(a.manifest!.version, b.manifest!.version) || (a.file < b.file ? -1 : 1)
  );
  const byVersion = Map.groupBy(ordered, (b) => b.manifest!.version);
  const out: ChainStep[] = [];
  let at = installed;
  let high = installed === null ? null : highWater;
  let floor = installed === null ? highWater : null;
  let stoppedBy: string | undefined;
  for (const bundle of ordered) {
    const version = bundle.manifest!.version;
    const twins = byVersion.get(version)!;
    const replay = floor !== null && compare(version, floor) < 0;
    const refusal: Refusal | undefined = bundle.problem
      ? { code: bundle.problem.code, reason: bundle.problem.message }
      : twins.length > 1
      ? {
        code: "BUNDLE_AMBIGUOUS",
        reason: `${twins.map((b) => `"${b.file}"`).join(" and ")} all give pack ` +
          `"${bundle.manifest!.pack}" ${version}; remove all but one from pending/`,
      }
      : replay
      ? {
        code: "BUNDLE_VERSION_REFUSED",
        reason: `version ${version} is below the highest version of pack ` +
          `"${
            bundle.manifest!.pack
          }" ever installed, ${floor} (downgrades and replays are refused)`,
      }
      : stoppedBy !== undefined
      ? {
        code: "BUNDLE_NOT_APPLICABLE",
        reason: `an earlier bundle of the pack (${stoppedBy}) was refused`,
      }
      : applicability(bundle.manifest!, at, high);
    out.push(refusal === undefined ? { bundle, from: at } : { bundle, from: at, refusal });
    if (refusal === undefined) {
      at = version;
      high = version;
      floor = null;
    } else if (
      stoppedBy === undefined && refusal.code !== "BUNDLE_VERSION_REFUSED" &&
      compare(version, installed ?? "0.0.0") > 0
    ) {
      stoppedBy = bundle.file;
    }
  }
  return out;
}

/** The last step of `steps` that installs, if any. */
function last(steps: readonly ChainStep[]): ChainStep | undefined {
  return steps.findLast((s) => s.refusal === undefined);
}

/** Refuses `step` (replacing it in `steps`). */
function refuseStep(steps: ChainStep[], step: ChainStep, code: ErrorCode, reason: string): void {
  steps[steps.indexOf(step)] = { ...step, refusal: { code, reason } };
}

/** Packs whose newest installable bundles require each other in a loop: refused, with the chain. */
function refuseCycles(packs: Map<string, ChainStep[]>): void {
  const moving = [...packs.keys()].filter((name) => last(packs.get(name)!) !== undefined);
  const requires = (name: string) =>
    requiredPacks(last(packs.get(name)!)!.bundle.manifest!.requires);
  const { order, cycles } = dependencyOrder(moving, requires);
  for (const name of moving.filter((n) => !order.includes(n))) {
    const cycle = cycles.find((c) => c.includes(name));
    const reason = cycle
      ? `packs require each other in a cycle: ${cycle.join(" → ")}; a cycle cannot be ` +
        `installed in any order`
      : `it requires a pack on a requirement cycle (${
        cycles.map((c) => c.join(" → ")).join("; ")
      })`;
    const steps = packs.get(name)!;
    for (const step of steps.filter((s) => s.refusal === undefined)) {
      refuseStep(steps, step, "PACK_CYCLE", reason);
    }
  }
}

/**
 * Judges requirements on the state after the run, refusing the newest
 * installable bundle that breaks one until every requirement holds.
 */
function judgeRequirements(
  app: ChainStep[],
  packs: Map<string, ChainStep[]>,
  now: { readonly codeVersion: string | null; readonly state: State },
): void {
  const current = new Map(
    Object.entries(now.state.packs).filter(([, p]) => p.version !== null && p.enabled)
      .map(([name, p]) => [name, p.version!]),
  );
  const before: Versions = { app: now.codeVersion, packs: current };
  const after = (): Versions => {
    const versions = new Map(current);
    for (const [name, steps] of packs) {
      const step = last(steps);
      if (step) versions.set(name, step.bundle.manifest!.version);
    }
    const newest = last(app);
    return { app: newest ? newest.bundle.manifest!.version : now.codeVersion, packs: versions };
  };
  for (let changed = true; changed;) {
    changed = false;
    const end = after();
    for (const [name, steps] of packs) {
      const step = last(steps);
      if (step === undefined) continue;
      const unmet = unmetPackRequirements(step.bundle.manifest!.requires, end);
      if (unmet.length === 0) continue;
      refuseStep(
        steps,
        step,
        "PACK_REQUIREMENT_UNMET",
        `pack "${name}" ` +
          `${step.bundle.manifest!.version} requires ${
            unmet.join(", ")
          } after this run; it stays ` +
          `in pending/ until that is installed`,
      );
      changed = true;
    }
    changed = breaksInstalled(app, packs, now.state, { before, end }) || changed;
  }
}

/**
 * Refuses the newest installable app or pack bundle that would break the
 * requirement of an installed, enabled pack this run does not update.
 * Returns whether it refused one.
 */
function breaksInstalled(
  app: ChainStep[],
  packs: Map<string, ChainStep[]>,
  state: State,
  versions: { readonly before: Versions; readonly end: Versions },
): boolean {
  for (const [name, pack] of Object.entries(state.packs)) {
    if (pack.version === null || !pack.enabled) continue;
    if (last(packs.get(name) ?? []) !== undefined) continue;
    for (const [key, range] of Object.entries(pack.requires)) {
      const one = { [key]: range };
      if (unmetPackRequirements(one, versions.before).length > 0) continue;
      const unmet = unmetPackRequirements(one, versions.end);
      if (unmet.length === 0) continue;
      const steps = key === "app" ? app : packs.get(key.slice(5)) ?? [];
      const step = last(steps);
      if (step === undefined) continue;
      refuseStep(
        steps,
        step,
        "PACK_REQUIREMENT_UNMET",
        `installed pack "${name}" ` +
          `${pack.version} requires ${key} ${range}, which this version would break; install a ` +
          `release of "${name}" that supports it first, or disable or remove "${name}"`,
      );
      return true;
    }
  }
  return false;
}
