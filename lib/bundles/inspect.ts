/**
 * `bundle inspect`: what a bundle holds and whether it could be installed
 * here, from its central directory and manifest only.
 *
 * @module
 */
import { basename } from "node:path";
import type { Config } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { openBundle } from "./archive.ts";
import type { Manifest } from "./manifest.ts";
import { inspectBundle } from "./pending.ts";
import { verify } from "./signature.ts";

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
 * `install` would (app, signature policy, runtime).
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
    return {
      file,
      signature,
      ...(judged.manifest ? { manifest: judged.manifest } : {}),
      ...(judged.problem ? { problem: judged.problem } : {}),
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
