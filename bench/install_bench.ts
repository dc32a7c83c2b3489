// deno-lint-ignore-file no-console
/**
 * Install benchmark, through the real CLI: a bundle of about 200 MB in about
 * 2,000 files (compressible text and incompressible binaries), installed with
 * every SHA-256 verified and journaled, against `unzip -q` of the same zip into
 * an empty folder; peak memory from `/usr/bin/time`; and `check` with five
 * such bundles pending.
 *
 * Run: `deno task bench:install` (SIZE_MB=N for another size, ROUNDS=N).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createBundle } from "../mod.ts";
import { median, randomBytes, timed } from "./common.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const SIZE_MB = Number(Deno.env.get("SIZE_MB") ?? 200);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);
const FILES = 2000;

/** Deterministic release tree: half text, half pseudo-random bytes, plus a few large files. */
async function makeRelease(dir: string): Promise<void> {
  const random = randomBytes();
  const total = SIZE_MB * 1024 * 1024;
  const large = Math.floor(total * 0.3 / 4);
  const small = Math.floor((total - large * 4) / FILES);
  for (let i = 0; i < FILES; i++) {
    const folder = `${dir}/app/m${i % 40}`;
    await Deno.mkdir(folder, { recursive: true });
    if (i % 2 === 0) {
      const line = `export const value${i} = "${"lorem ipsum dolor sit amet ".repeat(3)}";\n`;
      await Deno.writeTextFile(
        `${folder}/f${i}.ts`,
        line.repeat(Math.ceil(small / line.length)).slice(0, small),
      );
    } else {
      await Deno.writeFile(`${folder}/f${i}.bin`, random(new Uint8Array(small)));
    }
  }
  for (let i = 0; i < 4; i++) {
    await Deno.mkdir(`${dir}/assets`, { recursive: true });
    await Deno.writeFile(`${dir}/assets/big${i}.bin`, random(new Uint8Array(large)));
  }
}

const work = await Deno.makeTempDir({ prefix: "lockstep-install-bench-" });
try {
  console.log(
    `lockstep install benchmark: ${SIZE_MB} MB in ${FILES + 4} files, ${ROUNDS} rounds, medians\n`,
  );
  await makeRelease(`${work}/release`);
  const zips: string[] = [];
  for (let v = 1; v <= 5; v++) {
    const made = await createBundle({
      from: `${work}/release`,
      app: "bench",
      version: `1.${v}.0`,
      out: `${work}/bench-1.${v}.0.zip`,
    });
    zips.push(made.path);
  }
  const zipSize = (await Deno.stat(zips[0]!)).size;
  console.log(`bundle: ${(zipSize / 1024 / 1024).toFixed(0)} MB compressed`);

  // The V8 flags the README recommends for install on small hosts: a smaller heap
  // makes V8 collect the garbage of thousands of entry streams sooner.
  const V8 = "--v8-flags=--max-old-space-size=96,--max-semi-space-size=2";
  const installs: number[] = [];
  const peaks: number[] = [];
  const peaksDefault: number[] = [];
  const unzips: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const app = `${work}/app${r}`;
    await Deno.mkdir(`${app}/updates/pending`, { recursive: true });
    await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
    await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
    await Deno.copyFile(zips[0]!, `${app}/updates/pending/bench-1.1.0.zip`);
    const args = (v8: string[]) => [
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--quiet",
      ...v8,
      `--allow-read=${app}`,
      `--allow-write=${app}`,
      CLI,
      "install",
      "--yes",
      "--no-backup",
      "--config",
      `${app}/lockstep.json`,
    ];
    const run = await timed(args([V8]));
    if (run.code !== 0) throw new Error(run.stderr);
    installs.push(run.ms);
    peaks.push(run.peakKiB);
    // Again without the V8 flags, for the default peak.
    await Deno.remove(app, { recursive: true });
    await Deno.mkdir(`${app}/updates/pending`, { recursive: true });
    await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
    await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
    await Deno.copyFile(zips[0]!, `${app}/updates/pending/bench-1.1.0.zip`);
    const plain = await timed(args([]));
    if (plain.code !== 0) throw new Error(plain.stderr);
    peaksDefault.push(plain.peakKiB);
    const target = `${work}/unzip${r}`;
    await Deno.mkdir(target);
    const unzip = await timed(["unzip", "-q", zips[0]!, "-d", target]);
    unzips.push(unzip.ms);
    await Deno.remove(app, { recursive: true });
    await Deno.remove(target, { recursive: true });
  }
  const install = median(installs);
  const unzip = median(unzips);
  console.log(
    `install (verify + stage + journal + rename): ${install.toFixed(0)} ms, peak RSS ` +
      `${(median(peaks) / 1024).toFixed(0)} MB with ${V8} ` +
      `(${(median(peaksDefault) / 1024).toFixed(0)} MB without)`,
  );
  console.log(`unzip -q of the same zip:                  ${unzip.toFixed(0)} ms`);
  console.log(`ratio: ${(install / unzip).toFixed(2)}× (target 1.5×)`);

  const app = `${work}/check`;
  await Deno.mkdir(`${app}/updates/pending`, { recursive: true });
  await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
  await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
  for (const zip of zips) await Deno.link(zip, `${app}/updates/pending/${zip.split("/").at(-1)}`);
  const checks: number[] = [];
  for (let r = 0; r < 10; r++) {
    const run = await timed([
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--quiet",
      `--allow-read=${app}`,
      CLI,
      "check",
      "--config",
      `${app}/lockstep.json`,
    ]);
    if (run.code !== 3) throw new Error(`check exited ${run.code}: ${run.stderr}`);
    checks.push(run.ms);
  }
  console.log(
    `check with five ${SIZE_MB} MB bundles pending: ${
      median(checks).toFixed(1)
    } ms (target 100 ms)`,
  );
} finally {
  await Deno.remove(work, { recursive: true });
}
