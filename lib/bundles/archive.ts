/**
 * Reading a bundle zip safely: the central directory and the manifest first
 * (all `check` ever reads), then each payload entry streamed to a file while
 * its bytes are counted and hashed, with the size and ratio limits enforced
 * on the bytes actually produced.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import type { Limits } from "../config.ts";
import { type ErrorCode, LockstepError, messageOf } from "../errors.ts";
import { checkPaths, type Manifest, type ManifestFile, parseManifest } from "./manifest.ts";
import type { FileEntry, ZipReader } from "../deps/zip.ts";

const MANIFEST = "bundle.json";
const SIGNATURE = "bundle.sig";
const PAYLOAD = "files/";
const MIB = 1024 * 1024;
const S_IFMT = 0o170000;
const ALLOWED_TYPES = new Set([0, 0o100000, 0o040000]);

/** An open bundle: its manifest, signature bytes and payload entries. */
export interface BundleArchive extends AsyncDisposable {
  /** The zip's path. */
  readonly path: string;
  /** The zip's size in bytes. */
  readonly size: number;
  /** The exact bytes of bundle.json (what the signature covers). */
  readonly manifestBytes: Uint8Array<ArrayBuffer>;
  /** The bytes of bundle.sig, if present. */
  readonly signature?: Uint8Array;
  /** The parsed manifest. */
  readonly manifest: Manifest;
  /**
   * Streams the payload file `path` into `out`, checking its size, SHA-256
   * and CRC against the manifest and the ratio limit as bytes are produced.
   */
  extract(path: string, out: Sink): Promise<void>;
}

/** Where an entry's bytes go: a file (closed when done), or nowhere, to verify only. */
export type Sink = Pick<Deno.FsFile, "writeSync" | "close">;

/** A sink that keeps nothing: extracting into it verifies an entry without writing it. */
export const NOWHERE: Sink = { writeSync: (chunk) => chunk.length, close() {} };

/** Throws the `LockstepError` for a bundle that cannot be used. */
function refuse(
  code: ErrorCode,
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
): never {
  throw new LockstepError(code, `Cannot use bundle "${where}": ${reason}. Nothing was changed.`, {
    data: { bundle: where, reason, ...data },
  });
}

/** Random access to a file for zip.js, serialised so that seek and read never interleave. */
export async function fileReader(file: Deno.FsFile, size: number) {
  const { Reader } = await import("../deps/zip.ts");
  let queue: Promise<unknown> = Promise.resolve();
  class FileReader extends Reader<Deno.FsFile> {
    constructor() {
      super(file);
      this.size = size;
    }
    override readUint8Array(index: number, length: number): Promise<Uint8Array> {
      const read = queue.then(() => {
        // Synchronous: seek and read are quick syscalls, and zip.js asks for many small ranges.
        const buffer = new Uint8Array(length);
        file.seekSync(index, Deno.SeekMode.Start);
        let filled = 0;
        while (filled < length) {
          const n = file.readSync(buffer.subarray(filled));
          if (n === null) break;
          filled += n;
        }
        return buffer.subarray(0, filled);
      });
      queue = read.catch(() => undefined);
      return read;
    }
  }
  return new FileReader();
}

/**
 * Opens the bundle at `path`, reading only its central directory, manifest and
 * signature, and checks the entries against the manifest and the limits.
 *
 * @throws {LockstepError} `BUNDLE_CORRUPT`, `BUNDLE_ENTRY_UNSUPPORTED`,
 * `BUNDLE_TOO_LARGE`, `BUNDLE_CONTENT_MISMATCH`, `BUNDLE_PATH_UNSAFE`,
 * `BUNDLE_PATH_COLLISION`, `BUNDLE_MANIFEST_INVALID`.
 */
