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
import type { FileEntry, ZipReader } from "../deps/zip.ts";
import { refuse } from "./refuse.ts";
import { type CentralEntry, checkLayout } from "./zip_layout.ts";
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

/**
 * What lockstep keeps of a central directory entry. zip.js's own `Entry`
 * costs about 8 KiB of heap: 20,000 of them held at once took 170 MB, so
 * each is copied to this and dropped as the directory is read.
 */
export interface CentralRecord extends CentralEntry {
  readonly directory: boolean;
  readonly symlink: boolean;
  readonly encrypted: boolean;
  readonly externalFileAttributes: number;
  readonly unixMode: number | undefined;
  readonly lastModDate: Date;
}

/** What a directory read keeps: every entry's record, and the zip.js entries asked for by name. */
export interface CentralDirectory {
  readonly entries: CentralRecord[];
  /** The zip.js entries named in `keep` (the last of a name), to read with `getData`. */
  readonly kept: ReadonlyMap<string, FileEntry>;
}

/**
 * Reads the central directory of `reader` entry by entry (zip.js's checks
 * of the whole directory run at its end, as `getEntries()` runs them),
 * keeping a {@link CentralRecord} of each and the zip.js entries named in `keep`.
 */
export async function readRecords(
  reader: ZipReader<unknown>,
  keep: ReadonlySet<string> = new Set(),
): Promise<CentralDirectory> {
  const entries: CentralRecord[] = [];
  const kept = new Map<string, FileEntry>();
  for await (const entry of reader.getEntriesGenerator()) {
    entries.push({
      filename: entry.filename,
      rawFilename: entry.rawFilename,
      offset: entry.offset,
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      compressionMethod: entry.compressionMethod,
      rawBitFlag: entry.rawBitFlag ?? 0,
      signature: entry.signature ?? 0,
      directory: entry.directory,
      symlink: entry.symlink ?? false,
      encrypted: entry.encrypted,
      externalFileAttributes: entry.externalFileAttributes,
      unixMode: entry.unixMode,
      lastModDate: entry.lastModDate,
    });
    if (!entry.directory && keep.has(entry.filename)) kept.set(entry.filename, entry as FileEntry);
  }
  return { entries, kept };
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
  keep: ReadonlySet<string> = new Set(),
): Promise<{ reader: ReadZip } & CentralDirectory> {
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
    let directory;
    try {
      directory = await readRecords(reader, keep);
    } catch (error) {
      refuse("BUNDLE_CORRUPT", where, `it is not a readable zip (${messageOf(error)})`);
    }
    if ((reader.prependedData?.length ?? 0) > 0 || (reader.appendedData?.length ?? 0) > 0) {
      refuse("BUNDLE_CORRUPT", where, "it has bytes before or after the zip structure");
    }
    return { reader, ...directory };
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
  read: { reader: ReadZip; entries: readonly CentralRecord[] },
  where: string,
): Map<CentralRecord, number> {
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
export function spanOf(entry: CentralEntry, start: number): EntrySpan {
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
