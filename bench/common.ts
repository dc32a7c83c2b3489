/**
 * What the benchmarks share: medians, deterministic incompressible bytes, and
 * a timed subprocess with its peak RSS.
 *
 * @module
 */

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** xorshift32 bytes: deterministic (each generator starts at the same seed) and incompressible. */
export function randomBytes(): (bytes: Uint8Array) => Uint8Array {
  let seed = 0x9e3779b9;
  return (bytes) => {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    for (let i = 0; i < words.length; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      words[i] = seed >>> 0;
    }
    return bytes;
  };
}

/** Runs `cmd` under `/usr/bin/time`: wall time in ms and peak RSS in KiB. */
export async function timed(
  cmd: string[],
  cwd?: string,
): Promise<{ ms: number; peakKiB: number; code: number; stderr: string }> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", ...cmd],
    ...(cwd ? { cwd } : {}),
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return { ms, peakKiB: Number(stderr.split("\n").at(-1)), code: out.code, stderr };
}
