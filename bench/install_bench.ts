// deno-lint-ignore-file no-console
/**
 * Install and bundle benchmark, through the real CLI, each row against its
 * peer in the same run:
 *
 * - `install --yes --no-backup` of a bundle of about SIZE_MB (default 200) MB
 *   in about 2,000 mixed files (compressible text, incompressible binaries,
 *   four large files), and of a bundle of 5,000 files of about 4 KB, every
 *   SHA-256 verified, staged, journaled, renamed into place, against
 *   `unzip -q` of the same zip into an empty folder; peak RSS of the install;
 * - `bundle create` of each release folder against `zip -r -q -6` of it;
 * - `check` with five SIZE_MB bundles pending.
 *
 * Run: `deno task bench:install` (SIZE_MB=N for another size, ROUNDS=N).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createBundle } from "../mod.ts";
import { makeSmallFiles, median, randomBytes, row, timed } from "./common.ts";

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

function lockstep(read: string[], write: string[], args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--quiet",
    `--allow-read=${read.join(",")}`,
    ...(write.length > 0 ? [`--allow-write=${write.join(",")}`] : []),
    CLI,
    ...args,
  ];
}

async function must(run: ReturnType<typeof timed>) {
  const result = await run;
  if (result.code !== 0) throw new Error(result.stderr);
  return result;
}

/** `bundle create` of `release` against `zip -r -q -6` of it; returns the bundle made. */
async function createRow(label: string, release: string, work: string): Promise<string> {
  const slug = label.replace(/[^A-Za-z0-9]+/g, "-");
  const ours: number[] = [];
  const peaks: number[] = [];
  const zips: number[] = [];
  let bundle = "";
  for (let r = 0; r < ROUNDS; r++) {
    bundle = `${work}/${slug}-${r}/bench-1.1.0.zip`;
    await Deno.mkdir(`${work}/${slug}-${r}`);
    const made = await must(timed(lockstep([release, `${work}/${slug}-${r}`], [
      `${work}/${slug}-${r}`,
    ], [
      "bundle",
      "create",
      "--app",
      "bench",
      "--from",
      release,
      "--version",
      "1.1.0",
      "--out",
      bundle,
    ])));
    ours.push(made.ms);
    peaks.push(made.peakKiB);
    const zip = `${work}/${slug}-zip${r}.zip`;
    zips.push((await must(timed(["zip", "-r", "-q", "-6", zip, "."], release))).ms);
    await Deno.remove(zip);
    if (r < ROUNDS - 1) await Deno.remove(`${work}/${slug}-${r}`, { recursive: true });
  }
  row(`bundle create, ${label}`, { ms: ours, peakKiB: peaks }, { name: "zip -r -q -6", ms: zips }, {
    ratio: 1.0,
    peakMB: 200,
  });
  return bundle;
}

/** `install --yes --no-backup` of `zip` against `unzip -q` of it into an empty folder. */
async function installRow(label: string, zip: string, work: string): Promise<void> {
  const slug = label.replace(/[^A-Za-z0-9]+/g, "-");
  const ours: number[] = [];
  const peaks: number[] = [];
  const unzips: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const app = `${work}/app-${slug}-${r}`;
    await Deno.mkdir(`${app}/updates/pending`, { recursive: true });
    await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
    await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
    await Deno.copyFile(zip, `${app}/updates/pending/bench-1.1.0.zip`);
    const run = await must(timed(lockstep([app], [app], [
      "install",
      "--yes",
      "--no-backup",
      "--config",
      `${app}/lockstep.json`,
    ])));
    ours.push(run.ms);
    peaks.push(run.peakKiB);
    const target = `${work}/unzip-${slug}-${r}`;
    await Deno.mkdir(target);
    unzips.push((await must(timed(["unzip", "-q", zip, "-d", target]))).ms);
    await Deno.remove(app, { recursive: true });
    await Deno.remove(target, { recursive: true });
  }
  row(`install, ${label}`, { ms: ours, peakKiB: peaks }, { name: "unzip -q", ms: unzips }, {
    ratio: 1.5,
    peakMB: 150,
  });
}

const work = await Deno.makeTempDir({ prefix: "lockstep-install-bench-" });
try {
  console.log(`lockstep install benchmark: ${ROUNDS} rounds, medians\n`);
  await makeRelease(`${work}/release`);
  await makeSmallFiles(`${work}/small`);
  const mixed = `${SIZE_MB} MB in ${FILES + 4} mixed files`;
  const small = "5,000 files of about 4 KB";
  const bundle = await createRow(mixed, `${work}/release`, work);
  const smallBundle = await createRow(small, `${work}/small`, work);
  console.log(
    `bundles: ${((await Deno.stat(bundle)).size / 1024 / 1024).toFixed(0)} MB and ${
      ((await Deno.stat(smallBundle)).size / 1024 / 1024).toFixed(1)
    } MB compressed`,
  );
  await installRow(mixed, bundle, work);
  await installRow(small, smallBundle, work);

  const app = `${work}/check`;
  await Deno.mkdir(`${app}/updates/pending`, { recursive: true });
  await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
  await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
  await Deno.link(bundle, `${app}/updates/pending/bench-1.1.0.zip`);
  for (let v = 2; v <= 5; v++) {
    await createBundle({
      from: `${work}/release`,
      app: "bench",
      version: `1.${v}.0`,
      out: `${app}/updates/pending/bench-1.${v}.0.zip`,
    });
  }
  const checks: number[] = [];
  for (let r = 0; r < 10; r++) {
    const run = await timed(lockstep([app], [], ["check", "--config", `${app}/lockstep.json`]));
    if (run.code !== 3) throw new Error(`check exited ${run.code}: ${run.stderr}`);
    checks.push(run.ms);
  }
  console.log(
    `check with five ${SIZE_MB} MB bundles pending: ${median(checks).toFixed(1)} ms`,
  );
} finally {
  await Deno.remove(work, { recursive: true });
}
