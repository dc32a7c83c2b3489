// deno-lint-ignore-file no-console
/**
 * Migration and `check` benchmarks, through the real CLI (Deno's start-up
 * included), on a SQLite file and a local PostgreSQL server (a throwaway
 * cluster, or `LOCKSTEP_TEST_POSTGRES_URL`). Every row prints lockstep's
 * median, the floor's or peer's median from the same run, and the ratio:
 *
 * 1. apply 1,000 migrations (each a small table with an index) to an empty
 *    database, with `--transaction per-migration` and with the default (the
 *    whole run one transaction), against the `sqlite3` shell / `psql`
 *    running the same SQL with one transaction per migration, and (for the
 *    default) all in one transaction;
 * 2. apply 1 migration on top of 1,000, against `dbmate up` doing one;
 * 3. `check` with 2,000 applied migrations in 50 packages (2,000 tables),
 *    five bundles of BUNDLE_MB MB pending and a saved update feed, against
 *    `dbmate status` on the same database with the same 2,000 migrations
 *    applied, and against an empty Deno program: warm (its hints saved by
 *    the run before) and cold (no hints: every file read, every bundle
 *    opened, every table compared).
 *
 * dbmate comes from npm (`dbmate@2.36.0`, a Go binary) into a scratch folder.
 *
 * Run: `deno task bench` (ROUNDS=N rounds, default 5; BUNDLE_MB, default 200).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { buildFeed, createBundle, keygen, signFeed } from "../mod.ts";
import { freshDatabase } from "../tests/helpers/postgres.ts";
import { median, randomBytes } from "./common.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);
const BUNDLE_MB = Number(Deno.env.get("BUNDLE_MB") ?? 200);
const DBMATE_VERSION = "2.36.0";

type Backend = "sqlite" | "postgres";

interface App {
  dir: string;
  url: string;
  /** The README's flags for check (read-only), and for changing commands. */
  readFlags: string[];
  writeFlags: string[];
  /** Runs SQL on the app's PostgreSQL database outside lockstep (SQLite apps have none). */
  exec?: (sql: string) => Promise<void>;
  dispose(): Promise<void>;
}

function migrationSql(i: number): string {
  return `create table bench_${i} (id integer primary key, name text not null, created_at text);\n` +
    `create index bench_${i}_name on bench_${i} (name);\n`;
}

function timestamp(p: number, i: number): number {
  return 20260101000000 + p * 10000 + i;
}

