/**
 * Adopting a database made before lockstep managed it (issue 12, item 7):
 * `check` says it has tables but no migration applied and points to
 * `stamp --all` and baselines; a `migrate` that meets "already exists" says
 * the same after rolling back, and changes nothing; `stamp --all` adopts it.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

const USERS = "create table users (id integer primary key, name text);\n";
const ORDERS = "create table orders (id integer primary key, user_id integer);\n";

for (const backend of BACKENDS) {
  Deno.test(`an existing database with tables and no ledger: check and a failing migrate point to stamp --all and baselines; stamp --all adopts it (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: {
        core: {
          files: { "20260101000000_users.sql": USERS, "20260102000000_orders.sql": ORDERS },
        },
      },
    });
    const db = app.dbs.main!;
    if (backend === "sqlite") {
      // An empty file is an empty SQLite database (the helper never creates one).
      await Deno.mkdir(`${app.dir}/data`, { recursive: true });
      await Deno.writeFile(`${app.dir}/data/main.db`, new Uint8Array());
    }
    // The application made these itself, before it used lockstep.
    await db.query(USERS);
    await db.query(ORDERS);
    await db.query("insert into users (id, name) values (1, 'ada')");
    const flags = documentedFlags(app.dir, {
      postgres: backend === "postgres" ? [db.url] : [],
    });
    const cli = (...args: string[]) => runCli(flags, [...args, "--config", app.configPath]);

    const checked = await cli("check", "--json");
    assertEquals(checked.code, 4, checked.stderr);
    const problem = JSON.parse(checked.stdout).problems
      .find((p: { code: string }) => p.code === "DATABASE_NOT_ADOPTED");
    assert(problem, checked.stdout);
    assertEquals(problem.severity, "migrations");
    assertEquals(problem.data.database, "main");
    assertEquals(problem.data.tables.map((t: string) => t.replace(/^public\./, "")), [
      "orders",
      "users",
    ]);
    assertMatch(problem.message, /has 2 table\(s\) .* but no migration applied/);
    assertMatch(problem.message, /"lockstep stamp --all"/);
    assertMatch(problem.message, /baseline/);

    const migrated = await cli("migrate", "--yes");
    assertEquals(migrated.code, 1, migrated.stderr);
    assertMatch(migrated.stderr, /already exists/);
    assertMatch(migrated.stderr, /The database already has what this migration creates/);
    assertMatch(migrated.stderr, /"lockstep stamp --all".*baseline.*\[MIGRATION_FAILED\]/s);
    assert(!/\n\s+at /.test(migrated.stderr), "no stack trace");
    assertEquals(await db.query("select id, name from users"), [{ id: 1, name: "ada" }]);
    assertEquals(await db.query("select id from lockstep_migrations"), [], "nothing recorded");

    const stamped = await cli("stamp", "--all", "--yes");
    assertEquals(stamped.code, 0, stamped.stderr);
    const after = await cli("check");
    assertEquals(after.code, 0, after.stdout + after.stderr);
  });

  Deno.test(`a fresh database is not "to adopt", and one with tables and every migration applied is not either (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
    });
    const flags = documentedFlags(app.dir, {
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    const cli = (...args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
    const fresh = await cli("check", "--json");
    assertEquals(fresh.code, 4);
    assertEquals(JSON.parse(fresh.stdout).problems.map((p: { code: string }) => p.code), [
      "MIGRATIONS_PENDING",
    ]);
    assertEquals((await cli("migrate", "--yes")).code, 0);
    assertEquals((await cli("check")).code, 0);
  });
}
