/**
 * `bundle inspect`: what a bundle holds and whether it could be installed
 * here: without a config from its central directory and manifest; with one,
 * also as install's preflight judges it (every entry read whole, its
 * targets, the migrations after it).
 *
 * @module
 */
import { basename } from "node:path";
import type { Config } from "../config.ts";
import { isLockstepError, LockstepError } from "../errors.ts";
import { openBundle } from "./archive.ts";
import type { Manifest } from "./manifest.ts";
import { inspectBundle, type PendingBundle } from "./pending.ts";
import { preflightChain } from "./preflight.ts";
import { judgeFuture } from "../migrations/future.ts";
import { verify } from "./signature.ts";
import type { PackDeclaration } from "../packs/declaration.ts";
import { applyPacks, loadPacks } from "../packs/registry.ts";
import { readState } from "../state.ts";

/** What {@link inspect} found. */
export interface BundleReport {
  /** The zip's file name. */
  readonly file: string;
  /** The manifest, when it could be read. */
  readonly manifest?: Manifest;
  /** `valid (key id)`, `unsigned`, `invalid: reason`, or `not checked` without a config. */
  readonly signature: string;
  /** Why this host would refuse it, if it would. */
  readonly problem?: { readonly code: string; readonly message: string };
}

/**
 * Reads a bundle's manifest and signature; with a config, also judges it as
 * `install` would (app, signature policy, runtime, and its preflight: every
 * entry read whole, its targets, the migrations after it).
 *
 * Permissions: `--allow-read` on the bundle file (and, with a config, on the config's folder and
 * the updates folder).
 *
 * @throws {LockstepError} `PERMISSION_DENIED`; a bundle that cannot be read or used is reported in
 * `problem`, not thrown.
 * @example
 * ```ts ignore
 * const report = await inspect("shop-1.5.0.zip", config);
 * if (report.problem) console.error(report.problem.message);
 * ```
 */
export async function inspect(path: string, config?: Config): Promise<BundleReport> {
  const file = basename(path);
  if (config !== undefined) {
    const judged = await inspectBundle(config, path);
    let signature = judged.signedBy ? `valid (${judged.signedBy})` : "unsigned";
    if (judged.problem?.code === "BUNDLE_SIGNATURE_INVALID") signature = "invalid";
    const problem = judged.problem ?? await preflightProblem(config, judged);
    return {
      file,
      signature,
      ...(judged.manifest ? { manifest: judged.manifest } : {}),
      ...(problem ? { problem } : {}),
    };
  }
  try {
    await using archive = await openBundle(path, {
      manifestBytes: 1024 * 1024,
      entries: 100_000,
      totalBytes: 4 * 1024 ** 3,
      ratio: 200,
    });
    const status = await verify(archive.manifestBytes, archive.signature, []);
    return {
      file,
      manifest: archive.manifest,
      signature: status.state === "unsigned" ? "unsigned" : "not checked (no trust.keys)",
    };
  } catch (error) {
    if (error instanceof LockstepError) {
      return {
        file,
        signature: "not checked",
        problem: { code: error.code, message: error.message },
      };
    }
    throw error;
  }
}

/**
 * What install's preflight would say of this bundle on its own: every
 * entry read whole, its targets (not probed: inspect writes nothing), and
 * the migrations after it.
 */
async function preflightProblem(
  config: Config,
  bundle: PendingBundle,
): Promise<{ code: string; message: string } | undefined> {
  if (bundle.manifest === undefined) return undefined;
  const step = { bundle, from: null };
  const declarations = new Map<string, PackDeclaration>();
  const [refused] = await preflightChain(config, [step], { dryRun: true, declarations });
  if (refused) return { code: refused.error.code, message: refused.error.message };
  // The migrations after it, the installed packs' and (for a pack bundle) its own included.
  const after = applyPacks(config, await loadPacks(config, await readState(config)), declarations);
  try {
    await judgeFuture(
      after,
      [bundle as Required<PendingBundle>],
      `install ${bundle.manifest.version}`,
    );
  } catch (error) {
    if (!isLockstepError(error)) throw error;
    return { code: error.code, message: error.message };
  }
  return undefined;
}
