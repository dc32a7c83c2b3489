/**
 * Writing a zip (bundles, `files.zip`): fflate lays the archive out and
 * `node:zlib` deflates each entry's data a megabyte at a time, with one
 * deflater reset for each entry (`zlib_raw.ts`): no stream object, zlib state
 * or buffer per entry, and the output goes to the file in 1 MiB writes,
 * hashed on the way. Files that would not shrink are stored.
 *
 * fflate writes the classic zip format only: archives that need zip64 (more
 * than 65,534 entries, or near 4 GiB) are written by zip.js instead
 * ({@link needsZip64}); an entry that grows past that while it is read is
 * refused rather than written wrong.
 *
 * @module
 */
import { constants, crc32, deflateRawSync } from "node:zlib";
import { createHash } from "node:crypto";
import type { ZipInputFile } from "./deps/fflate.ts";
import { compressible } from "./files.ts";
import type { Written } from "./hashing.ts";
import { type RawCodec, rawDeflater } from "./zlib_raw.ts";

const SAMPLE = 32 * 1024;
const CHUNK = 1024 * 1024;
const LIMIT_32 = 0xffffffff;
/** Room left under 4 GiB for headers and deflate's worst-case growth. */
const CLASSIC_BYTES = 0xf0000000;
const CLASSIC_ENTRIES = 0xfffe;
const EXTENDED_TIMESTAMP = 0x5455;

/** Whether an archive of `entries` holding `bytes` in all needs zip64 (fflate cannot write it). */
export function needsZip64(entries: number, bytes: number): boolean {
  return entries > CLASSIC_ENTRIES || bytes > CLASSIC_BYTES;
}

/** How an entry is added. */
export interface EntryOptions {
  /** Permission bits (default `0o644`). */
  mode?: number;
  /** Modification time (default now). */
  mtime?: Date;
  /** Deflate it (level 6) or store it (default: deflate). */
  deflate?: boolean;
}

/**
 * Whether deflating the file `path` (open as `handle`, of `size` bytes) is
 * worth it: known compressed formats are not, and for larger files a 32 KiB
 * sample deflated at level 1 must shrink by 5%.
 */
export function worthDeflating(path: string, size: number, handle: Deno.FsFile): boolean {
  if (!compressible(path)) return false;
  if (size < 2 * SAMPLE) return true;
  const sample = new Uint8Array(SAMPLE);
  const read = handle.readSync(sample) ?? 0;
  handle.seekSync(0, Deno.SeekMode.Start);
  if (read === 0) return true;
  return deflateRawSync(sample.subarray(0, read), { level: 1 }).length < read * 0.95;
}

/** A zip being written to a file: entries added one at a time, synchronously. */
export class ZipWriter {
  readonly #file: Deno.FsFile;
  readonly #zip: import("./deps/fflate.ts").Zip;
  readonly #hash = createHash("sha256");
  #buffer = new Uint8Array(CHUNK);
  readonly #scratch = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  #filled = 0;
  #size = 0;
  #failure: unknown;