export async function openBundle(path: string, limits: Limits): Promise<BundleArchive> {
  const where = basename(path);
  const file = await Deno.open(path, { read: true });
  let reader: ZipReader<unknown> | undefined;
  try {
    const size = (await file.stat()).size;
    const zip = await import("../deps/zip.ts");
    zip.configure({ useWebWorkers: false });
    reader = new zip.ZipReader(await fileReader(file, size), {
      strictness: "balanced",
      // lockstep judges names itself, to report each with its own code.
      filenameValidation: "tolerant",
      checkCrc32: true,
      extractPrependedData: true,
      extractAppendedData: true,
    });
    let entries;
    try {
      entries = await reader.getEntries();
    } catch (error) {
      refuse("BUNDLE_CORRUPT", where, `it is not a readable zip (${messageOf(error)})`);
    }
    if ((reader.prependedData?.length ?? 0) > 0 || (reader.appendedData?.length ?? 0) > 0) {
      refuse("BUNDLE_CORRUPT", where, "it has bytes before or after the zip structure");
    }
    if (entries.length > limits.entries) {
      refuse(
        "BUNDLE_TOO_LARGE",
        where,
        `it has ${entries.length} entries, over the limit of ${limits.entries}`,
      );
    }
    checkPaths(entries.map((e) => e.filename.replace(/\/$/, "")), where, "zip");
    const payload = new Map<string, FileEntry>();
    let manifestEntry: FileEntry | undefined;
    let signatureEntry: FileEntry | undefined;
    let claimed = 0;
    for (const entry of entries) {
      const name = entry.filename;
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      if (entry.symlink || !ALLOWED_TYPES.has(type)) {
        refuse(
          "BUNDLE_ENTRY_UNSUPPORTED",
          where,
          `entry "${name}" is a link or special file, not a regular file`,
          { path: name },
        );
      }
      if (entry.encrypted) {
        refuse("BUNDLE_ENTRY_UNSUPPORTED", where, `entry "${name}" is encrypted`, { path: name });
      }
      if (entry.directory) {
        if (name !== PAYLOAD && !name.startsWith(PAYLOAD)) {
          refuse("BUNDLE_CONTENT_MISMATCH", where, `folder "${name}" is outside files/`, {
            path: name,
          });
        }
        continue;
      }
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        refuse(
          "BUNDLE_ENTRY_UNSUPPORTED",
          where,
          `entry "${name}" uses compression method ${entry.compressionMethod} (only stored and deflate)`,
          { path: name },
        );
      }
      claimed += entry.uncompressedSize;
      if (name === MANIFEST) manifestEntry = entry as FileEntry;
      else if (name === SIGNATURE) signatureEntry = entry as FileEntry;
      else if (name.startsWith(PAYLOAD)) {
        payload.set(name.slice(PAYLOAD.length), entry as FileEntry);
      } else {refuse(
          "BUNDLE_CONTENT_MISMATCH",
          where,
          `entry "${name}" is neither bundle.json, bundle.sig nor under files/`,
          { path: name },
        );}
    }
    if (claimed > limits.totalBytes) {
      refuse(
        "BUNDLE_TOO_LARGE",
        where,
        `it inflates to ${claimed} bytes, over the limit of ${limits.totalBytes}`,
      );
    }
    if (manifestEntry === undefined) {
      refuse("BUNDLE_MANIFEST_INVALID", where, "it has no bundle.json");
    }
    const manifestBytes = await readSmall(
      manifestEntry,
      limits.manifestBytes,
      where,
      "bundle.json",
    );
    const signature = signatureEntry === undefined
      ? undefined
      : await readSmall(signatureEntry, 64 * 1024, where, "bundle.sig");
    const manifest = parseManifest(manifestBytes, where);
    matchPayload(manifest, payload, where);
    const archive = reader;
    reader = undefined;
    return {
      path,
      size,
      manifestBytes,
      ...(signature === undefined ? {} : { signature }),
      manifest,
      extract: (name, out) =>
        extractEntry(payload.get(name)!, manifest.files[name]!, name, out, limits, where),
      async [Symbol.asyncDispose]() {
        await archive.close().catch(() => undefined);
        file.close();
      },
    };
  } catch (error) {
    if (reader) await reader.close().catch(() => undefined);
    file.close();
    throw error;
  }
}

function matchPayload(
  manifest: Manifest,
  payload: ReadonlyMap<string, FileEntry>,
  where: string,
): void {
  for (const [name, entry] of payload) {
    const listed = manifest.files[name];
    if (listed === undefined) {
      refuse("BUNDLE_CONTENT_MISMATCH", where, `zip entry "files/${name}" is not in the manifest`, {
        path: name,
      });
    }
    if (entry.uncompressedSize !== listed.size) {
      refuse(
        "BUNDLE_CONTENT_MISMATCH",
        where,
        `"${name}" is ${entry.uncompressedSize} bytes in the zip but ${listed.size} in the manifest`,
        { path: name },
      );
    }
  }
  for (const name of Object.keys(manifest.files)) {
    if (!payload.has(name)) {
      refuse("BUNDLE_CONTENT_MISMATCH", where, `manifest file "${name}" is missing from the zip`, {
        path: name,
      });
    }
  }
}

async function readSmall(
  entry: FileEntry,
  limit: number,
  where: string,
  name: string,
): Promise<Uint8Array<ArrayBuffer>> {
  if (entry.uncompressedSize > limit) {
    refuse(
      "BUNDLE_TOO_LARGE",
      where,
      `${name} is ${entry.uncompressedSize} bytes, over the limit of ${limit}`,
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  await guard(
    where,
    name,
    entry.getData!(
      new WritableStream<Uint8Array>({
        write(chunk) {
          total += chunk.length;
          if (total > limit) throw tooLarge(where, `${name} inflates past ${limit} bytes`);
          chunks.push(chunk);
        },
      }),
    ),
  );
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function tooLarge(where: string, reason: string): LockstepError {
  return new LockstepError(
    "BUNDLE_TOO_LARGE",
    `Cannot use bundle "${where}": ${reason}. Nothing was changed.`,
    {
      data: { bundle: where, reason },
    },
  );
}

/** Runs a zip.js read, turning its failures (CRC, truncation) into `BUNDLE_CORRUPT`. */
async function guard<T>(where: string, name: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof LockstepError) throw error;
    if (error instanceof Error && error.cause instanceof LockstepError) throw error.cause;
    return refuse("BUNDLE_CORRUPT", where, `entry "${name}" cannot be read (${messageOf(error)})`, {
      path: name,
    });
  }
}

async function extractEntry(
  entry: FileEntry,
  expected: ManifestFile,
  name: string,
  out: Sink,
  limits: Limits,
  where: string,
): Promise<void> {
  const hash = createHash("sha256");
  let produced = 0;
  const compressed = Math.max(1, entry.compressedSize);
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
      entry.getData!(
        new WritableStream<Uint8Array>({
          write(chunk) {
            produced += chunk.length;
            if (produced > expected.size) {
              throw new LockstepError(
                "BUNDLE_CONTENT_MISMATCH",
                `Cannot use bundle "${where}": "${name}" inflates past its ${expected.size} bytes. Nothing was changed.`,
                {
                  data: { bundle: where, path: name },
                },
              );
            }
            if (produced > MIB && produced / compressed > limits.ratio) {
              throw tooLarge(where, `"${name}" inflates more than ${limits.ratio}:1`);
            }
            hash.update(chunk);
            sink.write(chunk);
          },
        }),
      ),
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
