// deno-lint-ignore-file no-console
/**
 * The demo: copies the example shop (two packages on one embedded SQLite
 * database; orders' migrations depend on core's, and one converts a JSON
 * configuration file) into a fresh folder and runs the CLI on it, as an
 * operator would through a whole release: check (exit 4) → migrate --yes →
 * check (exit 0); then a 1.1.0 bundle (new code and a new migration) lands in
 * updates/pending: check (exit 3) → start refuses → update --yes (backup,
 * maintenance, install, migrate) → check (exit 0) → start runs the app.
 * Then a pack: `reviews` 0.1.0 (its own table, its migration depending on
 * core's release marker) waits in pending/ for the operator's consent →
 * pack install → pack list; its 0.2.0 lands in pending/ (check: exit 3) →
 * update installs the pack alone, the app staying at 1.1.0.
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

const release = await Deno.makeTempDir({ prefix: "lockstep-demo-release-" });
const flags = (write: boolean, extra: string[] = []) => [
  "run",
  "--no-prompt",
  "--quiet",
  `--allow-read=${dir},${release}`,
  ...(write ? [`--allow-write=${dir}`] : []),
  ...extra,
  cli,
];

async function step(
  title: string,
  args: string[],
  write: boolean,
  extra: string[] = [],
): Promise<number> {
  console.log(`\n$ lockstep ${args.join(" ")}    # ${title}`);
  const { code } = await new Deno.Command("deno", {
    args: [...flags(write, extra), ...args],
    cwd: dir,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`(exit ${code})`);
  return code;
}

console.log(`The example shop, copied to ${dir}`);
const app = ["--", "deno", "eval", "console.log('the shop is running')"];
const results = [
  await step("the startup gate: migrations are pending", ["check"], false),
  await step("what would run, with each SQL body", ["migrate", "--dry-run"], false),
  await step("apply them, unattended (a backup first)", ["migrate", "--yes"], true),
  await step("the gate again: the application may run", ["check"], false),
  await step("migrations per package", ["status"], false),
];
console.log(`\nconfig/settings.json after the TypeScript migration converted it:`);
console.log(await Deno.readTextFile(`${dir}/config/settings.json`));

// Release 1.1.0: the shop's code plus one migration, packed as a bundle into pending/.
await copy(`${here}shop/migrations`, `${release}/migrations`);
await copy(`${here}shop/plugins`, `${release}/plugins`);
await Deno.writeTextFile(
  `${release}/migrations/core/20260601000000_user_locale.sql`,
  "-- lockstep:info users get a locale\nalter table users add column locale text default 'en';\n",
);
results.push(
  await step("pack release 1.1.0 into updates/pending", [
    "bundle",
    "create",
    "--from",
    release,
    "--version",
    "1.1.0",
    "--out",
    `${dir}/updates/pending/shop-1.1.0.zip`,
  ], true),
  await step("the gate: a code update is pending", ["check"], false),
  await step("start refuses while it is pending", ["start", ...app], false, ["--allow-run=deno"]),
  await step(
    "all of it in one safe step: backup, maintenance, install, migrate",
    ["update", "--yes"],
    true,
  ),
  await step("the gate: up to date", ["check"], false),
  await step("start runs the application", ["start", ...app], false, ["--allow-run=deno"]),
  await step("the backups taken on the way", ["backups"], false),
);

// A pack: reviews 0.1.0, packed from its own folder, added with the operator's consent.
await copy(`${here}packs/reviews`, `${release}/reviews`);
const packBundle = (version: string, extra: string[] = []) => [
  "bundle",
  "create",
  "--pack",
  "reviews",
  "--from",
  `${release}/reviews`,
  "--version",
  version,
  ...extra,
  "--out",
  `${dir}/updates/pending/reviews-${version}.zip`,
];
results.push(
  await step("pack the reviews pack 0.1.0 into updates/pending", packBundle("0.1.0"), true),
  await step("the gate: a pack waits for the operator's consent", ["check"], false),
  await step("add it: its files, its table, the consent logged", [
    "pack",
    "install",
    "reviews",
    "--yes",
  ], true),
  await step("the packs", ["pack", "list"], false),
);
// reviews 0.2.0: stars, released alone; the app stays at 1.1.0.
const declaration = `${release}/reviews/lockstep-package.json`;
await Deno.writeTextFile(
  declaration,
  (await Deno.readTextFile(declaration)).replace('"0.1.0"', '"0.2.0"'),
);
await Deno.writeTextFile(
  `${release}/reviews/migrations/20260601000000_stars.sql`,
  "-- lockstep:info reviews get stars\nalter table reviews add column stars integer;\n" +
    "-- lockstep:down\nalter table reviews drop column stars;\n",
);
results.push(
  await step(
    "pack reviews 0.2.0, an update of 0.1.0",
    packBundle("0.2.0", ["--upgrades-from", "^0.1.0"]),
    true,
  ),
  await step("the gate: the pack's update is pending", ["check"], false),
  await step("the pack alone: backup, maintenance, install, migrate", ["update", "--yes"], true),
  await step("the gate: up to date, the app still 1.1.0", ["check"], false),
  await step("migrations per package and pack", ["status"], false),
);
await Deno.remove(dir, { recursive: true });
await Deno.remove(release, { recursive: true });
const expected = [4, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0];
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
