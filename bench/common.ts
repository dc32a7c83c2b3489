// deno-lint-ignore-file no-console
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

/**
 * Prints one row of the issue's table: lockstep's median against the peer's
 * median from the same run, the ratio and its target, and lockstep's peak RSS
 * (with its target) when one is given.
 */
export function row(
  label: string,
  ours: { ms: number[]; peakKiB?: number[] },
  peer: { name: string; ms: number[] },
  target: { ratio: number; peakMB?: number },
): void {
  const a = median(ours.ms);
  const b = median(peer.ms);
  const peak = ours.peakKiB && median(ours.peakKiB) / 1024;
  console.log(
    `${label}: lockstep ${a.toFixed(0)} ms, ${peer.name} ${b.toFixed(0)} ms → ` +
      `${(a / b).toFixed(2)}× (target ≤ ${target.ratio}×)` +
      (peak === undefined
        ? ""
        : `, peak RSS ${peak.toFixed(0)} MB${
          target.peakMB === undefined ? "" : ` (target ≤ ${target.peakMB} MB)`
        }`),
  );
}

/** `count` small text files of about 4 KB each (1–7 KB), deterministic, in 100 folders. */
export async function makeSmallFiles(dir: string, count = 5000): Promise<void> {
  for (let i = 0; i < count; i++) {
    const folder = `${dir}/src/m${i % 100}`;
    if (i < 100) await Deno.mkdir(folder, { recursive: true });
    const size = 1000 + (i * 7919) % 6200;
    const line = `export const v${i} = "${"lorem ipsum dolor sit amet ".repeat(2)}"; // ${
      i * 31 % 997
    }\n`;
    await Deno.writeTextFile(
      `${folder}/f${i}.ts`,
      line.repeat(Math.ceil(size / line.length)).slice(0, size),
    );
  }
}