async function makeApp(
  backend: Backend,
  packages: number,
  perPackage: number,
  extra: Record<string, unknown> = {},
): Promise<App> {
  const dir = await Deno.makeTempDir({ prefix: "lockstep-bench-" });
  let url = "sqlite:data/app.db";
  let dispose = () => Deno.remove(dir, { recursive: true });
  let exec: App["exec"];
  const readFlags = [`--allow-read=${dir}`];
  if (backend === "postgres") {
    const db = await freshDatabase();
    url = db.url;
    readFlags.push(`--allow-net=${new URL(url).host}`, "--allow-env=PGAPPNAME");
    exec = async (sql) => void await db.query(sql);
    dispose = async () => {
      await db[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    };
  }
  const pkgs: Record<string, { migrations: string; database: string }> = {};
  let n = 0;
  for (let p = 0; p < packages; p++) {
    const folder = join(dir, "migrations", `p${p}`);
    await Deno.mkdir(folder, { recursive: true });
    pkgs[`p${p}`] = { migrations: `migrations/p${p}`, database: "main" };
    for (let i = 0; i < perPackage; i++) {
      await Deno.writeTextFile(join(folder, `${timestamp(p, i)}_m${i}.sql`), migrationSql(n++));
    }
  }
  await Deno.writeTextFile(
    join(dir, "lockstep.json"),
    JSON.stringify({ app: "bench", databases: { main: { url } }, packages: pkgs, ...extra }),
  );
  const writeFlags = [...readFlags, `--allow-write=${dir}`];
  return { dir, url, readFlags, writeFlags, ...(exec ? { exec } : {}), dispose };
}

async function run(cmd: string, args: string[], ok: (code: number) => boolean = (c) => c === 0) {
  const started = performance.now();
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  const ms = performance.now() - started;
  if (!ok(out.code)) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}: ${decode(out.stderr)}`);
  }
  return ms;
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function lockstep(app: App, flags: string[], args: string[]): Promise<number> {
  return run(
    Deno.execPath(),
    [
      "run",
      "--no-prompt",
      "--quiet",
      ...flags,
      CLI,
      ...args,
      "--config",
      `${app.dir}/lockstep.json`,
    ],
    // check exits 3 with bundles pending, 4 with migrations pending; feed check 7 with updates.
    (code) =>
      code === 0 || (args[0] === "check" && (code === 3 || code === 4)) ||
      (args[0] === "feed" && code === 7),
  );
}

/** Installs dbmate from npm into `work`; returns its binary. */
async function installDbmate(work: string): Promise<string> {
  const prefix = join(work, "dbmate");
  await run("npm", [
    "install",
    "--silent",
    "--no-audit",
    "--no-fund",
    "--prefix",
    prefix,
    `dbmate@${DBMATE_VERSION}`,
  ]);
  return join(prefix, "node_modules/@dbmate/linux-x64/bin/dbmate");
}

/**
 * dbmate's view of the app's database: the app's first `count` migrations
 * as dbmate's files in `folder`, and its own ledger saying they are applied
 * — in schema `dbmate` on PostgreSQL, in a copy of the database file on
 * SQLite — so that lockstep does not see dbmate's table as schema drift.
 * Returns dbmate's arguments before its command.
 */
async function dbmateMirror(app: App, folder: string, count: number): Promise<string[]> {
  await Deno.mkdir(folder, { recursive: true });
  const versions: string[] = [];
  for (let n = 0; n < count; n++) {
    const version = String(20260101000000 + n);
    versions.push(version);
    await Deno.writeTextFile(
      join(folder, `${version}_m${n}.sql`),
      `-- migrate:up\n${migrationSql(n)}\n-- migrate:down\n`,
    );
  }
  const values = versions.map((v) => `('${v}')`).join(",");
  if (app.url.startsWith("sqlite:")) {
    const copy = join(app.dir, "data/dbmate.db");
    await Deno.copyFile(join(app.dir, "data/app.db"), copy);
    const db = new DatabaseSync(copy);
    try {
      db.exec(`create table schema_migrations (version varchar(128) primary key);
               insert into schema_migrations (version) values ${values};`);
    } finally {
      db.close();
    }
    return ["--url", `sqlite:${copy}`, "--migrations-dir", folder];
  }
  await app.exec!(`create schema dbmate;
    create table dbmate.schema_migrations (version varchar(128) primary key);
    insert into dbmate.schema_migrations (version) values ${values};`);
  return [
    "--url",
    `${app.url}?sslmode=disable`,
    "--migrations-dir",
    folder,
    "--migrations-table",
    "dbmate.schema_migrations",
  ];
}

/** One workload's figures: lockstep against its floor or peer, from the same run. */
function row(label: string, mine: number[], floorLabel: string, floor: number[]): void {
  const a = median(mine);
  const b = median(floor);
  console.log(
    `${label}: lockstep ${a.toFixed(0)} ms | ${floorLabel} ${b.toFixed(0)} ms | ${
      (a / b).toFixed(2)
    }×`,
  );
}

async function applyFromEmpty(backend: Backend, dbmate: string, work: string): Promise<void> {
  const fromEmpty: number[] = [];
  const perMigration: number[] = [];
  const floor: number[] = [];
  const floorOne: number[] = [];
  const oneMore: number[] = [];
  const dbmateOne: number[] = [];
  const sql = Array.from({ length: 1000 }, (_, i) => migrationSql(i));
  const scriptFile = join(work, "thousand.sql");
  await Deno.writeTextFile(scriptFile, sql.map((body) => `begin;\n${body}commit;\n`).join(""));
  const oneFile = join(work, "thousand-in-one.sql");
  await Deno.writeTextFile(oneFile, `begin;\n${sql.join("")}commit;\n`);
  for (let r = 0; r < ROUNDS; r++) {
    const each = await makeApp(backend, 1, 1000);
    try {
      perMigration.push(
        await lockstep(each, each.writeFlags, [
          "migrate",
          "--yes",
          "--no-backup",
          "--transaction",
          "per-migration",
        ]),
      );
    } finally {
      await each.dispose();
    }
    const app = await makeApp(backend, 1, 1000);
    try {
      fromEmpty.push(await lockstep(app, app.writeFlags, ["migrate", "--yes", "--no-backup"]));
      await Deno.writeTextFile(
        join(app.dir, "migrations/p0/20270101000000_one_more.sql"),
        migrationSql(5000),
      );
      oneMore.push(await lockstep(app, app.writeFlags, ["migrate", "--yes", "--no-backup"]));
      // dbmate, on the same database, with its own 1,000 applied and one to apply.
      const folder = join(app.dir, "dbmate");
      const args = await dbmateMirror(app, folder, 1000);
      await Deno.writeTextFile(
        join(folder, "20270101000000_one.sql"),
        `-- migrate:up\n${migrationSql(6000)}\n-- migrate:down\n`,
      );
      dbmateOne.push(await run(dbmate, [...args, "--no-dump-schema", "up"]));
    } finally {
      await app.dispose();
    }
    floor.push(await shellFloor(backend, scriptFile, work));
    floorOne.push(await shellFloor(backend, oneFile, work));
  }
  const shell = backend === "sqlite" ? "sqlite3 shell" : "psql";
  row(
    `${backend}: apply 1,000 migrations to an empty database, --transaction per-migration`,
    perMigration,
    `${shell}, one transaction each`,
    floor,
  );
  row(
    `${backend}: apply 1,000 migrations to an empty database (default: the run is one transaction)`,
    fromEmpty,
    `${shell}, one transaction each`,
    floor,
  );
  row(
    `${backend}: apply 1,000 migrations to an empty database (default: the run is one transaction)`,
    fromEmpty,
    `${shell}, all in one transaction`,
    floorOne,
  );
  row(`${backend}: apply 1 migration on top of 1,000`, oneMore, "dbmate up doing one", dbmateOne);
}

/** The same 1,000 migrations through the database's own shell, one transaction each. */
async function shellFloor(backend: Backend, scriptFile: string, work: string): Promise<number> {
  if (backend === "sqlite") {
    const db = join(work, `floor-${crypto.randomUUID()}.db`);
    try {
      return await run("sqlite3", ["-bail", db, `.read ${scriptFile}`]);
    } finally {
      await Deno.remove(db).catch(() => undefined);
    }
  }
  const db = await freshDatabase();
  try {
    return await run("psql", ["-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", scriptFile, db.url]);
  } finally {
    await db[Symbol.asyncDispose]();
  }
}

/** Five bundles of about BUNDLE_MB MB each (a deterministic tree) and a signed feed listing them. */
async function makeReleases(
  work: string,
): Promise<{ bundles: string[]; feed: string; key: string }> {
  const release = join(work, "release");
  const random = randomBytes();
  const total = BUNDLE_MB * 1024 * 1024;
  await Deno.mkdir(join(release, "assets"), { recursive: true });
  for (let i = 0; i < 4; i++) {
    await Deno.writeFile(join(release, `assets/big${i}.bin`), random(new Uint8Array(total * 0.2)));
  }
  for (let i = 0; i < 1000; i++) {
    const folder = join(release, `app/m${i % 20}`);
    await Deno.mkdir(folder, { recursive: true });
    const line = `export const value${i} = "${"lorem ipsum dolor sit amet ".repeat(3)}";\n`;
    const size = Math.floor(total * 0.2 / 1000);
    await Deno.writeTextFile(
      join(folder, `f${i}.ts`),
      line.repeat(size / line.length + 1).slice(0, size),
    );
  }
  const folder = join(work, "bundles");
  await Deno.mkdir(folder);
  const bundles: string[] = [];
  for (let v = 1; v <= 5; v++) {
    const out = join(folder, `bench-1.${v}.0.zip`);
    await createBundle({ from: release, app: "bench", version: `1.${v}.0`, out });
    bundles.push(out);
  }
  const key = await keygen(join(work, "feed.key"));
  const feed = join(work, "feed");
  const built = await buildFeed({ from: folder, out: feed, seq: 1, expires: "30d" });
  await signFeed(built.index, key.path);
  return { bundles, feed, key: key.trustEntry };
}

async function checkScenario(
  backend: Backend,
  dbmate: string,
  releases: { bundles: string[]; feed: string; key: string },
  empty: string,
): Promise<void> {
  const app = await makeApp(backend, 50, 40, {
    feed: { url: releases.feed, keys: [releases.key] },
  });
  try {
    await lockstep(app, app.writeFlags, ["migrate", "--yes", "--no-backup"]);
    const pending = join(app.dir, "updates/pending");
    await Deno.mkdir(pending, { recursive: true });
    for (const bundle of releases.bundles) {
      await Deno.link(bundle, join(pending, bundle.slice(bundle.lastIndexOf("/") + 1)));
    }
    await lockstep(app, [...app.writeFlags, `--allow-read=${releases.feed}`], ["feed", "check"]);
    const status = [...await dbmateMirror(app, join(app.dir, "dbmate"), 2000), "status"];
    // The hints are recorded for files changed more than two seconds before they are read.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    // check may keep its hints when it may write in the updates folder.
    const warmFlags = [...app.readFlags, `--allow-write=${join(app.dir, "updates")}`];
    await lockstep(app, warmFlags, ["check"]);
    const cache = join(app.dir, "updates/.lockstep/check-cache.json");
    const warm: number[] = [];
    const cold: number[] = [];
    const floor: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < Math.max(ROUNDS, 10); r++) {
      warm.push(await lockstep(app, warmFlags, ["check"]));
      floor.push(await run(dbmate, status));
      bare.push(
        await run(Deno.execPath(), ["run", "--no-prompt", "--quiet", ...app.readFlags, empty]),
      );
    }
    // (A lockstep that keeps no hints has no cache to put aside.)
    const hints = await Deno.readFile(cache).catch(() => undefined);
    for (let r = 0; r < ROUNDS; r++) {
      await Deno.remove(cache).catch(() => undefined);
      cold.push(await lockstep(app, app.readFlags, ["check"]));
    }
    if (hints) await Deno.writeFile(cache, hints);
    const resident = await inProcess(app, warmFlags);
    const what = `${backend}: check, 2,000 migrations in 50 packages, 2,000 tables, ` +
      `5 × ${BUNDLE_MB} MB bundles pending, a saved feed`;
    row(`${what}, hints saved (every start)`, warm, "dbmate status", floor);
    row(`${what}, hints saved`, warm, "empty Deno program", bare);
    console.log(
      `${backend}: check above an empty Deno program: ${
        (median(warm) - median(bare)).toFixed(0)
      } ms (target 30 ms)`,
    );
    row(`${what}, no hints (after a change)`, cold, "dbmate status", floor);
    row(
      `${what}, hints saved, check() in a process that has loaded lockstep (gate() in an app)`,
      resident,
      "dbmate status",
      floor,
    );
  } finally {
    await app.dispose();
  }
}

/**
 * `check()` called again and again in one process that has loaded lockstep
 * (as an application's `gate()` runs in it): the work alone, without Deno's
 * start-up and module loading. Returns each call's time after a first one.
 */
async function inProcess(app: App, flags: string[]): Promise<number[]> {
  const script = join(app.dir, "resident-check.ts");
  const mod = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { check, loadConfig } from ${JSON.stringify(mod)};
const config = await loadConfig(${JSON.stringify(join(app.dir, "lockstep.json"))});
await check(config);
const times = [];
for (let i = 0; i < ${Math.max(ROUNDS, 10)}; i++) {
  const started = performance.now();
  await check(config);
  times.push(performance.now() - started);
}
console.log(JSON.stringify(times));
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--quiet", ...flags, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`the resident check failed: ${decode(out.stderr)}`);
    return JSON.parse(decode(out.stdout));
  } finally {
    await Deno.remove(script);
  }
}

const work = await Deno.makeTempDir({ prefix: "lockstep-bench-work-" });
try {
  console.log(
    `lockstep migration and check benchmarks, ${ROUNDS} rounds each (check: at least 10), medians\n`,
  );
  const dbmate = await installDbmate(work);
  const empty = join(work, "empty.ts");
  await Deno.writeTextFile(empty, "export {};\n");
  const releases = await makeReleases(work);
  for (const backend of ["sqlite", "postgres"] as const) {
    await applyFromEmpty(backend, dbmate, work);
    await checkScenario(backend, dbmate, releases, empty);
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
