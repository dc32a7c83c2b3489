/**
 * Raw deflate and inflate with one `node:zlib` engine kept for the whole
 * process and reset before each archive entry, writing into one reusable
 * output buffer: what `node:zlib`'s own synchronous calls do inside
 * (`zlibBufferSync` drives the same handle), without a new stream object,
 * zlib state and output buffers for every call. An archive of thousands of
 * small entries then makes almost no garbage, and a large entry is streamed
 * in bounded memory.
 *
 * The handle is `node:zlib`'s internal one (`_handle.writeSync`, results in
 * `_writeState`), as Deno and Node both implement it; where a runtime lacks
 * it, or with `LOCKSTEP_ZLIB=public` in the environment (and
 * `--allow-env=LOCKSTEP_ZLIB`: the tests run the fallback that way, and it
 * is the way out should a runtime's handle misbehave), {@link rawInflater}
 * and {@link rawDeflater} return `undefined` and the callers use the public
 * calls.
 *
 * @module
 */
import zlib from "node:zlib";

/** The handle under a `node:zlib` stream (Node's `ZlibBase#_handle`). */
interface Handle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    out: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  reset(): void;
  onerror?: (message: string, errno: number) => void;
}

/** zlib refused the data (`invalid block type`, `unexpected end of file`…). */
export class ZlibError extends Error {
  override readonly name = "ZlibError";
}

/** Output produced at a time: what a caller receives per call of `onOut`. */
const OUT = 256 * 1024;

/** One raw deflate or inflate stream at a time, over a reused engine. */
export class RawCodec {
  readonly #handle: Handle;
  /** `[avail_out, avail_in]` after each write, as the handle reports them. */
  readonly #state: Uint32Array;
  readonly #out = new Uint8Array(OUT);
  #error: string | undefined;

  private constructor(handle: Handle, state: Uint32Array) {
    this.#handle = handle;
    this.#state = state;
    handle.onerror = (message) => {
      this.#error ??= message;
    };
  }

  /** Wraps the handle of `engine`, if this runtime has it. */
  static of(engine: unknown): RawCodec | undefined {
    const { _handle: handle, _writeState: state } = engine as {
      _handle?: Partial<Handle>;
      _writeState?: unknown;
    };
    if (
      typeof handle?.writeSync !== "function" || typeof handle.reset !== "function" ||
      !(state instanceof Uint32Array) || state.length < 2
    ) return undefined;
    return new RawCodec(handle as Handle, state);
  }

  /** Starts a new stream (after a finished, failed or abandoned one). */
  reset(): void {
    this.#error = undefined;
    this.#handle.reset();
  }

  /**
   * Feeds `input`; `last` finishes the stream. Each piece of output is
   * passed to `onOut` as a view of a shared buffer, valid only until it
   * returns (copy or consume it there; throw to stop). Returns how many
   * input bytes were left over: non-zero only when the stream ended before
   * them.
   *
   * @throws {ZlibError} data zlib cannot inflate, or a stream cut short.
   */
  push(input: Uint8Array, last: boolean, onOut: (chunk: Uint8Array) => void): number {
    const flush = last ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH;
    let offset = 0;
    let left = input.length;
    for (;;) {
      this.#handle.writeSync(flush, input, offset, left, this.#out, 0, OUT);
      if (this.#error !== undefined) throw new ZlibError(this.#error);
      const availOut = this.#state[0]!;
      const availIn = this.#state[1]!;
      offset += left - availIn;
      left = availIn;
      if (availOut < OUT) onOut(this.#out.subarray(0, OUT - availOut));
      // Room left in the output: zlib took all it could of the input.
      if (availOut !== 0) return left;
    }
  }
}

let inflater: RawCodec | null | undefined;
let deflater: RawCodec | null | undefined;

/** `LOCKSTEP_ZLIB=public`: only the public `node:zlib` calls (read once, never prompting). */
function publicOnly(): boolean {
  const granted = Deno.permissions.querySync({ name: "env", variable: "LOCKSTEP_ZLIB" });
  return granted.state === "granted" && Deno.env.get("LOCKSTEP_ZLIB") === "public";
}

/** The process's raw inflater, reset (`undefined` where the runtime lacks the handle). */
export function rawInflater(): RawCodec | undefined {
  inflater ??= (publicOnly() ? undefined : RawCodec.of(zlib.createInflateRaw())) ?? null;
  inflater?.reset();
  return inflater ?? undefined;
}

/** The process's raw deflater at level 6, reset (`undefined` where the runtime lacks the handle). */
export function rawDeflater(): RawCodec | undefined {
  deflater ??= (publicOnly() ? undefined : RawCodec.of(zlib.createDeflateRaw({ level: 6 }))) ??
    null;
  deflater?.reset();
  return deflater ?? undefined;
}
