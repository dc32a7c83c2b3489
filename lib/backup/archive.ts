/**
 * `files.zip`: the app root streamed into a zip (modes and modification
 * times kept, files that do not compress stored), and read back entry by
 * entry to verify or restore it.
 *
 * @module
 */
import { join } from "node:path";
import { LockstepError, messageOf } from "../errors.ts";
import { hashingSink, type Written } from "../hashing.ts";
import { needsZip64, worthDeflating, ZipWriter } from "../zip_writer.ts";
import { type EntrySpan, readEntry } from "../zip_data.ts";
import type { TreeFile } from "./tree.ts";
import { fileReader } from "../bundles/archive.ts";
import { checkLayout } from "../bundles/zip_layout.ts";
import { readRecords, spanOf } from "../bundles/zip_reader.ts";

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

const SMALL = 256 * 1024;

/**
 * Streams `files` (under `root`) into a zip written to `out`, returning its
 * SHA-256 and size. Memory stays flat: one file is read at a time (a large
 * one a megabyte at a time).
 */
export async function writeFilesZip(
  root: string,
  files: readonly TreeFile[],
  out: string,
  onProgress?: (progress: FilesProgress) => void,
): Promise<Written> {
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  if (needsZip64(files.length, totalBytes)) {
    return await writeZip64(root, files, out, totalBytes, onProgress);
  }
  const target = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  try {
    const writer = await ZipWriter.open(target);
    let done = 0;
    let bytes = 0;
    let pause = performance.now();
    for (const file of files) {
      const handle = Deno.openSync(join(root, ...file.path.split("/")), { read: true });
      bytes += writer.addFile(file.path, handle, {
        mode: file.mode,
        mtime: file.mtime,
        deflate: worthDeflating(file.path, file.size, handle),
      });
      onProgress?.({ files: ++done, bytes, totalFiles: files.length, totalBytes });
      // The work is synchronous: a signal (an interrupt) is handled between files.
      if (performance.now() - pause > 50) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        pause = performance.now();
      }
    }
    return writer.close();
  } finally {
    closeQuietly(target);
  }
}

/** {@link writeFilesZip} for a tree too large for the classic zip format: zip.js, zip64. */
async function writeZip64(
  root: string,
  files: readonly TreeFile[],
  out: string,
  totalBytes: number,
  onProgress?: (progress: FilesProgress) => void,
): Promise<Written> {
  const { Uint8ArrayReader, ZipWriter, configure } = await import("../deps/zip.ts");
  configure({ useWebWorkers: false });
  const target = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(target);
  let done = 0;
  let bytes = 0;
  try {
    const writer = new ZipWriter(sink.writable, { level: 6, zip64: true });
    for (const file of files) {
      const absolute = join(root, ...file.path.split("/"));
      const handle = Deno.openSync(absolute, { read: true });
      const deflate = worthDeflating(file.path, file.size, handle);
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
  /** Where its data is. */
  readonly span: EntrySpan;
}

/** Where an entry's bytes go: a file (closed when done), or nowhere, to verify only. */
export type Sink = Pick<Deno.FsFile, "writeSync" | "close">;

/** An open `files.zip`. */
export interface FilesArchive extends Disposable {
  /** Every file entry, sorted by path. */
  readonly files: readonly ArchivedFile[];
  /** Inflates one entry's content into `out` (closed afterwards), checking its CRC-32. */
  extract(file: ArchivedFile, out: Sink): Promise<void>;
}

/**
 * The files.zip this process read last, with the identity of the file it was
 * read from (device, inode, size, modification and change times): a restore
 * opens it three times (verified, planned, staged), and 20,000 entries cost
 * about 0.8 s to read and check each time. Only a hint: a file whose identity
 * changed is read again, and every entry's CRC-32 is checked when it is extracted.
 */
let recent: { path: string; key: string; files: readonly ArchivedFile[] } | undefined;

/**
 * Opens `files.zip` by its central directory (zip.js), each local header
 * held to it.
 *
 * @throws {LockstepError} `BACKUP_INVALID` when it is not a readable zip.
 */
export async function openFilesZip(path: string, backupId: string): Promise<FilesArchive> {
  const file = await Deno.open(path, { read: true });
  let files: readonly ArchivedFile[];
  try {
    const info = await file.stat();
    const key = [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()]
      .join(":");
    files = recent?.path === path && recent.key === key
      ? recent.files
      : await readFiles(file, info.size);
    recent = { path, key, files };
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
      try {
        await readEntry(file, archived.span, (chunk) => {
          for (let at = 0; at < chunk.length;) at += out.writeSync(chunk.subarray(at));
        });
      } finally {
        out.close();
      }
    },
    [Symbol.dispose]() {
      file.close();
    },
  };
}

/** The file entries of the zip open as `file`, each local header held to the central directory. */
async function readFiles(file: Deno.FsFile, size: number): Promise<ArchivedFile[]> {
  const zip = await import("../deps/zip.ts");
  zip.configure({ useWebWorkers: false });
  const reader = new zip.ZipReader(await fileReader(file, size), { checkCrc32: true });
  try {
    const { entries } = await readRecords(reader);
    const starts = checkLayout(file, entries, reader.directoryOffset ?? 0, "files.zip");
    return entries.filter((e) => !e.directory).map((entry) => ({
      path: entry.filename,
      size: entry.uncompressedSize,
      mode: (entry.unixMode ?? 0o100644) & 0o7777,
      mtime: entry.lastModDate,
      crc32: entry.signature ?? 0,
      span: spanOf(entry, starts.get(entry)!),
    }));
  } finally {
    await reader.close().catch(() => undefined);
  }
}
