/**
 * Streaming one payload entry out of a bundle: its bytes counted, hashed and
 * written as they are inflated, with the manifest's size and SHA-256 and
 * the inflation ratio enforced on the bytes actually produced.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Limits } from "../config.ts";
import { type EntrySpan, readEntry } from "../zip_data.ts";
import type { ManifestFile } from "./manifest.ts";
import { bundleError, refuse } from "./refuse.ts";
import { guard } from "./zip_reader.ts";

const MIB = 1024 * 1024;

/** Where an entry's bytes go: a file (closed when done), or nowhere, to verify only. */
export type Sink = Pick<Deno.FsFile, "writeSync" | "close">;

/** A sink writing to `file` that leaves it open when the entry is done (its owner closes it). */
export function openSink(file: Deno.FsFile): Sink {
  return { writeSync: (bytes) => file.writeSync(bytes), close() {} };
}

/** A sink that keeps nothing: extracting into it verifies an entry without writing it. */
export const NOWHERE: Sink = { writeSync: (chunk) => chunk.length, close() {} };

/**
 * Streams the entry at `span` of `file` (the payload file `name`) into `out`
 * and closes it.
 *
 * @throws {LockstepError} `BUNDLE_CONTENT_MISMATCH`, `BUNDLE_TOO_LARGE`,
 * `BUNDLE_CORRUPT`.
 */
export async function extractEntry(
  file: Deno.FsFile,
  span: EntrySpan,
  expected: ManifestFile,
  name: string,
  out: Sink,
  options: { limits: Limits; where: string },
): Promise<void> {
  const { limits, where } = options;
  const hash = createHash("sha256");
  let produced = 0;
  const compressed = Math.max(1, span.compressedSize);
  // Synchronous writes of each produced chunk: an async file op costs a
  // thread-pool round trip, which dominates for thousands of small files.
  const sink = {
    write(chunk: Uint8Array) {
      for (let at = 0; at < chunk.length;) at += out.writeSync(chunk.subarray(at));
    },
  };
  try {
    await guard(
      where,
      `files/${name}`,
      readEntry(file, span, (chunk) => {
        produced += chunk.length;
        if (produced > expected.size) {
          throw bundleError(
            "BUNDLE_CONTENT_MISMATCH",
            where,
            `"${name}" inflates past its ${expected.size} bytes`,
            { path: name },
          );
        }
        if (produced > MIB && produced / compressed > limits.ratio) {
          throw bundleError(
            "BUNDLE_TOO_LARGE",
            where,
            `"${name}" inflates more than ${limits.ratio}:1`,
          );
        }
        hash.update(chunk);
        sink.write(chunk);
      }),
    );
  } finally {
    out.close();
  }
  const digest = hash.digest("hex");
  if (produced !== expected.size || digest !== expected.sha256) {
    refuse(
      "BUNDLE_CONTENT_MISMATCH",
      where,
      `"${name}" does not match its manifest SHA-256 and size`,
      { path: name },
    );
  }
}
