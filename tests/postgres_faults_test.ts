/**
 * PostgreSQL going away gives clear errors, never a driver's stack trace:
 * the backend of a migration terminated, the server stopped
 * (`pg_ctl stop -m fast`) during a migration, the backend of a backup or a
 * restore terminated. Each ends in `DATABASE_UNREACHABLE` (or `LOCK_LOST`)
 * and the failure path of its command: maintenance as the policy says, no
 * partial backup, a restore journal that `check` words truly and `recover`
 * finishes. Through the CLI with the README's flags.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { type CliResult, documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";
import { cuttableProxy, privateCluster } from "./helpers/postgres.ts";
import { tempDir } from "./helpers/temp.ts";
import { listBackups, maintenanceStatus } from "../mod.ts";
import postgres from "../lib/deps/postgres.ts";

const MIGRATIONS = {
  "20260101000000_first.sql": "create table first_table (id integer);\n",
  "20260102000000_sleep.sql": "select pg_sleep(60);\n",
};

interface App {
  readonly dir: string;
  readonly configPath: string;
  readonly url: string;
}

function flags(app: App): string[] {
  return documentedFlags(app.dir, { postgres: [app.url] });
}

function cli(app: App, args: string[]): Promise<CliResult> {
  return runCli(flags(app), [...args, "--config", app.configPath], { cwd: app.dir });
}

/** Starts the CLI and returns a promise of what it printed. */
function started(app: App, args: string[]): () => Promise<CliResult> {
  const child = spawnCli(flags(app), [...args, "--config", app.configPath], { cwd: app.dir });
  const output = child.output();
  return async () => {
    const out = await output;
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  };
}

/** Polls until a lockstep backend of `database` matches `where`; returns its pid. */
async function backendOf(url: string, where: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; i < 300; i++) {
      const rows = await sql.unsafe(
        `select pid from pg_stat_activity where datname = current_database()
            and application_name = 'lockstep' and pid <> pg_backend_pid() and ${where}`,
      );
      if (rows.length > 0) return Number(rows[0]!.pid);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no lockstep backend where ${where}`);
  } finally {
    await sql.end();
  }
}

async function terminate(url: string, pid: number): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_terminate_backend(${pid})`;
  } finally {
    await sql.end();
  }
}

/** A clear error: the code, and no stack trace, no uncaught driver error. */
function assertClear(result: CliResult, codes: RegExp): void {
  assertEquals(result.code, 1, result.stderr);
  assertMatch(result.stderr, codes);
  assert(!/Uncaught|TypeError|unexpected error|\n\s+at /.test(result.stderr), result.stderr);
}

