/**
 * The zip layer under a bundle: zip.js over a file with random access, its
 * central directory read and held to one reading (no bytes before or after
 * the zip, no ambiguity zip.js noticed, local headers that agree with the
 * central directory), and small entries (bundle.json, bundle.sig) read
 * whole under a limit. Every failure is a `LockstepError` with its own code.
 *
 * @module
 */
import { LockstepError, messageOf } from "../errors.ts";
import type { Entry, FileEntry, ZipReader } from "../deps/zip.ts";
import { refuse } from "./refuse.ts";
import { checkLayout } from "./zip_layout.ts";
import type { EntrySpan } from "../zip_data.ts";

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

/** zip.js's reader with what lockstep reads of it after `getEntries()`. */
type ReadZip = ZipReader<unknown> & {
  readonly warnings?: readonly { reason: string; filename?: string }[];
  readonly directoryOffset?: number;
};

/** zip.js warnings that say the zip can be read more than one way; the rest are observations. */
const HIDDEN = new Set(["trailing central directory data"]);
const HARMLESS = new Set(["unsorted central directory"]);

/**
 * Opens a zip.js reader on `file` and reads its central directory. The
 * caller closes the reader.
 *
 * @throws {LockstepError} `BUNDLE_CORRUPT`, `BUNDLE_HIDDEN_DATA`.
 */
export async function readDirectory(
  file: Deno.FsFile,
  size: number,
  where: string,
): Promise<{ reader: ReadZip; entries: Entry[] }> {
  const zip = await import("../deps/zip.ts");
  zip.configure({ useWebWorkers: false });
  const reader: ReadZip = new zip.ZipReader(await fileReader(file, size), {
    strictness: "balanced",
    // lockstep judges names itself, to report each with its own code.
    filenameValidation: "tolerant",
    checkCrc32: true,
    extractPrependedData: true,
    extractAppendedData: true,
  });
  try {
    let entries;
    try {
      entries = await reader.getEntries();
    } catch (error) {
      refuse("BUNDLE_CORRUPT", where, `it is not a readable zip (${messageOf(error)})`);
    }
    if ((reader.prependedData?.length ?? 0) > 0 || (reader.appendedData?.length ?? 0) > 0) {
      refuse("BUNDLE_CORRUPT", where, "it has bytes before or after the zip structure");
    }
    return { reader, entries };
  } catch (error) {
    await reader.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Refuses what zip.js noticed could be read another way, then holds every
 * local header, entry span and gap to the central directory
 * ({@link checkLayout}). Returns where each entry's data starts.
 *
 * @throws {LockstepError} `BUNDLE_CORRUPT`, `BUNDLE_HIDDEN_DATA`,
 * `BUNDLE_HEADER_MISMATCH`, `BUNDLE_ENTRIES_OVERLAP`.
 */
export function checkStructure(
  file: Deno.FsFile,
  read: { reader: ReadZip; entries: readonly Entry[] },
  where: string,
): Map<Entry, number> {
  for (const warning of read.reader.warnings ?? []) {
    if (HARMLESS.has(warning.reason)) continue;
    refuse(
      HIDDEN.has(warning.reason) ? "BUNDLE_HIDDEN_DATA" : "BUNDLE_CORRUPT",
      where,
      `its zip structure can be read more than one way (${warning.reason})`,
    );
  }
  return checkLayout(file, read.entries, read.reader.directoryOffset ?? 0, where);
}

/** Where `entry`'s data is, from its data start (see {@link checkStructure}). */
export function spanOf(entry: Entry, start: number): EntrySpan {
  return {
    start,
    compressedSize: entry.compressedSize,
    uncompressedSize: entry.uncompressedSize,
    method: entry.compressionMethod,
    crc32: entry.signature ?? 0,
  };
}

/**
 * Reads a small entry (bundle.json, bundle.sig) whole, refusing one over
 * `limit` bytes, as claimed or as produced.
 *
 * @throws {LockstepError} `BUNDLE_TOO_LARGE`, `BUNDLE_CORRUPT`.
 */
export async function readSmall(
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
          if (total > limit) {
            refuse("BUNDLE_TOO_LARGE", where, `${name} inflates past ${limit} bytes`);
          }
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

/** Runs a zip.js read, turning its failures (CRC, truncation) into `BUNDLE_CORRUPT`. */
export async function guard<T>(where: string, name: string, work: Promise<T>): Promise<T> {
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
