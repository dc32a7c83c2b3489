import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

const USERS = `create table users (id integer primary key, email text not null);
create index users_email on users (email);
`;
const ORDERS = `create table orders (
  id integer primary key,
  user_id integer references users (id),
  total integer not null default 0
);
`;
const NOTES = "create table notes (id integer primary key, body text);\n";

interface Change {
  table: string;
  kind: string;
  name: string;
  change: string;
}

for (const backend of BACKENDS) {
  const t = (name: string, fn: () => Promise<void>) => Deno.test(`${name} (${backend})`, fn);
  const table = (name: string) => backend === "postgres" ? `public.${name}` : name;
  const app = () =>
    makeApp(backend, {
      packages: {
        core: { files: { "20260101000000_users.sql": USERS, "20260201000000_orders.sql": ORDERS } },
      },
    });
  const cli = (app: TestApp, args: string[], write = true) =>
    runCli(
      documentedFlags(app.dir, {
        write,
        postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
      }),
      [...args, "--config", app.configPath],
    );
  const checkJson = async (app: TestApp) => {
    const result = await cli(app, ["check", "--json"], false);
    return { code: result.code, report: JSON.parse(result.stdout) };
  };
  const changesOf = (report: { problems: { code: string; data: { changes?: Change[] } }[] }) =>
    report.problems.filter((p) => p.code === "SCHEMA_DRIFT")
      .flatMap((p) => p.data.changes!)
      .map(({ table, kind, name, change }) => ({ table, kind, name, change }));
  const events = async (app: TestApp, kind: string) =>
    (await app.dbs.main!.query(
      `select message from lockstep_events where kind = '${kind}' order by id`,
    )).map((r) => String(r.message));

  t(
    "migrate records every table's definition; a column added by hand makes check exit 5 naming it",
    async () => {
      await using a = await app();
      const run = await cli(a, ["migrate", "--yes", "--no-backup"]);
      assertEquals(run.code, 0, run.stderr);
      const recorded = await a.dbs.main!.query(
        "select table_name, hash from lockstep_schema order by table_name",
      );
      assertEquals(recorded.map((r) => r.table_name), [table("orders"), table("users")]);
      assert(recorded.every((r) => /^[0-9a-f]{64}$/.test(String(r.hash))));
      assertEquals((await events(a, "schema-recorded")).length, 1);
      assertEquals((await checkJson(a)).code, 0);

      await a.dbs.main!.query("alter table users add column nickname text");
      const text = await cli(a, ["check"], false);
      assertEquals(text.code, 5, text.stderr);
      assertMatch(text.stdout, new RegExp(`table ${table("users")}: column nickname added`));
      const { code, report } = await checkJson(a);
      assertEquals(code, 5);
      assertEquals(report.problems[0].code, "SCHEMA_DRIFT");
      assertEquals(report.problems[0].severity, "blocked");
      assertEquals(changesOf(report), [
        { table: table("users"), kind: "column", name: "nickname", change: "added" },
      ]);
      // The gate refuses as check does.
      const start = await runCli(
        [
          ...documentedFlags(a.dir, {
            write: false,
            postgres: backend === "postgres" ? [a.dbs.main!.url] : [],
          }),
          `--allow-run=${Deno.execPath()}`,
        ],
        ["start", "--ignore", "--config", a.configPath, "--", Deno.execPath(), "--version"],
      );
      assertEquals(start.code, 5, start.stderr);
    },
  );

  t("indexes, triggers, constraints and tables changed by hand are each named", async () => {
    await using a = await app();
    assertEquals((await cli(a, ["migrate", "--yes", "--no-backup"])).code, 0);
    const db = a.dbs.main!;
    await db.query("drop index users_email");
    await db.query("create table audit (id integer primary key)");
    await db.query("drop table orders");
    if (backend === "postgres") {
      await db.query("alter table users add constraint users_email_check check (email <> '')");
      await db.query("alter table users alter column email drop not null");
    } else {
      await db.query(
        "create trigger users_touch after update on users begin select 1; end",
      );
    }
    const { code, report } = await checkJson(a);
    assertEquals(code, 5);
    assertEquals(changesOf(report), [
      { table: table("audit"), kind: "table", name: table("audit"), change: "added" },
      { table: table("orders"), kind: "table", name: table("orders"), change: "removed" },
      ...(backend === "postgres"
        ? [
          { table: table("users"), kind: "column", name: "email", change: "changed" },
          { table: table("users"), kind: "index", name: "users_email", change: "removed" },
          {
            table: table("users"),
            kind: "constraint",
            name: "users_email_check",
            change: "added",
          },
        ]
        : [
          { table: table("users"), kind: "index", name: "users_email", change: "removed" },
          { table: table("users"), kind: "trigger", name: "users_touch", change: "added" },
        ]),
    ]);
  });

  t(
    "migrate refuses on drift and changes nothing; --accept-drift records the baseline, logs it, then applies",
    async () => {
      await using a = await app();
      assertEquals((await cli(a, ["migrate", "--yes", "--no-backup"])).code, 0);
      await a.write("migrations/core/20260301000000_notes.sql", NOTES);
      await a.dbs.main!.query("drop index users_email");
      const ledgerBefore = await a.dbs.main!.query(
        "select id from lockstep_migrations order by id",
      );

      const refused = await cli(a, ["migrate", "--yes", "--no-backup"]);
      assertEquals(refused.code, 1);
      assertMatch(refused.stderr, /SCHEMA_DRIFT/);
      assertMatch(refused.stderr, new RegExp(`table ${table("users")}: index users_email removed`));
      assertMatch(refused.stderr, /--accept-drift/);
      assertMatch(refused.stderr, /Nothing was changed/);
      assertEquals(await a.dbs.main!.tables(), ledgerTablesAnd(["orders", "users"]));
      assertEquals(
        await a.dbs.main!.query("select id from lockstep_migrations order by id"),
        ledgerBefore,
      );
      const dry = await cli(a, ["migrate", "--dry-run"]);
      assertEquals(dry.code, 1);
      assertMatch(dry.stderr, /SCHEMA_DRIFT/);

      const accepted = await cli(a, ["migrate", "--yes", "--no-backup", "--accept-drift"]);
      assertEquals(accepted.code, 0, accepted.stderr);
      assertMatch(accepted.stdout, /Recorded the live schema of database "main" as the baseline/);
      assertMatch(accepted.stdout, /Applied 1 migration/);
      const logged = await events(a, "drift-accepted");
      assertEquals(logged.length, 1);
      assertMatch(logged[0]!, new RegExp(`table ${table("users")}: index users_email removed`));
      assertEquals(await a.dbs.main!.tables(), ledgerTablesAnd(["notes", "orders", "users"]));
      const { code, report } = await checkJson(a);
      assertEquals([code, report.problems], [0, []]);

      // Nothing drifted any more: --accept-drift has nothing to record.
      const again = await cli(a, ["migrate", "--yes", "--no-backup", "--accept-drift"]);
      assertEquals(again.code, 0, again.stderr);
      assertMatch(again.stdout, /Nothing to migrate/);
      assertEquals((await events(a, "drift-accepted")).length, 1);
    },
  );

  t("a migration run that fails part-way is reported as pending, not as drift", async () => {
    await using a = await app();
    assertEquals((await cli(a, ["migrate", "--yes", "--no-backup"])).code, 0);
    await a.write("migrations/core/20260301000000_notes.sql", NOTES);
    await a.write("migrations/core/20260401000000_broken.sql", "create table broken (;\n");
    const failed = await cli(a, [
      "migrate",
      "--yes",
      "--no-backup",
      "--transaction",
      "per-migration",
    ]);
    assertEquals(failed.code, 1);
    assertMatch(failed.stderr, /MIGRATION_FAILED/);
    // notes was applied and committed, but the run never recorded the schema.
    assert((await a.dbs.main!.tables()).includes("notes"));
    const { code, report } = await checkJson(a);
    assertEquals(code, 4);
    // The failed migrate left maintenance on, with its reason: a warning.
    assertEquals(report.problems.map((p: { code: string }) => p.code), [
      "MIGRATIONS_PENDING",
      "MAINTENANCE_ON",
    ]);
    assertEquals(report.schema[0].record, "stale");

    await a.write(
      "migrations/core/20260401000000_broken.sql",
      "create table fixed (id integer);\n",
    );
    assertEquals((await cli(a, ["migrate", "--yes", "--no-backup"])).code, 0);
    const after = await checkJson(a);
    assertEquals([after.code, after.report.schema[0].record], [0, "current"]);
  });

  t(
    "stamp records the live schema of an adopted database; a missing record is a warning",
    async () => {
      await using a = await app();
      // Adopting a database whose tables were made before lockstep.
      await a.dbs.main!.query(
        "create table users (id integer primary key, email text not null)",
      );
      await a.dbs.main!.query("create index users_email on users (email)");
      await a.dbs.main!.query(
        "create table orders (id integer primary key, user_id integer references users (id), total integer not null default 0)",
      );
      const stamped = await cli(a, ["stamp", "--all", "--yes"]);
      assertEquals(stamped.code, 0, stamped.stderr);
      assertEquals((await checkJson(a)).code, 0);

      // A record removed (a database migrated by an older lockstep): a warning, not a refusal.
      await a.dbs.main!.query("delete from lockstep_events where kind = 'schema-recorded'");
      const { code, report } = await checkJson(a);
      assertEquals(code, 0);
      assertEquals(report.problems.map((p: { code: string }) => p.code), ["SCHEMA_UNRECORDED"]);
      assertEquals(report.problems[0].severity, "warning");
      const accepted = await cli(a, ["migrate", "--yes", "--no-backup", "--accept-drift"]);
      assertEquals(accepted.code, 0, accepted.stderr);
      assertEquals((await checkJson(a)).report.problems, []);
      assertMatch((await events(a, "drift-accepted"))[0]!, /no current record \(unrecorded\)/);
    },
  );
}

function ledgerTablesAnd(tables: string[]): string[] {
  return [
    ...tables,
    "lockstep_events",
    "lockstep_migrations",
    "lockstep_packages",
    "lockstep_schema",
  ].sort();
}
