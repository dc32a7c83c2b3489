// deno-lint-ignore-file no-console
/**
 * The demo: copies the example shop (two packages on one embedded SQLite
 * database; orders' migrations depend on core's, and one converts a JSON
 * configuration file) into a fresh folder and runs the CLI on it, as an
 * operator would: check (exit 4) → migrate --yes → check (exit 0).
 *
 * Run it with `deno task demo`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const dir = await Deno.makeTempDir({ prefix: "lockstep-demo-" });
await copy(`${here}shop`, dir);

const flags = (write: boolean) => [
  "run",
  "--no-prompt",
  "--quiet",
  `--allow-read=${dir}`,
  ...(write ? [`--allow-write=${dir}`] : []),
  cli,
];

async function step(title: string, args: string[], write: boolean): Promise<number> {
  console.log(`\n$ lockstep ${args.join(" ")}    # ${title}`);
  const { code } = await new Deno.Command("deno", {
    args: [...flags(write), ...args],
    cwd: dir,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`(exit ${code})`);
  return code;
}

console.log(`The example shop, copied to ${dir}`);
const results = [
  await step("the startup gate: migrations are pending", ["check"], false),
  await step("what would run, with each SQL body", ["migrate", "--dry-run"], false),
  await step("apply them, unattended", ["migrate", "--yes"], true),
  await step("the gate again: the application may run", ["check"], false),
  await step("migrations per package", ["status"], false),
];
console.log(`\nconfig/settings.json after the TypeScript migration converted it:`);
console.log(await Deno.readTextFile(`${dir}/config/settings.json`));
await Deno.remove(dir, { recursive: true });
const expected = [4, 0, 0, 0, 0];
if (results.some((code, i) => code !== expected[i])) {
  console.error(`demo: exit codes ${results.join(", ")}, expected ${expected.join(", ")}`);
  Deno.exit(1);
}

async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
