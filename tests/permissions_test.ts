/**
 * The README's permission table, held to the command line (STYLE.md item
 * 14): every command in the table runs as a subprocess with `--no-prompt`
 * and exactly the flags its row documents, on SQLite and on PostgreSQL, and
 * succeeds; with any one of those flags dropped it fails with
 * `PERMISSION_DENIED` naming the flag, without a stack trace, and leaves the
 * app as it was. The table must have a row for every command lockstep has.
 *
 * @module
 */
import { join } from "node:path";
import { COMMANDS } from "../cli/commands.ts";
import { backup, disablePack, installPack, joinFleet, migrate } from "../mod.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { type Backend, BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { pendingRelease, treeHash } from "./helpers/bundles.ts";
import { runCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";
import { pendingPack } from "./helpers/packs.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";
import { buildFeed, feedCheck } from "../mod.ts";

/** What a case starts from. */
type Start =
  | "fresh"
  | "migrated"
  | "backed-up"
  | "bundle-pending"
  | "pack-pending"
  | "pack-installed"
  | "pack-disabled"
  | "fleet"
  | "feed-published"
  | "feed-checked"
  | "feed-built";

/** Paths a case's flags and arguments may name. */
interface Places {
  /** The app folder (config, root, updates, SQLite files). */
  readonly app: string;
  /** A folder outside the app for keys, releases and outputs. */
  readonly outside: string;
  /** A backup id, for `backup verify` and `restore`. */
  readonly backupId: string;
  /** The PostgreSQL flags (none on SQLite). */
  readonly postgres: readonly string[];
  /** The database the app is on. */
  readonly backend: Backend;
  /** The feed's loopback `HOST:PORT` (feed cases only). */
  readonly feedHost: string;
}

/** One row of the README's table, as run here. */
interface Case {
  /** The command as the README's permission table names it. */
  readonly row: string;
  readonly start: Start;
  readonly args: (at: Places) => string[];
  /** Exactly the documented flags, PostgreSQL's included where the row adds them. */
  readonly flags: (at: Places) => string[];
  /** The backends it runs on (default both): a fleet shares only PostgreSQL databases. */
  readonly backends?: readonly Backend[];
}

const read = (at: Places) => [`--allow-read=${at.app}`];
const readWrite = (at: Places) => [`--allow-read=${at.app}`, `--allow-write=${at.app}`];
const withDb = (flags: (at: Places) => string[]) => (at: Places) => [...flags(at), ...at.postgres];

const CASES: readonly Case[] = [
  { row: "pack list", start: "pack-installed", args: () => ["pack", "list"], flags: withDb(read) },
  {
    row: "pack install --dry-run",
    start: "pack-pending",
    args: () => ["pack", "install", "reviews", "--dry-run"],
    flags: withDb(read),
  },
  {
    row: "pack install",
    start: "pack-pending",
    args: () => ["pack", "install", "reviews", "--yes"],
    flags: withDb(readWrite),
  },
  {
    row: "pack remove",
    start: "pack-installed",
    args: () => ["pack", "remove", "reviews", "--yes"],
    flags: withDb(readWrite),
  },
  {
    row: "pack enable",
    start: "pack-disabled",
    args: () => ["pack", "enable", "reviews"],
    flags: readWrite,
  },
  {
    row: "pack disable",
    start: "pack-installed",
    args: () => ["pack", "disable", "reviews"],
    flags: readWrite,
  },
  { row: "check", start: "migrated", args: () => ["check"], flags: withDb(read) },
  { row: "status", start: "migrated", args: () => ["status"], flags: withDb(read) },
  { row: "log", start: "migrated", args: () => ["log"], flags: withDb(read) },
  { row: "report", start: "migrated", args: () => ["report"], flags: withDb(read) },
  { row: "fleet", start: "fleet", args: () => ["fleet"], flags: withDb(read) },
  {
    row: "fleet forget",
    start: "fleet",
    args: () => ["fleet", "forget", "web-9"],
    flags: withDb(read),
    backends: ["postgres"],
  },
  {
    row: "migrate --dry-run",
    start: "fresh",
    args: () => ["migrate", "--dry-run"],
    flags: withDb(read),
  },
  {
    row: "start",
    start: "migrated",
    args: () => ["start", "--", "true"],
    flags: withDb((at) => [...read(at), "--allow-run=true"]),
  },
  { row: "migrate", start: "fresh", args: () => ["migrate", "--yes"], flags: withDb(readWrite) },
  {
    row: "stamp",
    start: "fresh",
    args: () => ["stamp", "--all", "--yes"],
    // It writes no file: a SQLite database is written, a PostgreSQL one is not in APP.
    flags: withDb((at) => at.backend === "sqlite" ? readWrite(at) : read(at)),
  },
  { row: "update", start: "fresh", args: () => ["update", "--yes"], flags: withDb(readWrite) },
  {
    row: "install",
    start: "bundle-pending",
    args: () => ["install", "--yes"],
    flags: withDb(readWrite),
  },
  { row: "recover", start: "migrated", args: () => ["recover"], flags: readWrite },
  { row: "backup", start: "migrated", args: () => ["backup"], flags: withDb(readWrite) },
  {
    row: "restore",
    start: "backed-up",
    args: (at) => ["restore", at.backupId, "--yes"],
    flags: withDb(readWrite),
  },
  { row: "new", start: "fresh", args: () => ["new", "core", "more"], flags: readWrite },
  { row: "backup prune", start: "backed-up", args: () => ["backup", "prune"], flags: readWrite },
  { row: "maintenance on", start: "fresh", args: () => ["maintenance", "on"], flags: readWrite },
  { row: "maintenance off", start: "fresh", args: () => ["maintenance", "off"], flags: readWrite },
  { row: "backups", start: "backed-up", args: () => ["backups"], flags: read },
  {
    row: "backup verify",
    start: "backed-up",
    args: (at) => ["backup", "verify", at.backupId],
    flags: read,
  },
  {
    row: "backup prune --dry-run",
    start: "backed-up",
    args: () => ["backup", "prune", "--dry-run"],
    flags: read,
  },
  { row: "maintenance status", start: "fresh", args: () => ["maintenance", "status"], flags: read },
  {
    row: "install --dry-run",
    start: "bundle-pending",
    args: () => ["install", "--dry-run"],
    flags: read,
  },
  {
    row: "bundle inspect",
    start: "bundle-pending",
    args: (at) => ["bundle", "inspect", join(at.app, "updates/pending/testapp-1.1.0.zip")],
    flags: read,
  },
  {
    row: "keygen",
    start: "fresh",
    args: (at) => ["keygen", "--out", join(at.outside, "keys/release.key")],
    flags: (at) => [`--allow-write=${join(at.outside, "keys")}`],
  },
  {
    row: "bundle create",
    start: "fresh",
    args: (at) => [
      "bundle",
      "create",
      "--from",
      join(at.outside, "release"),
      "--version",
      "1.1.0",
      "--out",
      join(at.outside, "out/testapp-1.1.0.zip"),
    ],
    flags: (at) => [
      `--allow-read=${join(at.outside, "release")},${join(at.outside, "out")},${at.app}`,
      `--allow-write=${join(at.outside, "out")}`,
    ],
  },
  {
    row: "feed check",
    start: "feed-published",
    args: () => ["feed", "check"],
    flags: (at) => [...readWrite(at), `--allow-net=${at.feedHost}`],
  },
  {
    row: "feed fetch",
    start: "feed-checked",
    args: () => ["feed", "fetch", "testapp"],
    flags: (at) => [...readWrite(at), `--allow-net=${at.feedHost}`],
  },
  { row: "feed status", start: "feed-checked", args: () => ["feed", "status"], flags: read },
  {
    row: "feed build",
    start: "feed-built",
    args: (at) => [
      "feed",
      "build",
      "--from",
      join(at.outside, "bundles"),
      "--seq",
      "2",
      "--expires",
      "14d",
      "--out",
      join(at.outside, "out"),
    ],
    flags: (at) => [
      `--allow-read=${join(at.outside, "bundles")},${join(at.outside, "out")}`,
      `--allow-write=${join(at.outside, "out")}`,
    ],
  },
  {
    row: "feed sign",
    start: "feed-built",
    args: (at) => [
      "feed",
      "sign",
      "--index",
      join(at.outside, "out/feed-stable.json"),
      "--key",
      join(at.outside, "keys/feed.key"),
    ],
    flags: (at) => [
      `--allow-read=${join(at.outside, "out")},${join(at.outside, "keys/feed.key")}`,
      `--allow-write=${join(at.outside, "out")}`,
    ],
  },
];

/** The pack the pack cases use: one migration on the app's database. */
const REVIEWS = {
  "20260301000000_reviews.sql": "create table reviews (id integer primary key);\n" +
    "-- lockstep:down\ndrop table reviews;\n",
};

const MIGRATIONS = {
  core: { files: { "20260101000000_users.sql": "create table users (id integer primary key);\n" } },
};

/** An app in the state `start` names, with the folders outside it that cases use. */
async function prepare(
  backend: Backend,
  start: Start,
  outside: string,
  sim?: FeedSimulator,
): Promise<TestApp> {
  const follows = sim !== undefined && start !== "feed-built";
  const app = await makeApp(backend, {
    packages: MIGRATIONS,
    files: { "app/main.ts": "console.log('1.0.0');\n" },
    ...(start === "fleet" ? { extra: { fleet: { host: "web-1" } } } : {}),
    ...(follows ? { extra: { feed: { url: await sim.serve(), keys: [sim.key.trust] } } } : {}),
  });
  for (const folder of ["keys", "out", "release/app"]) {
    await Deno.mkdir(join(outside, folder), { recursive: true });
  }
  await Deno.writeTextFile(join(outside, "release/app/main.ts"), "console.log('1.1.0');\n");
  const config = await app.config();
  if (start !== "fresh") await migrate(config, { backup: false, maintenance: false });
  // The built-in dump: a pg_dump backup would need --allow-run=pg_restore to restore.
  if (start === "backed-up") await backup(config, { pgDump: false });
  if (start === "fleet") {
    // A host that ran and stopped: one `fleet forget` may remove.
    const other = { ...config, fleet: { ...config.fleet!, host: "web-9" } };
    await (await joinFleet(other, { heartbeat: false })).leave();
  }
  if (start === "bundle-pending") {
    await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "console.log('1.1.0');\n" });
  }
  if (start.startsWith("pack-")) {
    await pendingPack(app.dir, { name: "reviews", version: "0.1.0", migrations: REVIEWS });
  }
  if (start === "pack-installed" || start === "pack-disabled") {
    await installPack(config, "reviews", { backup: false, maintenance: false });
  }
  if (start === "pack-disabled") await disablePack(config, "reviews");
  if (start === "feed-checked") {
    await sim!.addBundle({ version: "1.1.0", files: { "app/main.ts": "console.log('1.1.0');\n" } });
  }
  // "feed check" succeeds (exit 0) on an index with nothing new.
  if (follows) await sim.publish();
  if (start === "feed-checked") await feedCheck(config);
  if (start === "feed-built") {
    await pendingRelease(join(outside, "release-app"), "1.1.0", { "app/main.ts": "1.1.0" });
    await Deno.rename(join(outside, "release-app/updates/pending"), join(outside, "bundles"));
    await buildFeed({
      from: join(outside, "bundles"),
      out: join(outside, "out"),
      seq: 1,
      expires: "1d",
    });
    await Deno.copyFile(sim!.key.file, join(outside, "keys/feed.key"));
  }
  return app;
}

