/**
 * SHA-256 and size of what lockstep writes and reads back (backup
 * artifacts), streamed: `node:crypto` over chunks, so memory stays flat.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The SHA-256 and size of an artifact as written. */
export interface Written {
  /** Hex SHA-256 of the artifact's bytes. */
  readonly sha256: string;
  /** The artifact's size in bytes. */
  readonly size: number;
}

/** A writable that hashes and counts what passes through to `file`, and fsyncs it at the end. */
export function hashingSink(file: Deno.FsFile): {
  writable: WritableStream<Uint8Array>;
  done(): Written;
} {
  const hash = createHash("sha256");
  let size = 0;
  const writer = file.writable.getWriter();
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      hash.update(chunk);
      size += chunk.length;
      await writer.write(chunk);
    },
    async close() {
      // Durable before backup.json names it and the folder is renamed into place.
      await file.syncData();
      await writer.close();
    },
    async abort(reason) {
      await writer.abort(reason);
    },
  });
  return { writable, done: () => ({ sha256: hash.digest("hex"), size }) };
}

/**
 * SHA-256 and size of a file, read a mebibyte at a time into one buffer
 * (40% faster than its `readable` stream's smaller chunks, and no garbage).
 */
export async function hashFile(path: string): Promise<Written> {
  const hash = createHash("sha256");
  let size = 0;
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1024 * 1024);
  for (;;) {
    const read = await file.read(buffer);
    if (read === null) break;
    hash.update(buffer.subarray(0, read));
    size += read;
  }
  return { sha256: hash.digest("hex"), size };
}
