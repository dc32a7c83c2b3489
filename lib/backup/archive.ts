/**
 * `files.zip`: the app root streamed into a zip (modes and modification
 * times kept, files that do not compress stored), and read back entry by
 * entry to verify or restore it.
 *
 * @module
 */
import { deflateRawSync } from "node:zlib";
import { join } from "node:path";
import { LockstepError, messageOf } from "../errors.ts";
import { compressible } from "../files.ts";
import { hashingSink, type Written } from "../hashing.ts";
import type { FileEntry, ZipReader } from "../deps/zip.ts";
import type { TreeFile } from "./tree.ts";
import { fileReader } from "../bundles/archive.ts";

/** Progress while archiving or restoring files. */
export interface FilesProgress {
  /** Files done so far. */
  readonly files: number;
  /** Their bytes (uncompressed). */
  readonly bytes: number;
  /** Files in all. */
  readonly totalFiles: number;
  /** Bytes in all. */
  readonly totalBytes: number;
}

const SAMPLE = 32 * 1024;
const SMALL = 256 * 1024;

/**
 * Whether deflating `file` is worth it: known compressed formats are not, and
 * for larger files a 32 KiB sample deflated at level 1 must shrink by 5%.
 */
function worthDeflating(file: TreeFile, handle: Deno.FsFile): boolean {
  if (!compressible(file.path)) return false;
  if (file.size < 2 * SAMPLE) return true;
  const sample = new Uint8Array(SAMPLE);
  const read = handle.readSync(sample) ?? 0;
  handle.seekSync(0, Deno.SeekMode.Start);
  if (read === 0) return true;
  return deflateRawSync(sample.subarray(0, read), { level: 1 }).length < read * 0.95;
}

/**
 * Streams `files` (under `root`) into a zip written to `out`, returning its
 * SHA-256 and size. Memory stays flat: one file is read at a time.
 */
export async function writeFilesZip(
  root: string,
  files: readonly TreeFile[],
  out: string,
  onProgress?: (progress: FilesProgress) => void,
): Promise<Written> {
  const { Uint8ArrayReader, ZipWriter, configure } = await import("../deps/zip.ts");
  // zip.js's workers were tried: posting every chunk to a worker made a 200 MB backup
  // twice as slow. Deflate runs on Deno's native CompressionStream on this thread.
  configure({ useWebWorkers: false });
  const target = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(target);
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  let bytes = 0;
  try {
    const writer = new ZipWriter(sink.writable, { level: 6, zip64: totalBytes > 0xf0000000 });
    for (const file of files) {
      const absolute = join(root, ...file.path.split("/"));
      const handle = Deno.openSync(absolute, { read: true });
      const deflate = worthDeflating(file, handle);
      // Small files are read in one call: a stream per file costs more than the file.
      let source: ReadableStream<Uint8Array> | InstanceType<typeof Uint8ArrayReader>;
      if (file.size <= SMALL) {
        const bytes = new Uint8Array(file.size);
        let read = 0;
        while (read < bytes.length) {
          const n = handle.readSync(bytes.subarray(read));
          if (n === null) break;
          read += n;
        }
        handle.close();
        source = new Uint8ArrayReader(bytes.subarray(0, read));
      } else source = handle.readable;
      await writer.add(file.path, source, {
        level: deflate ? 6 : 0,
        lastModDate: file.mtime,
        unixMode: 0o100000 | file.mode,
        // An entry may grow past 4 GiB: zip64 fields when it could.
        ...(file.size > 0xf0000000 ? { zip64: true } : {}),
      });
      done++;
      bytes += file.size;
      onProgress?.({ files: done, bytes, totalFiles: files.length, totalBytes });
    }
    await writer.close();
  } catch (error) {
    closeQuietly(target);
    throw error;
  }
  closeQuietly(target);
  return sink.done();
}

/** Closes a file the stream may have closed already. */
function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/** A file entry of `files.zip`, with what restore needs. */
export interface ArchivedFile {
  /** Root-relative path. */
  readonly path: string;
  /** Uncompressed size. */
  readonly size: number;
  /** Permission bits. */
  readonly mode: number;
  /** Modification time. */
  readonly mtime: Date;
  /** CRC-32 of the content. */
  readonly crc32: number;
  /** The zip.js entry, for extraction. */
  readonly entry: FileEntry;
}

/** An open `files.zip`. */
export interface FilesArchive extends AsyncDisposable {
  /** Every file entry, sorted by path. */
  readonly files: readonly ArchivedFile[];
  /** Streams one entry's content to `out` (closed afterwards), checking its CRC-32. */
  extract(file: ArchivedFile, out: WritableStream<Uint8Array>): Promise<void>;
}

/**
 * Opens `files.zip` by its central directory.
 *
 * @throws {LockstepError} `BACKUP_INVALID` when it is not a readable zip.
 */
export async function openFilesZip(path: string, backupId: string): Promise<FilesArchive> {
  const zip = await import("../deps/zip.ts");
  zip.configure({ useWebWorkers: false });
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  let reader: ZipReader<unknown>;
  let files: ArchivedFile[];
  try {
    reader = new zip.ZipReader(await fileReader(file, size), { checkCrc32: true });
    const entries = await reader.getEntries();
    files = entries.filter((e): e is FileEntry => !e.directory).map((entry) => ({
      path: entry.filename,
      size: entry.uncompressedSize,
      mode: (entry.unixMode ?? 0o100644) & 0o7777,
      mtime: entry.lastModDate,
      crc32: entry.signature ?? 0,
      entry,
    }));
  } catch (error) {
    file.close();
    throw new LockstepError(
      "BACKUP_INVALID",
      `Cannot read backup "${backupId}": files.zip is not a readable zip (${messageOf(error)}).`,
      { cause: error, data: { backup: backupId, artifact: "files.zip" } },
    );
  }
  return {
    files,
    async extract(archived, out) {
      await archived.entry.getData(out, { checkSignature: true });
    },
    async [Symbol.asyncDispose]() {
      await reader.close();
      file.close();
    },
  };
}