async function tables(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select tablename from pg_tables where schemaname = 'public' order by 1`;
    return rows.map((r) => String(r.tablename));
  } finally {
    await sql.end();
  }
}

for (const mode of ["run", "per-migration"] as const) {
  Deno.test(`postgres: the backend of a sleeping migration terminated (--transaction ${mode}): DATABASE_UNREACHABLE, maintenance as the policy says`, async () => {
    await using app = await makeApp("postgres", {
      packages: { core: { files: MIGRATIONS } },
    });
    const url = app.dbs.main!.url;
    const target = { dir: app.dir, configPath: app.configPath, url };
    const finished = started(target, [
      "migrate",
      "--yes",
      "--no-backup",
      "--transaction",
      mode,
    ]);
    await terminate(url, await backendOf(url, "query like '%pg_sleep(60)%'"));
    const result = await finished();
    assertClear(
      result,
      /the connection was lost .*\[DATABASE_UNREACHABLE\]/s,
    );
    const maintenance = await maintenanceStatus(await app.config());
    if (mode === "run") {
      // The whole run rolled back: nothing changed, maintenance goes off again.
      assertEquals(await tables(url), [
        "lockstep_events",
        "lockstep_migrations",
        "lockstep_packages",
        "lockstep_schema",
      ]);
      assertEquals(maintenance.on, false);
    } else {
      // The first migration committed: maintenance stays on, saying why.
      assert((await tables(url)).includes("first_table"));
      assertEquals(maintenance.on, true);
      assertMatch(maintenance.message ?? "", /DATABASE_UNREACHABLE|connection was lost/);
    }
    await app.write("migrations/core/20260102000000_sleep.sql", "select 1;\n");
    const again = await cli(target, ["migrate", "--yes", "--no-backup"]);
    assertEquals(again.code, 0, again.stderr);
  });
}

Deno.test("postgres: the server stopped (pg_ctl stop -m fast) during a sleeping migration: a clear error, and migrate works once it is back", async () => {
  await using cluster = await privateCluster();
  await using dir = await tempDir();
  const url = cluster.url.replace(/\/postgres$/, "/shop");
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  await admin`create database shop`;
  await admin.end();
  await Deno.mkdir(join(dir.path, "migrations/core"), { recursive: true });
  for (const [name, text] of Object.entries(MIGRATIONS)) {
    await Deno.writeTextFile(join(dir.path, "migrations/core", name), text);
  }
  await Deno.writeTextFile(join(dir.path, "VERSION"), "1.0.0\n");
  const configPath = join(dir.path, "lockstep.json");
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      app: "shop",
      databases: { main: { url } },
      packages: { core: { migrations: "migrations/core", database: "main" } },
    }),
  );
  const app = { dir: dir.path, configPath, url };
  const finished = started(app, ["migrate", "--yes", "--no-backup"]);
  await backendOf(url, "query like '%pg_sleep(60)%'");
  await cluster.stop("fast");
  const result = await finished();
  assertClear(result, /\[(DATABASE_UNREACHABLE|LOCK_LOST)\]/);
  assertMatch(result.stderr, /database "main"/);
  const stopped = await cli(app, ["check"]);
  assertClear(stopped, /\[DATABASE_UNREACHABLE\]/);

  await cluster.start();
  assertEquals((await cli(app, ["check"])).code, 4, "the run rolled back: both still pending");
  await Deno.writeTextFile(
    join(dir.path, "migrations/core/20260102000000_sleep.sql"),
    "select 1;\n",
  );
  const again = await cli(app, ["migrate", "--yes", "--no-backup"]);
  assertEquals(again.code, 0, again.stderr);
});

Deno.test("postgres: the connection cut during a sleeping migration: a clear error, nothing applied", async () => {
  await using app = await makeApp("postgres", { packages: { core: { files: MIGRATIONS } } });
  const direct = app.dbs.main!.url;
  await using proxy = cuttableProxy(direct);
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.url = proxy.url;
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const target = { dir: app.dir, configPath: app.configPath, url: proxy.url };
  const finished = started(target, ["migrate", "--yes", "--no-backup"]);
  await backendOf(direct, "query like '%pg_sleep(60)%'");
  proxy.cut();
  assertClear(await finished(), /\[(DATABASE_UNREACHABLE|LOCK_LOST)\]/);
  assertEquals(await tables(direct), [
    "lockstep_events",
    "lockstep_migrations",
    "lockstep_packages",
    "lockstep_schema",
  ]);
  assertEquals((await maintenanceStatus(await app.config())).on, false);
});

/** An app with rows, and an application session that keeps a lock on its table until disposed. */
async function appWithWaiter(): Promise<TestApp> {
  const app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "20260101000000_items.sql": "create table items (id integer primary key, name text);\n",
        },
      },
    },
    files: { "app/main.ts": "export const v = 1;\n" },
  });
  const target = { dir: app.dir, configPath: app.configPath, url: app.dbs.main!.url };
  assertEquals((await cli(target, ["migrate", "--yes", "--no-backup"])).code, 0);
  await app.dbs.main!.query("insert into items select g, 'n' || g from generate_series(1, 100) g");
  return app;
}

/** An application session holding `mode` on items until disposed: lockstep's statement waits. */
async function holding(url: string, mode: string): Promise<AsyncDisposable> {
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "app" },
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const ready = new Promise<void>((resolve) => (locked = resolve));
  const done = sql.begin(async (tx) => {
    await tx.unsafe(`lock table items in ${mode} mode`);
    locked();
    await released;
  });
  await ready;
  return {
    async [Symbol.asyncDispose]() {
      release();
      await done;
      await sql.end();
    },
  };
}

Deno.test("postgres: the backend of a backup terminated: DATABASE_UNREACHABLE, no partial backup left", async () => {
  await using app = await appWithWaiter();
  const target = { dir: app.dir, configPath: app.configPath, url: app.dbs.main!.url };
  {
    await using _lock = await holding(target.url, "access exclusive");
    const finished = started(target, ["backup"]);
    await terminate(target.url, await backendOf(target.url, "wait_event_type = 'Lock'"));
    assertClear(await finished(), /connection was lost.*\[DATABASE_UNREACHABLE\]/s);
  }
  assertEquals(await listBackups(await app.config()), []);
  const leftovers = [...Deno.readDirSync(join(app.dir, "updates/backups"))].map((e) => e.name);
  assertEquals(leftovers, [], "the partial backup was removed");
  assertEquals((await cli(target, ["backup"])).code, 0);
});

Deno.test("postgres: a restore whose database phase fails: check says what is true, recover finishes it", async () => {
  await using app = await appWithWaiter();
  const target = { dir: app.dir, configPath: app.configPath, url: app.dbs.main!.url };
  assertEquals((await cli(target, ["backup"])).code, 0);
  const id = (await listBackups(await app.config()))[0]!.id;
  await app.write("app/main.ts", "export const v = 2;\n");
  await app.dbs.main!.query("insert into items values (1000, 'after the backup')");
  {
    // The restore's DROP waits behind the application's lock; its backend is terminated.
    await using _lock = await holding(target.url, "access share");
    const finished = started(target, ["restore", id, "--yes", "--no-backup"]);
    await terminate(target.url, await backendOf(target.url, "wait_event_type = 'Lock'"));
    const failed = await finished();
    assertClear(
      failed,
      /Cannot restore database "main" from backup .*The files and state\.json are restored; database "main" was left as it was.*lockstep recover.*\[DATABASE_UNREACHABLE\]/s,
    );
  }
  assertEquals(await Deno.readTextFile(join(app.dir, "app/main.ts")), "export const v = 1;\n");
  const rows = await app.dbs.main!.query("select count(*)::int as n from items");
  assertEquals(rows[0]!.n, 101, "the database holds what it held before the restore");

  const checked = await cli(target, ["check"]);
  assertEquals(checked.code, 5);
  assertMatch(checked.stdout, /put every file back, but not every database/);
  assert(!/half changed/.test(checked.stdout), checked.stdout);
  const blocked = await cli(target, ["migrate", "--yes", "--json"]);
  assertEquals(JSON.parse(blocked.stdout).error.code, "JOURNAL_OPEN");

  const recovered = await cli(target, ["recover"]);
  assertEquals(recovered.code, 0, recovered.stderr);
  const after = await app.dbs.main!.query("select count(*)::int as n from items");
  assertEquals(after[0]!.n, 100, "the database is back at the backup");
  assertEquals((await cli(target, ["maintenance", "off"])).code, 0);
  const ok = await cli(target, ["check"]);
  assertEquals(ok.code, 0, ok.stdout);
});
