/**
 * Where a feed's files come from, behind one small interface: an HTTP(S)
 * server (`http.ts`) or a folder, such as a mirror copied to removable media
 * (`folder.ts`); `source.ts` picks one for a location. Either reads a file by its plain
 * relative path, at most a given number of bytes (one more says the file is
 * longer), handing each chunk on as it arrives, so nothing is ever held
 * whole but the small index. Trust never comes from the transport: every
 * byte is judged by the index's signature and the entries' sizes and hashes.
 *
 * @module
 */
import { LockstepError } from "../errors.ts";

/** How to read one file. */
export interface ReadOptions {
  /** Read at most this many bytes; the file holding more is reported as `over`. */
  readonly maxBytes: number;
  /** Each chunk as it arrives (a download writes and hashes it); without it the bytes are returned. */
  readonly onChunk?: (chunk: Uint8Array) => void | Promise<void>;
  /** The bytes expected (a bundle's size): the deadline grows by them at the minimum rate. */
  readonly expectedBytes?: number;
}

/** What a read found. */
export interface ReadResult {
  /** Bytes read (never more than `maxBytes`). */
  readonly size: number;
  /** The file holds more than `maxBytes` (or says so in its `Content-Length`). */
  readonly over: boolean;
  /** The bytes, when no `onChunk` was given. */
  readonly data?: Uint8Array<ArrayBuffer>;
}

/** A feed's files. */
export interface FeedSource {
  /** The feed's URL (ending in `/`) or folder, as the saved record names it. */
  readonly location: string;
  /** Where `path` is, for messages. */
  where(path: string): string;
  /**
   * Reads `path`.
   *
   * @throws {LockstepError} `FEED_UNREACHABLE` (`data.notFound` when there is
   * no such file), `FEED_TIMEOUT`, `FEED_REDIRECT_REFUSED`; what `onChunk`
   * throws; `Deno.errors.NotCapable` for a missing permission, and other
   * operating-system errors of a folder as Deno raised them.
   */
  read(path: string, options: ReadOptions): Promise<ReadResult>;
}

/** Timing for HTTP reads. */
export interface SourceOptions {
  /** Seconds one request may take (headers and body), before `expectedBytes` adds to it. */
  readonly timeoutSeconds: number;
  /** Slowest acceptable rate, in bytes a second, over each window of up to 10 s. */
  readonly minBytesPerSecond: number;
  /** The `fetch` to use (tests pass one that answers as a hostile server would). */
  readonly fetch?: typeof fetch;
}

/** The `FEED_UNREACHABLE` error for `where`. */
export function unreachable(
  where: string,
  reason: string,
  data: Record<string, unknown> = {},
  cause?: unknown,
): LockstepError {
  return new LockstepError(
    "FEED_UNREACHABLE",
    `Cannot fetch "${where}": ${reason}. Check the feed's address and the network (or that the ` +
      `mirror is mounted and complete). Nothing was changed.`,
    { data: { url: where, reason, notFound: false, ...data }, ...(cause ? { cause } : {}) },
  );
}

/** True for the error a source throws when the file is not there. */
export function isNotFound(error: unknown): boolean {
  return error instanceof LockstepError && error.code === "FEED_UNREACHABLE" &&
    error.data.notFound === true;
}

/**
 * Reads a byte stream through the cap: each chunk counted (and handed on),
 * the stream cancelled at the first byte past `maxBytes`.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  options: ReadOptions,
  onBytes: (total: number) => void = () => {},
): Promise<ReadResult> {
  const { maxBytes, onChunk } = options;
  const reader = stream.getReader();
  const kept: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return { size, over: true };
      }
      size += value.length;
      onBytes(size);
      if (onChunk) await onChunk(value);
      else kept.push(value);
    }
  } catch (error) {
    // A failed chunk (a full disk) or a broken stream: let the source go.
    await reader.cancel().catch(() => undefined);
    throw error;
  } finally {
    reader.releaseLock();
  }
  if (onChunk) return { size, over: false };
  const data = new Uint8Array(size);
  let at = 0;
  for (const chunk of kept) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return { size, over: false, data };
}