/**
 * The app's files and its database's tables and ledger, to show a refusal
 * changed nothing. lockstep's own empty work folders in `updates/` (and the
 * operation lock's file), made before a missing permission is met, are not
 * part of the app.
 */
async function snapshot(app: TestApp): Promise<unknown> {
  const db = app.dbs.main!;
  const tables = await db.tables();
  const ledger = tables.includes("lockstep_migrations")
    ? await db.query("select id from lockstep_migrations order by id")
    : [];
  const files = Object.entries(await treeHash(app.dir)).filter(([path]) =>
    !(path.startsWith("updates/") && path.endsWith("/")) && path !== "updates/.lockstep/lock"
  );
  return { files: Object.fromEntries(files), tables, ledger };
}

for (const backend of BACKENDS) {
  for (const c of CASES.filter((c) => c.backends?.includes(backend) ?? true)) {
    Deno.test(`permissions: "${c.row}" runs with exactly the README's flags and fails clearly without each (${backend})`, async () => {
      await using outside = await tempDir();
      await using sim = c.start.startsWith("feed-") ? await FeedSimulator.create() : undefined;
      await using app = await prepare(backend, c.start, outside.path, sim);
      const backupId = (await Array.fromAsync(Deno.readDir(join(app.dir, "updates/backups")))
        .catch(() => [])).map((e) => e.name).find((n) => !n.startsWith(".")) ?? "none";
      const url = app.dbs.main!.url;
      const at: Places = {
        app: app.dir,
        outside: outside.path,
        backupId,
        postgres: backend === "postgres"
          ? [`--allow-net=${new URL(url).host}`, "--allow-env=PGAPPNAME"]
          : [],
        backend,
        feedHost: sim === undefined ? "" : new URL(await sim.serve()).host,
      };
      const flags = c.flags(at);
      const args = ["--config", app.configPath, ...c.args(at)];
      for (const flag of flags) {
        const before = await snapshot(app);
        const fewer = flags.filter((f) => f !== flag);
        const result = await runCli(fewer, args);
        const kind = flag.replace(/^--allow-(\w+).*/, "$1");
        assertEquals(result.code, 1, `without ${flag}: ${result.stdout}${result.stderr}`);
        assertMatch(result.stderr, /PERMISSION_DENIED/, `without ${flag}: ${result.stderr}`);
        assertMatch(
          result.stderr,
          new RegExp(`--allow-${kind}`),
          `without ${flag}: ${result.stderr}`,
        );
        assert(!/\n\s+at /.test(result.stderr), `a stack trace without ${flag}: ${result.stderr}`);
        assertEquals(await snapshot(app), before, `without ${flag}, something changed`);
      }
      const result = await runCli(flags, args);
      assertEquals(result.code, 0, `with ${flags.join(" ")}: ${result.stdout}${result.stderr}`);
    });
  }
}

Deno.test("permissions: the README's table has a row for every command, and these cases run each row", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Permissions"), readme.indexOf("## Exit codes"));
  const rows = section.split("\n").filter((line) => /^\| `/.test(line))
    .flatMap((line) => [...line.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
  assertEquals([...rows].sort(), CASES.map((c) => c.row).sort(), "rows and cases");
  // "maintenance on|off|status" and "... --flag" rows name their command; "feed status" is one.
  const named = new Set(
    rows.map((row) =>
      row.replace(/ --\S+$/, "").replace(/^maintenance (on|off|status)$/, "maintenance")
    ),
  );
  const missing = COMMANDS.map((command) => command.name).filter((name) => !named.has(name));
  assertEquals(missing, [], "commands without a row in the permission table");
});