  private constructor(file: Deno.FsFile, Zip: typeof import("./deps/fflate.ts").Zip) {
    this.#file = file;
    this.#zip = new Zip((error, chunk) => {
      if (error) this.#failure ??= error;
      else this.#out(chunk);
    });
  }

  /** A writer on `file` (open for writing); {@link close} finishes the zip. */
  static async open(file: Deno.FsFile): Promise<ZipWriter> {
    const { Zip } = await import("./deps/fflate.ts");
    return new ZipWriter(file, Zip);
  }

  /** Adds `bytes` as the entry `name`. */
  addBytes(name: string, bytes: Uint8Array, options: EntryOptions = {}): void {
    const entry = this.#entry(name, options);
    const deflater = entry.compression === 8 ? rawDeflater() : undefined;
    entry.size = bytes.length;
    entry.crc = crc32(bytes);
    if (deflater !== undefined) {
      this.#finish(entry, new Uint8Array(0), this.#deflate(entry, deflater, bytes, true));
    } else {
      const data = entry.compression === 8 ? deflateRawSync(bytes, { level: 6 }) : bytes;
      this.#finish(entry, data, data.length);
    }
  }

  /**
   * Adds the file open as `handle` (read from its current position to its
   * end, then closed) as the entry `name`; returns the bytes read.
   */
  addFile(name: string, handle: Deno.FsFile, options: EntryOptions = {}): number {
    try {
      const entry = this.#entry(name, options);
      const deflate = entry.compression === 8;
      const deflater = deflate ? rawDeflater() : undefined;
      let crc = 0;
      let size = 0;
      let written = 0;
      // Two reusable buffers (the chunk at hand and the one read ahead): everything written
      // from them is copied or written before they are read into again.
      let turn = 0;
      const read = () => readChunk(handle, this.#scratch[turn++ % 2]!);
      let next = read();
      for (;;) {
        const chunk = next;
        next = chunk.length === CHUNK ? read() : new Uint8Array(0);
        const last = next.length === 0;
        crc = crc32(chunk, crc);
        size += chunk.length;
        if (size > LIMIT_32) {
          throw new RangeError(`Cannot add "${name}" to the zip: it grew past 4 GiB while read`);
        }
        if (last) {
          entry.size = size;
          entry.crc = crc;
        }
        if (deflater !== undefined) {
          written += this.#deflate(entry, deflater, chunk, last);
          if (last) {
            this.#finish(entry, new Uint8Array(0), written);
            return size;
          }
          continue;
        }
        // Without the shared deflater: each piece ends on a sync flush, the last one finishes
        // the stream (together one deflate stream, as pigz makes them).
        const data = deflate
          ? deflateRawSync(chunk, {
            level: 6,
            finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
          })
          : chunk;
        written += data.length;
        if (last) {
          this.#finish(entry, data, written);
          return size;
        }
        entry.ondata!(null, data as Uint8Array<ArrayBuffer>, false);
        this.#check();
      }
    } finally {
      handle.close();
    }
  }

  /** Ends the zip, writes what is left, fsyncs the file; returns its SHA-256 and size. */
  close(): Written {
    this.#zip.end();
    this.#check();
    this.#flush();
    this.#file.syncDataSync();
    return { sha256: this.#hash.digest("hex"), size: this.#size };
  }

  /** Starts the entry `name` (its local header is written now, its sizes and CRC at the end). */
  #entry(
    name: string,
    { mode = 0o644, mtime = new Date(), deflate = true }: EntryOptions,
  ): ZipInputFile {
    const seconds = Math.max(0, Math.min(0x7fffffff, Math.floor(mtime.getTime() / 1000)));
    const stamp = new Uint8Array(5);
    stamp[0] = 1; // the modification time only
    new DataView(stamp.buffer).setUint32(1, seconds, true);
    const entry: ZipInputFile = {
      filename: name,
      size: 0,
      crc: 0,
      compression: deflate ? 8 : 0,
      // DOS time, which zip cannot write before 1980 or after 2107; exact times go in the
      // extended timestamp field (UTC, seconds), which readers prefer.
      mtime: dosRange(mtime),
      os: 3,
      attrs: ((0o100000 | mode) << 16) >>> 0,
      extra: { [EXTENDED_TIMESTAMP]: stamp },
    };
    this.#zip.add(entry);
    this.#check();
    return entry;
  }

  /** Deflates `chunk` into the entry (`last` finishes its stream); returns the bytes added. */
  #deflate(entry: ZipInputFile, deflater: RawCodec, chunk: Uint8Array, last: boolean): number {
    let added = 0;
    // Each piece is copied or written by #out before the deflater reuses its buffer.
    deflater.push(chunk, last, (piece) => {
      added += piece.length;
      entry.ondata!(null, piece as Uint8Array<ArrayBuffer>, false);
      this.#check();
    });
    return added;
  }

  /** Ends the entry with `data`, its compressed bytes `written` in all (`data` included). */
  #finish(entry: ZipInputFile, data: Uint8Array, written: number): void {
    if (written > LIMIT_32 || this.#size + this.#filled > CLASSIC_BYTES) {
      throw new RangeError(`Cannot add "${entry.filename}" to the zip: it needs zip64`);
    }
    entry.ondata!(null, data as Uint8Array<ArrayBuffer>, true);
    this.#check();
  }

  #out(chunk: Uint8Array): void {
    if (chunk.length >= CHUNK) {
      this.#flush();
      this.#write(chunk);
      return;
    }
    if (this.#filled + chunk.length > CHUNK) this.#flush();
    this.#buffer.set(chunk, this.#filled);
    this.#filled += chunk.length;
  }

  #flush(): void {
    if (this.#filled === 0) return;
    this.#write(this.#buffer.subarray(0, this.#filled));
    this.#filled = 0;
  }

  #write(bytes: Uint8Array): void {
    this.#hash.update(bytes);
    this.#size += bytes.length;
    for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

function readChunk(handle: Deno.FsFile, buffer: Uint8Array): Uint8Array {
  let filled = 0;
  while (filled < CHUNK) {
    const n = handle.readSync(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

function dosRange(date: Date): Date {
  const year = date.getFullYear();
  if (year < 1980) return new Date(1980, 0, 1);
  if (year > 2099) return new Date(2099, 11, 31);
  return date;
}
