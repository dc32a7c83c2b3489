/**
 * Lock waits are bounded: while an application session holds `LOCK TABLE …
 * IN ACCESS EXCLUSIVE MODE`, `check` answers within seconds (from its drift
 * hint without waiting at all; without one, drift "not determined", the
 * session named) and `migrate --lock-timeout 2` ends within
 * seconds with `LOCK_HELD` naming it, whether it is the drift read or the
 * migration's own DDL that waits; nothing is applied. Through the CLI with
 * the README's flags, on a real PostgreSQL server.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import postgres from "../lib/deps/postgres.ts";
import { cachePath } from "../lib/check_cache.ts";

function cli(app: TestApp, args: string[]) {
  return runCli(documentedFlags(app.dir, { postgres: [app.dbs.main!.url] }), [
    ...args,
    "--config",
    app.configPath,
  ], { cwd: app.dir });
}

/** An application session that holds `LOCK TABLE table IN ACCESS EXCLUSIVE MODE` until disposed. */
async function holdLock(url: string, table: string): Promise<AsyncDisposable & { pid: number }> {
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "shop-worker" },
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: (pid: number) => void;
  const pid = new Promise<number>((resolve) => (locked = resolve));
  const done = sql.begin(async (tx) => {
    await tx.unsafe(`lock table ${table} in access exclusive mode`);
    const [row] = await tx`select pg_backend_pid() as pid`;
    locked(Number(row!.pid));
    await released;
  });
  return {
    pid: await pid,
    async [Symbol.asyncDispose]() {
      release();
      await done;
      await sql.end();
    },
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await fn();
  return [result, performance.now() - started];
}

const ITEMS = "create table items (id integer primary key, name text default 'x');\n" +
  "create schema other;\ncreate table other.things (id integer);\n";

Deno.test("postgres: an application's ACCESS EXCLUSIVE lock: check answers within seconds, naming the session", async () => {
  await using app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_items.sql": ITEMS } } },
  });
  assertEquals((await cli(app, ["migrate", "--yes", "--no-backup"])).code, 0);
  await using lock = await holdLock(app.dbs.main!.url, "items");
  // With the drift hint migrate left, the catalog is as recorded: check reads no table, waits
  // for nothing and finds no drift (what the session has not committed is not the schema yet).
  const [hinted, hintedMs] = await timed(() => cli(app, ["check", "--json"]));
  assert(hintedMs < 15_000, `check took ${hintedMs} ms`);
  assertEquals(hinted.code, 0, hinted.stderr);
  assertEquals(JSON.parse(hinted.stdout).schema[0], {
    database: "main",
    record: "current",
    changes: [],
  });
  // Without it, check must read the locked table's definition.
  await Deno.remove(cachePath(await app.config()));
  const [checked, ms] = await timed(() => cli(app, ["check", "--json"]));
  assert(ms < 15_000, `check took ${ms} ms`);
  assertEquals(checked.code, 0, checked.stderr);
  const report = JSON.parse(checked.stdout);
  const problem = report.problems.find((p: { code: string }) => p.code === "SCHEMA_UNDETERMINED");
  assert(problem, checked.stdout);
  assertEquals(problem.severity, "warning");
  assertMatch(problem.message, new RegExp(`pid ${lock.pid} \\(application "shop-worker"`));
  assertMatch(problem.message, /AccessExclusiveLock on public\.items/);
  assertEquals(report.schema[0].record, "undetermined");
});

Deno.test("postgres: migrate --lock-timeout 2 behind an application's lock ends within seconds with LOCK_HELD", async () => {
  await using app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_items.sql": ITEMS } } },
  });
  assertEquals((await cli(app, ["migrate", "--yes", "--no-backup"])).code, 0);
  // No drift hint: migrate must read the tables' definitions.
  await Deno.remove(cachePath(await app.config()));
  await app.write(
    "migrations/core/20260102000000_note.sql",
    "alter table items add column note text;\n",
  );
  {
    // The drift read waits first: migrate refuses before changing anything.
    await using lock = await holdLock(app.dbs.main!.url, "items");
    for (const backup of [["--no-backup"], []]) {
      const [migrated, ms] = await timed(() =>
        cli(app, ["migrate", "--yes", "--lock-timeout", "2", ...backup])
      );
      assert(ms < 15_000, `migrate took ${ms} ms`);
      assertEquals(migrated.code, 6, migrated.stderr);
      assertMatch(migrated.stderr, /LOCK_HELD/);
      assertMatch(migrated.stderr, new RegExp(`pid ${lock.pid} \\(application "shop-worker"`));
      assert(!/\n\s+at /.test(migrated.stderr), migrated.stderr);
    }
  }
  // The migration's own DDL waits (a table outside the managed schemas: no drift read on it).
  await app.write(
    "migrations/core/20260103000000_things.sql",
    "alter table other.things add column note text;\n",
  );
  await using lock = await holdLock(app.dbs.main!.url, "other.things");
  const [migrated, ms] = await timed(() =>
    cli(app, ["migrate", "--yes", "--no-backup", "--lock-timeout", "2", "--json"])
  );
  assert(ms < 15_000, `migrate took ${ms} ms`);
  assertEquals(migrated.code, 6, migrated.stdout);
  const error = JSON.parse(migrated.stdout).error;
  assertEquals(error.code, "LOCK_HELD");
  assertEquals(error.data.id, "core/20260103000000_things");
  assertEquals(error.data.waitedMs, 2000);
  assertEquals(error.data.holders[0].pid, lock.pid);
  assertEquals(error.data.holders[0].lock.relation, "other.things");
  assertMatch(error.message, /none of its migrations there stays applied/);
  const ledger = await app.dbs.main!.query("select id from lockstep_migrations order by id");
  assertEquals(ledger.map((r) => r.id), ["core/20260101000000_items"]);
  const columns = await app.dbs.main!.query(
    "select column_name from information_schema.columns where table_name = 'items' order by 1",
  );
  assertEquals(columns.map((r) => r.column_name), ["id", "name"], "the run was rolled back");
});
