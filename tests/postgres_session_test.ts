/**
 * lockstep's own statements never depend on the session a migration leaves
 * behind: a `pg_dump -s` output (which starts by emptying `search_path`)
 * runs as a migration, as a `no-transaction` migration and as a baseline,
 * through the CLI with the README's flags, on a real PostgreSQL server.
 */
import { assertEquals } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { freshDatabase } from "./helpers/postgres.ts";
import { objectsOf, pgTool, psqlFile, schemaOf } from "./helpers/pg_tools.ts";

const OBJECTS = new URL("./testdata/pg-objects/objects.sql", import.meta.url);
/** Unqualified, so it fails unless the session's search_path was put back. */
const AFTER = "create table after_dump (id integer primary key);\n" +
  "alter table products add column note text;\n";

/** `pg_dump -s` of a database holding every object kind of the fixture, as pg_dump wrote it. */
async function dumpedSchema(): Promise<string> {
  await using source = await freshDatabase();
  await psqlFile(source.url, OBJECTS);
  const text = await pgTool("pg_dump", ["-s", source.url]);
  // What every pg_dump output does first: empty the session's search_path.
  assertEquals(text.includes("SELECT pg_catalog.set_config('search_path', '', false);"), true);
  return text;
}

function cli(app: TestApp, args: string[]) {
  return runCli(documentedFlags(app.dir, { postgres: [app.dbs.main!.url] }), [
    ...args,
    "--config",
    app.configPath,
  ], { cwd: app.dir });
}

async function ledger(app: TestApp): Promise<string[]> {
  const rows = await app.dbs.main!.query(
    "select id || ' ' || action as row from lockstep_migrations order by id",
  );
  return rows.map((r) => String(r.row));
}

/** What the app database holds beside the ledger, as pg_dump lists it. */
async function appObjects(app: TestApp): Promise<string[]> {
  return objectsOf(await schemaOf(app.dbs.main!.url))
    .filter((name) => !/ lockstep_/.test(name) && !/after_dump/.test(name));
}

const dump = await dumpedSchema();
const expected = objectsOf(dump);

for (const variant of ["in a transaction", "with no-transaction"] as const) {
  Deno.test(`postgres: a pg_dump -s output runs as a migration ${variant}, and the next one after it`, async () => {
    const header = variant === "with no-transaction" ? "-- lockstep:no-transaction\n" : "";
    await using app = await makeApp("postgres", {
      packages: {
        core: {
          files: {
            "20260101000000_schema.sql": header + dump,
            "20260102000000_after.sql": AFTER,
          },
        },
      },
    });
    const migrated = await cli(app, ["migrate", "--yes", "--no-backup"]);
    assertEquals(migrated.code, 0, migrated.stderr);
    assertEquals(await ledger(app), [
      "core/20260101000000_schema applied",
      "core/20260102000000_after applied",
    ]);
    assertEquals(await appObjects(app), expected);
    const checked = await cli(app, ["check"]);
    assertEquals(checked.code, 0, checked.stdout + checked.stderr);
    const again = await cli(app, ["migrate", "--yes", "--no-backup"]);
    assertEquals(again.code, 0, again.stderr);
  });
}

Deno.test("postgres: a pg_dump -s output runs as a baseline, then the migrations after it", async () => {
  await using app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "baseline.sql": `-- lockstep:baseline core/20260101000000_schema\n${dump}`,
          "20260101000000_schema.sql": dump,
          "20260102000000_after.sql": AFTER,
        },
      },
    },
  });
  const migrated = await cli(app, ["migrate", "--yes", "--no-backup"]);
  assertEquals(migrated.code, 0, migrated.stderr);
  assertEquals(await ledger(app), [
    "core/20260101000000_schema baseline",
    "core/20260102000000_after applied",
  ]);
  assertEquals(await appObjects(app), expected);
  assertEquals((await cli(app, ["check"])).code, 0);
});

Deno.test("postgres: the ledger lives in the first managed schema, whatever the search_path", async () => {
  await using app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "20260101000000_app.sql": "create schema app;\n" +
            "select pg_catalog.set_config('search_path', 'app', false);\n" +
            "create table items (id integer primary key);\n",
          "20260102000000_more.sql": "create table app.more (id integer);\n",
        },
      },
    },
  });
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.schemas = ["ledgered", "app"];
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const migrated = await cli(app, ["migrate", "--yes", "--no-backup"]);
  assertEquals(migrated.code, 0, migrated.stderr);
  const where = await app.dbs.main!.query(
    `select table_schema || '.' || table_name as name from information_schema.tables
      where table_name like 'lockstep%' order by 1`,
  );
  assertEquals(where.map((r) => r.name), [
    "ledgered.lockstep_events",
    "ledgered.lockstep_migrations",
    "ledgered.lockstep_packages",
    "ledgered.lockstep_schema",
  ]);
  assertEquals((await cli(app, ["check"])).code, 0);
});

Deno.test("postgres: a ledger an earlier lockstep made on the search_path is found there", async () => {
  await using app = await makeApp("postgres", {
    packages: {
      core: { files: { "20260101000000_app.sql": "create table app.items (id int);\n" } },
    },
  });
  // As lockstep used to make it: unqualified, so on the search_path (public), whatever schemas said.
  const db = app.dbs.main!;
  await db.query("create schema app");
  await db.query("create table app.items (id int)");
  const { postgres } = await import("../lib/sql/postgres/dialect.ts");
  const ddl = postgres.ledgerDdlIn("public");
  const creates = ddl.slice(ddl.indexOf("end $lockstep$;") + "end $lockstep$;".length);
  for (const statement of creates.split(";").map((t) => t.trim()).filter(Boolean)) {
    await db.query(statement);
  }
  await db.query(
    `insert into public.lockstep_migrations values ('core/20260101000000_app', 'core', 'v1:x',
       now(), 1, 'applied', '1.0.0', null)`,
  );
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.schemas = ["app"];
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const status = await cli(app, ["status", "--json"]);
  assertEquals(status.code, 0, status.stderr);
  assertEquals(JSON.parse(status.stdout).pending, []);
  const tables = await db.query(
    "select count(*)::int as n from pg_tables where tablename = 'lockstep_migrations'",
  );
  assertEquals(tables[0]!.n, 1, "no second ledger was made");
});
