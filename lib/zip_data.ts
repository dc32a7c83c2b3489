/**
 * The data of one zip entry, read and inflated: zip.js reads the central
 * directory and `bundles/zip_layout.ts` holds every local header to it and
 * says where each entry's data starts; this reads that span and inflates it
 * with `node:zlib` (Deno's native zlib), checking the CRC-32 at the end.
 * One inflater serves every entry (`zlib_raw.ts`), read a mebibyte at a time
 * into one buffer and inflated into another: an entry costs a few calls and
 * no objects or buffers of its own (a stream pipeline per entry cost about
 * 0.3 ms, which dominated bundles and backups of small files, and buffers
 * per entry left hundreds of megabytes for V8 to collect), and memory stays
 * bounded whatever an entry's size or ratio.
 *
 * @module
 */
import { crc32, inflateRawSync } from "node:zlib";
import { type RawCodec, rawInflater, ZlibError } from "./zlib_raw.ts";

/** Where an entry's data is and what the central directory says of it. */
export interface EntrySpan {
  /** Offset of the first data byte (after the local header). */
  readonly start: number;
  /** Bytes of data in the zip. */
  readonly compressedSize: number;
  /** Bytes once inflated, as the central directory says. */
  readonly uncompressedSize: number;
  /** 0 (stored) or 8 (deflate); the caller refuses other methods first. */
  readonly method: number;
  /** The CRC-32 of the content, as the central directory says. */
  readonly crc32: number;
}

/** Entries up to this size (both ways) are read and inflated in one call each. */
const WHOLE = 1024 * 1024;
/** Compressed bytes fed to the inflater at a time: one deflate chunk inflates 1032:1 at most. */
const FEED = 32 * 1024;
const READ = 1024 * 1024;

/** The entry's data is unreadable: truncated, not deflate, or not its CRC-32. */
export class EntryDataError extends Error {
  override readonly name = "EntryDataError";
}

/**
 * Reads and inflates the entry at `span` of `file`, passing the content to
 * `onChunk` as it is produced (the caller counts, hashes, writes, and throws
 * to stop). An entry that produces more than `uncompressedSize` bytes is
 * still passed on (one byte more at least), so the caller's own size check
 * names it.
 *
 * @throws {EntryDataError} a truncated or invalid deflate stream, or a CRC-32
 * that is not the central directory's; and whatever `onChunk` throws.
 */
export async function readEntry(
  file: Deno.FsFile,
  span: EntrySpan,
  onChunk: (chunk: Uint8Array) => void,
): Promise<void> {
  let crc = 0;
  let produced = 0;
  const take = (chunk: Uint8Array) => {
    if (chunk.length === 0) return;
    crc = crc32(chunk, crc);
    produced += chunk.length;
    onChunk(chunk);
    // Whatever the caller checks, inflating stops soon after the recorded size.
    if (produced > span.uncompressedSize) {
      throw new EntryDataError("it inflates past its recorded size");
    }
  };
  const inflater = span.method === 0 ? undefined : rawInflater();
  if (span.method === 0) {
    for (const chunk of readSpan(file, span.start, span.compressedSize, shared())) take(chunk);
  } else if (inflater !== undefined) inflateSpan(inflater, file, span, take);
  else if (span.compressedSize <= WHOLE && span.uncompressedSize <= WHOLE) {
    const [data = new Uint8Array(0)] = readSpan(file, span.start, span.compressedSize);
    take(inflateWhole(data, span.uncompressedSize));
  } else await inflateStreaming(file, span, take);
  if (crc >>> 0 !== span.crc32 >>> 0) {
    throw new EntryDataError("its content does not match its CRC-32");
  }
}

/**
 * Inflates the entry at `span` with the shared inflater, synchronously (no
 * other entry can use it meanwhile). Bytes after the end of the deflate
 * stream are refused: a zip entry's data is its stream and nothing else.
 */
function inflateSpan(
  inflater: RawCodec,
  file: Deno.FsFile,
  span: EntrySpan,
  take: (chunk: Uint8Array) => void,
): void {
  let left = span.compressedSize;
  try {
    // An empty span still finishes the stream: zlib says it is cut short.
    if (left === 0) inflater.push(new Uint8Array(0), true, take);
    for (const chunk of readSpan(file, span.start, span.compressedSize, shared())) {
      left -= chunk.length;
      if (inflater.push(chunk, left === 0, take) > 0) {
        throw new EntryDataError("it has bytes after the end of its deflate stream");
      }
    }
  } catch (error) {
    if (error instanceof ZlibError) {
      throw new EntryDataError(`it does not inflate (${error.message})`);
    }
    throw error;
  }
}

/** Inflates `data` in one call, producing at most one byte more than `size`. */
function inflateWhole(data: Uint8Array, size: number): Uint8Array {
  try {
    return inflateRawSync(data, { maxOutputLength: size + 1 });
  } catch (error) {
    if (isTooLong(error)) {
      // Past its size: what the size check needs to see, one byte more.
      return new Uint8Array(size + 1);
    }
    throw new EntryDataError(`it does not inflate (${(error as Error).message})`);
  }
}

function isTooLong(error: unknown): boolean {
  return error instanceof RangeError ||
    (error as { code?: string })?.code === "ERR_BUFFER_TOO_LARGE";
}

/** Inflates a large entry a slice at a time: memory stays bounded whatever its ratio. */
async function inflateStreaming(
  file: Deno.FsFile,
  span: EntrySpan,
  take: (chunk: Uint8Array) => void,
): Promise<void> {
  const inflater = new DecompressionStream("deflate-raw");
  const writer = inflater.writable.getWriter();
  const reader = inflater.readable.getReader();
  const feeding = (async () => {
    for (const chunk of readSpan(file, span.start, span.compressedSize)) {
      for (let at = 0; at < chunk.length; at += FEED) {
        await writer.write(chunk.slice(at, at + FEED));
      }
    }
    await writer.close();
  })();
  // A failure on either side ends both; the first one is the one reported.
  feeding.catch(() => undefined);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      take(value);
    }
    await feeding;
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    await writer.abort().catch(() => undefined);
    if (error instanceof TypeError) {
      throw new EntryDataError(`it does not inflate (${error.message})`);
    }
    throw error;
  }
}

let reading: Uint8Array | undefined;

/** The one read buffer of the synchronous paths (each chunk consumed before the next read). */
function shared(): Uint8Array {
  reading ??= new Uint8Array(READ);
  return reading;
}

/**
 * The bytes of `length` at `start`, a mebibyte at a time: read into `into`
 * (reused: each chunk is valid until the next), or into a buffer of their own;
 * a short file is an error.
 */
function* readSpan(
  file: Deno.FsFile,
  start: number,
  length: number,
  into?: Uint8Array,
): Generator<Uint8Array> {
  file.seekSync(start, Deno.SeekMode.Start);
  for (let left = length; left > 0;) {
    const size = Math.min(READ, left);
    const buffer = into === undefined ? new Uint8Array(size) : into.subarray(0, size);
    let filled = 0;
    while (filled < buffer.length) {
      const n = file.readSync(buffer.subarray(filled));
      if (n === null) throw new EntryDataError("its data is cut short (the zip is truncated)");
      filled += n;
    }
    left -= filled;
    // Seek again: the caller may have read elsewhere from the same file in between.
    yield buffer;
    file.seekSync(start + length - left, Deno.SeekMode.Start);
  }
}
