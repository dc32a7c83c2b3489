/**
 * One bundle from the feed into `pending/`: streamed into a hidden partial
 * file there (`.feed-<file>.lockstep-<uuid>.tmp`, which `check` and
 * `install` pass over), counted and hashed as it arrives and cut off one
 * byte past the entry's size; then its own manifest is read and must name
 * the entry's app (or pack) and version; then it is linked into place under
 * its file name, which never replaces a file, and the partial is removed.
 * Any failure removes the partial; a partial left by a killed process is
 * removed by the next `feed fetch` ({@link removePartials}).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import type { Config } from "../config.ts";
import { explainPermission, LockstepError } from "../errors.ts";
import { fault } from "../fault.ts";
import { syncFolder } from "../files.ts";
import { openBundle } from "../bundles/archive.ts";
import type { Manifest } from "../bundles/manifest.ts";
import type { FeedEntry } from "./index.ts";
import { identityOf } from "./packs.ts";
import type { FeedSource } from "./transport.ts";

/** Progress of one download. */
export interface DownloadProgress {
  /** The bundle's file name in `pending/`. */
  readonly file: string;
  /** Bytes received so far. */
  readonly bytes: number;
  /** The entry's size. */
  readonly total: number;
}

const PARTIAL = /^\.feed-.*\.lockstep-[0-9a-f-]{36}\.tmp$/;

/** Removes the partial files of downloads that were killed; returns how many. */
export async function removePartials(config: Pick<Config, "pending">): Promise<number> {
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(config.pending)) {
      if (!entry.isFile || !PARTIAL.test(entry.name)) continue;
      await Deno.remove(join(config.pending, entry.name)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      removed++;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  return removed;
}

/**
 * Downloads `entry` from `source` into `pending/` and returns its path.
 *
 * @throws {LockstepError} `FEED_DOWNLOAD_MISMATCH` (size, SHA-256 or the
 * bundle's own manifest disagree with the entry, or its name is taken in
 * `pending/`), the source's errors, `DISK_FULL`.
 */
export async function downloadEntry(
  config: Config,
  source: FeedSource,
  entry: FeedEntry,
  options: { app: string; onProgress?: (progress: DownloadProgress) => void },
): Promise<string> {
  const file = basename(entry.file);
  const target = join(config.pending, file);
  const partial = join(config.pending, `.feed-${file}.lockstep-${crypto.randomUUID()}.tmp`);
  const where = source.where(entry.file);
  try {
    await Deno.mkdir(config.pending, { recursive: true });
    await receive(
      source,
      entry,
      partial,
      where,
      (bytes) => options.onProgress?.({ file, bytes, total: entry.size }),
    );
    await crossCheck(config, entry, partial, where, options.app);
    try {
      await Deno.link(partial, target);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      throw mismatch(where, `pending/${file} appeared meanwhile; it was not replaced`, entry);
    }
  } catch (error) {
    await Deno.remove(partial).catch((gone) => {
      if (!(gone instanceof Deno.errors.NotFound)) throw gone;
    });
    throw explainPermission(error, `download "${file}" into ${config.pending}`, target);
  }
  await Deno.remove(partial);
  await syncFolder(config.pending);
  return target;
}

/** Streams the entry into `partial`, hashing and counting; refuses any disagreement. */
async function receive(
  source: FeedSource,
  entry: FeedEntry,
  partial: string,
  where: string,
  progress: (bytes: number) => void,
): Promise<void> {
  const hash = createHash("sha256");
  const out = await Deno.open(partial, { write: true, createNew: true, mode: 0o644 });
  let written = 0;
  try {
    const read = await source.read(entry.file, {
      maxBytes: entry.size,
      expectedBytes: entry.size,
      onChunk: async (chunk) => {
        hash.update(chunk);
        for (let at = 0; at < chunk.length;) at += await out.write(chunk.subarray(at));
        if (written === 0) fault("feed:partial");
        written += chunk.length;
        progress(written);
      },
    });
    if (read.over) {
      throw mismatch(where, `it is longer than the ${entry.size} bytes the index gives`, entry);
    }
    if (read.size !== entry.size) {
      throw mismatch(
        where,
        `it is ${read.size} bytes, not the ${entry.size} the index gives`,
        entry,
      );
    }
    const digest = hash.digest("hex");
    if (digest !== entry.sha256) {
      throw mismatch(where, `its SHA-256 is ${digest}, not the index's ${entry.sha256}`, entry);
    }
    await out.sync();
  } finally {
    out.close();
  }
}

/** The bundle's own manifest must be the release the entry names. */
async function crossCheck(
  config: Config,
  entry: FeedEntry,
  partial: string,
  where: string,
  app: string,
): Promise<void> {
  let manifest: Manifest;
  try {
    await using archive = await openBundle(partial, config.limits);
    manifest = archive.manifest;
  } catch (error) {
    if (!(error instanceof LockstepError)) throw error;
    throw mismatch(
      where,
      `it is not a bundle lockstep can read (${error.code}: ${error.message})`,
      entry,
    );
  }
  const { kind, name } = identityOf(manifest);
  const differs = [
    manifest.app !== app ? `app "${manifest.app}"` : "",
    kind !== entry.kind || name !== entry.name ? `${kind} "${name}"` : "",
    manifest.version !== entry.version ? `version ${manifest.version}` : "",
  ].filter((d) => d !== "");
  if (differs.length > 0) {
    throw mismatch(
      where,
      `its bundle.json gives ${differs.join(", ")}, where the index lists ${entry.kind} ` +
        `"${entry.name}" ${entry.version} of app "${app}"`,
      entry,
    );
  }
}

function mismatch(where: string, reason: string, entry: FeedEntry): LockstepError {
  return new LockstepError(
    "FEED_DOWNLOAD_MISMATCH",
    `Cannot download "${where}": ${reason}. The feed or a server on the way is damaged or ` +
      `hostile; nothing was put in pending/.`,
    { data: { url: where, reason, kind: entry.kind, name: entry.name, version: entry.version } },
  );
}
