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
 * Then release 1.2.0 comes through a signed update feed published into a
 * local folder (a mirror, as on a USB stick): keygen makes a release key and
 * a feed key, bundle create --sign, feed build, feed sign; the operator trusts
 * both keys and follows the feed: feed check (exit 7) → feed fetch → update
 * → check (exit 0) → feed check (exit 0, nothing new) → feed status.
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
const publisher = await Deno.makeTempDir({ prefix: "lockstep-demo-publisher-" });
const packSource = await Deno.makeTempDir({ prefix: "lockstep-demo-pack-" });
const flags = (write: boolean, extra: string[] = []) => [
  "run",
  "--no-prompt",
  "--quiet",
  `--allow-read=${dir},${release},${publisher},${packSource}`,
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
await copy(`${here}packs/reviews`, `${packSource}/reviews`);
const packBundle = (version: string, extra: string[] = []) => [
  "bundle",
  "create",
  "--pack",
  "reviews",
  "--from",
  `${packSource}/reviews`,
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
const declaration = `${packSource}/reviews/lockstep-package.json`;
await Deno.writeTextFile(
  declaration,
  (await Deno.readTextFile(declaration)).replace('"0.1.0"', '"0.2.0"'),
);
await Deno.writeTextFile(
  `${packSource}/reviews/migrations/20260601000000_stars.sql`,
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
await Deno.remove(packSource, { recursive: true });
// Release 1.2.0 through a signed update feed, published into a local folder (a mirror).
console.log(
  `\nThe publisher, in ${publisher}: a release key, a feed key, a signed bundle, a feed.`,
);
const releaseKey = await keygen("release");
const feedKey = await keygen("feed1");
await Deno.writeTextFile(
  `${release}/migrations/core/20260701000000_user_timezone.sql`,
  "-- lockstep:info users get a time zone\nalter table users add column timezone text;\n",
);
await Deno.writeTextFile(`${publisher}/notes.txt`, "Time zones for users.\n");
const mirror = `${publisher}/mirror`;
results.push(
  await publish("pack and sign release 1.2.0", [
    "bundle",
    "create",
    "--from",
    release,
    "--version",
    "1.2.0",
    "--upgrades-from",
    ">=1.1.0 <1.2.0",
    "--notes",
    `${publisher}/notes.txt`,
    "--app",
    "shop",
    "--sign",
    `${publisher}/release.key`,
    "--out",
    `${publisher}/releases/shop-1.2.0.zip`,
  ]),
  await publish("index the releases into a feed", [
    "feed",
    "build",
    "--from",
    `${publisher}/releases`,
    "--seq",
    "1",
    "--expires",
    "14d",
    "--out",
    mirror,
  ]),
  await publish("sign the index with the feed key", [
    "feed",
    "sign",
    "--index",
    `${mirror}/feed-stable.json`,
    "--key",
    `${publisher}/feed1.key`,
  ]),
);
// The operator trusts the release key for bundles and the feed key for the index.
const config = JSON.parse(await Deno.readTextFile(`${dir}/lockstep.json`));
config.trust = { keys: [releaseKey] };
config.feed = { url: mirror, keys: [feedKey] };
await Deno.writeTextFile(`${dir}/lockstep.json`, JSON.stringify(config, null, 2) + "\n");
console.log(`\nlockstep.json now trusts both keys and follows the feed in ${mirror}.`);
results.push(
  await step("what the feed offers: an update (exit 7)", ["feed", "check"], true),
  await step("download it into updates/pending", ["feed", "fetch", "shop"], true),
  await step("the gate: a code update is pending", ["check"], false),
  await step("install and migrate, as before", ["update", "--yes"], true),
  await step("the gate: up to date", ["check"], false),
  await step("the feed again: nothing new", ["feed", "check"], true),
  await step("the saved feed, offline", ["feed", "status"], false),
);
await Deno.remove(dir, { recursive: true });
await Deno.remove(release, { recursive: true });
await Deno.remove(publisher, { recursive: true });
const expected = [
  ...[4, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0], // migrate, then release 1.1.0
  ...[0, 0, 0, 0, 0, 3, 0, 0, 0], // the reviews pack, 0.1.0 then 0.2.0
  ...[0, 0, 0, 7, 0, 3, 0, 0, 0, 0], // release 1.2.0 through the feed
];
if (results.some((code, i) => code !== expected[i])) {
  console.error(`demo: exit codes ${results.join(", ")}, expected ${expected.join(", ")}`);
  Deno.exit(1);
}

/** A publisher's step: it reads and writes the publisher's folder (and the release). */
async function publish(title: string, args: string[]): Promise<number> {
  console.log(`\n$ lockstep ${args.join(" ")}    # ${title}`);
  const { code } = await new Deno.Command("deno", {
    args: [
      "run",
      "--no-prompt",
      "--quiet",
      `--allow-read=${release},${publisher}`,
      `--allow-write=${publisher}`,
      cli,
      ...args,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`(exit ${code})`);
  return code;
}

/** `lockstep keygen --id ID` into the publisher's folder; returns the trust entry it printed. */
async function keygen(id: string): Promise<string> {
  console.log(`\n$ lockstep keygen --out ${publisher}/${id}.key --id ${id} --json`);
  const out = await new Deno.Command("deno", {
    args: ["run", "--no-prompt", "--quiet", `--allow-write=${publisher}`, cli, "keygen"]
      .concat(["--out", `${publisher}/${id}.key`, "--id", id, "--json"]),
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const { trustEntry } = JSON.parse(new TextDecoder().decode(out.stdout));
  console.log(`trust entry: ${trustEntry}`);
  return trustEntry;
}

async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
