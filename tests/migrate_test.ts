import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { BACKENDS, fixture, makeApp } from "./helpers/app.ts";
import { check, migrate, newMigration, newRelease, stamp, status } from "../mod.ts";
import { readEvents } from "../lib/migrations/ledger.ts";
import { openDatabase } from "../lib/sql/open.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

const SETTINGS = '{\n  "currency": "EUR"\n}\n';

for (const backend of BACKENDS) {
  const t = (name: string, fn: () => Promise<void>) => Deno.test(`${name} (${backend})`, fn);

  t("migrate() applies migrations of several packages in dependency order", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const config = await app.config();
    assertEquals((await check(config)).exitCode, 4);
    const result = await migrate(config);
    assertEquals(result.applied, [
      "core/20260101000000_users",
      "orders/20260102000000_orders",
      "core/20260301000000_user_names",
      "orders/20260401000000_order_names",
    ]);
    const db = app.dbs.main!;
    assert((await db.tables()).includes("orders"));
    const ledger = await db.query(
      "select id, action, checksum, code_version from lockstep_migrations order by id",
    );
    assertEquals(ledger.length, 4);
    assert(ledger.every((row) => row.action === "applied" && row.code_version === "1.0.0"));
    assert(ledger.every((row) => /^v1:[0-9a-f]{64}$/.test(String(row.checksum))));
    const packages = await db.query(
      "select package, version from lockstep_packages order by package",
    );
    assertEquals(packages, [
      { package: "core", version: "core/20260301000000_user_names" },
      { package: "orders", version: "orders/20260401000000_order_names" },
    ]);
    const report = await check(config);
    assertEquals([report.exitCode, report.ok], [0, true]);
    assertEquals((await migrate(config)).applied, [], "a second run has nothing to do");
  });

  t(
    "migrate() per migration rolls back a failed migration and keeps the earlier ones",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("failing-migration") });
      const config = await app.config();
      const error = await rejectsWith(
        migrate(config, { transaction: "per-migration" }),
        "MIGRATION_FAILED",
      );
      assertEquals(error.data.id, "core/20260102000000_broken");
      assertEquals(error.data.applied, ["core/20260101000000_users"]);
      assertMatch(error.message, /core\/20260102000000_broken.*selec/);
      const db = app.dbs.main!;
      const tables = await db.tables();
      assert(tables.includes("users"), "the earlier migration stays applied");
      assert(!tables.includes("audit"), "the failed migration's table was rolled back");
      assert(!tables.includes("after_broken"), "nothing after the failure ran");
      assertEquals(
        await db.query("select count(*) as n from users").then((r) => Number(r[0]!.n)),
        0,
      );
      const ledger = await db.query("select id from lockstep_migrations");
      assertEquals(ledger.map((r) => r.id), ["core/20260101000000_users"]);
      const events = await db.query(
        "select kind, migration, message from lockstep_events where kind = 'failed'",
      );
      assertEquals(events.length, 1);
      assertEquals(events[0]!.migration, "core/20260102000000_broken");
      assertEquals((await check(config)).exitCode, 4, "the failed migration is still pending");
    },
  );

  t(
    "migrate() undoes a failed TypeScript migration's file changes with its database changes",
    async () => {
      await using app = await makeApp(backend, {
        packages: await fixture("failing-files"),
        files: { "config/settings.json": SETTINGS },
      });
      const error = await rejectsWith(migrate(await app.config()), "MIGRATION_FAILED");
      assertMatch(error.message, /conversion failed on purpose.*file changes undone/);
      assertEquals(await Deno.readTextFile(`${app.dir}/config/settings.json`), SETTINGS);
      assertEquals(
        await exists(`${app.dir}/config/new.json`),
        false,
        "the created file is removed",
      );
    },
  );

  t("migrate() runs pre, up and post in order and passes yes", async () => {
    await using app = await makeApp(backend, { packages: await fixture("hooks") });
    const events: string[] = [];
    const result = await migrate(await app.config(), {
      yes: true,
      onProgress: (event) => events.push(event.type),
    });
    assertEquals(result.applied, ["core/20260101000000_hooks"]);
    assertEquals(events, ["start", "progress", "done"]);
    const steps = await app.dbs.main!.query("select step from hook_log");
    assertEquals(steps.map((r) => r.step), ["pre", "up:yes", "post"]);
  });

  t(
    "migrate({ dryRun }) shows the plan, SQL bodies and the summed estimate, and changes nothing",
    async () => {
      await using app = await makeApp(backend, {
        packages: { hooks: (await fixture("hooks")).core!, ...(await fixture("cross-package")) },
      });
      const result = await migrate(await app.config(), { dryRun: true });
      assertEquals(result.applied, []);
      assertEquals(result.planned.length, 5);
      assertEquals(result.estimateSeconds, 42);
      assertMatch(
        result.planned.find((m) => m.id === "core/20260101000000_users")!.sql!,
        /create table users/,
      );
      assertEquals(await app.dbs.main!.tables(), []);
    },
  );

  t("migrate({ to }) applies only that migration and what it depends on", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const result = await migrate(await app.config(), { to: "orders/20260102000000_orders" });
    assertEquals(result.applied, ["core/20260101000000_users", "orders/20260102000000_orders"]);
    assertEquals((await status(await app.config())).pending, [
      "core/20260301000000_user_names",
      "orders/20260401000000_order_names",
    ]);
  });

  t("migrate() stops when confirm() declines, with nothing applied", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const result = await migrate(await app.config(), { confirm: () => Promise.resolve(false) });
    assertEquals([result.confirmed, result.applied.length, result.planned.length], [false, 0, 4]);
    assertEquals(await app.dbs.main!.tables(), []);
  });

  t("migrate() refuses a database that is ahead of the code; check() says blocked", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    await migrate(await app.config());
    await app.remove("migrations/orders/20260401000000_order_names.ts");
    const config = await app.config();
    const error = await rejectsWith(migrate(config), "DATABASE_AHEAD");
    assertEquals(error.data.ids, ["orders/20260401000000_order_names"]);
    const report = await check(config);
    assertEquals(report.exitCode, 5);
    assertEquals(report.problems.map((p) => p.code), ["DATABASE_AHEAD"]);
  });

  t(
    "migrate() refuses an applied migration whose file changed until stamp accepts it",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      await migrate(await app.config());
      await app.write(
        "migrations/core/20260101000000_users.sql",
        "-- edited\ncreate table users (id integer);\n",
      );
      const config = await app.config();
      await rejectsWith(migrate(config), "MIGRATION_CHANGED");
      assertEquals((await check(config)).problems.map((p) => p.code), ["MIGRATION_CHANGED"]);
      const accepted = await stamp(config, "core/20260101000000_users");
      assertEquals(accepted.accepted, ["core/20260101000000_users"]);
      assertEquals((await check(config)).exitCode, 0);
      const events = await app.dbs.main!.query(
        "select kind from lockstep_events where kind = 'checksum-accepted'",
      );
      assertEquals(events.length, 1);
    },
  );

  t("migrate() refuses an applied migration whose ancestor is not applied", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    await migrate(await app.config());
    await app.write(
      "migrations/core/20260201000000_inserted.sql",
      "create table inserted (id integer);\n",
    );
    const config = await app.config();
    const error = await rejectsWith(migrate(config), "MIGRATION_ANCESTOR_UNAPPLIED");
    assertEquals(error.data, {
      id: "core/20260301000000_user_names",
      ancestor: "core/20260201000000_inserted",
    });
    assertEquals((await check(config)).exitCode, 5);
  });

  t("migrate() refuses a cycle, naming its ids; check() says blocked", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cycle") });
    const config = await app.config();
    const error = await rejectsWith(migrate(config), "MIGRATION_CYCLE");
    assertEquals(
      new Set(error.data.cycle as string[]),
      new Set(["core/20260101000000_users", "orders/20260102000000_orders"]),
    );
    assertEquals((await check(config)).exitCode, 5);
    await using unknown = await makeApp(backend, { packages: await fixture("unknown-dependency") });
    await rejectsWith(migrate(await unknown.config()), "MIGRATION_UNKNOWN_DEPENDENCY");
  });

  t(
    "stamp() marks an id and its ancestors applied without running them; --all adopts the rest",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      const config = await app.config();
      const first = await stamp(config, "orders/20260102000000_orders");
      assertEquals(first.stamped, ["core/20260101000000_users", "orders/20260102000000_orders"]);
      assertEquals(
        await app.dbs.main!.tables().then((t) => t.filter((n) => !n.startsWith("lockstep_"))),
        [],
      );
      const rest = await stamp(config, "all");
      assertEquals(rest.stamped, [
        "core/20260301000000_user_names",
        "orders/20260401000000_order_names",
      ]);
      const actions = await app.dbs.main!.query("select distinct action from lockstep_migrations");
      assertEquals(actions.map((r) => r.action), ["stamped"]);
      assertEquals((await check(config)).exitCode, 0);
      await rejectsWith(stamp(config, "core/nope"), "MIGRATION_NOT_FOUND");
    },
  );

  t("a release marker depends on every head and later migrations can depend on it", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const config = await app.config();
    const path = await newRelease(config, "1.1.0", { now: new Date("2026-05-01T00:00:00Z") });
    const text = await Deno.readTextFile(path);
    assertMatch(text, /-- lockstep:release 1\.1\.0/);
    assertMatch(text, /-- lockstep:depends-on orders\/20260401000000_order_names/);
    await app.write(
      "migrations/orders/20260601000000_after_release.sql",
      "-- lockstep:depends-on core/20260501000000_release_1_1_0\ncreate table after_release (id integer);\n",
    );
    const result = await migrate(await app.config());
    assertEquals(result.applied.slice(-2), [
      "core/20260501000000_release_1_1_0",
      "orders/20260601000000_after_release",
    ]);
  });

  t("newMigration() writes a timestamped file that discovery accepts", async () => {
    await using app = await makeApp(backend, { packages: { core: {} } });
    const config = await app.config();
    const now = new Date("2026-07-08T09:10:11Z");
    const ts = await newMigration(config, "core", "add_things", { now });
    const sql = await newMigration(config, "core", "more_things", { sql: true, now });
    assertMatch(ts, /core\/20260708091011_add_things\.ts$/);
    assertMatch(sql, /core\/20260708091011_more_things\.sql$/);
    await rejectsWith(newMigration(config, "core", "add_things", { now }), "MIGRATION_EXISTS");
    await rejectsWith(newMigration(config, "nope", "x"), "USAGE");
    await rejectsWith(newMigration(config, "core", "bad name"), "USAGE");
    assertEquals((await migrate(config)).applied.length, 2);
  });

  t("migrate() records a failure even in a fresh database, in lockstep_events", async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_bad.sql": "create table x (;\n" } } },
    });
    const config = await app.config();
    await rejectsWith(migrate(config), "MIGRATION_FAILED");
    const db = await openDatabase(config.databases.main!);
    try {
      const events = await readEvents(db);
      assertEquals(events.map((e) => [e.kind, e.migration]), [[
        "failed",
        "core/20260101000000_bad",
      ]]);
    } finally {
      await db.close();
    }
  });
}

Deno.test("migrate() runs CREATE INDEX CONCURRENTLY in a no-transaction migration (postgres)", async () => {
  await using app = await makeApp("postgres", { packages: await fixture("no-transaction") });
  const result = await migrate(await app.config());
  assertEquals(result.applied.length, 2);
  const indexes = await app.dbs.main!.query(
    "select indexname from pg_indexes where tablename = 'items' and indexname like 'items_name%' order by 1",
  );
  assertEquals(indexes.map((r) => r.indexname), ["items_name", "items_name_id"]);
});

Deno.test("migrate() runs a no-transaction migration on SQLite (sqlite)", async () => {
  await using app = await makeApp("sqlite", {
    packages: {
      core: {
        files: {
          "20260101000000_a.sql": "create table a (id integer);",
          "20260102000000_b.sql":
            "-- lockstep:no-transaction\ncreate index a_id on a (id);\nvacuum;",
        },
      },
    },
  });
  assertEquals((await migrate(await app.config())).applied.length, 2);
});

Deno.test("migrate() applies migrations to two databases, one SQLite and one PostgreSQL", async () => {
  const packages = await fixture("cross-package");
  packages.orders!.database = "clients";
  await using app = await makeApp("sqlite", {
    databases: { main: "sqlite", clients: "postgres" },
    packages: {
      ...packages,
      orders: {
        database: "clients",
        files: {
          ...packages.orders!.files,
          "20260102000000_orders.sql": "-- lockstep:depends-on core/20260101000000_users\n" +
            "create table orders (id integer primary key, user_id integer not null);\n",
        },
      },
    },
  });
  const config = await app.config();
  assertEquals((await migrate(config)).applied.length, 4);
  assert((await app.dbs.main!.tables()).includes("users"));
  assert((await app.dbs.clients!.tables()).includes("orders"));
  const report = await check(config);
  assertEquals(report.exitCode, 0);
  assertEquals(report.migrations?.databases.map((d) => [d.name, d.rows]), [["clients", 2], [
    "main",
    2,
  ]]);
});

Deno.test("migrate() stops with LOCK_LOST when the connection holding the lock dies (postgres)", async () => {
  await using app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "20260101000000_kill_lock.ts": `export default {
  info: "terminates the session that holds lockstep's advisory lock",
  async up(ctx) {
    await ctx.sql.query(
      "select pg_terminate_backend(l.pid) from pg_locks l where l.locktype = 'advisory' and l.pid <> pg_backend_pid()",
    );
    await ctx.sql.query("select pg_sleep(0.3)");
  },
};\n`,
          "20260102000000_after.sql": "create table after_lock_lost (id integer);\n",
        },
      },
    },
  });
  const error = await rejectsWith(
    migrate(await app.config(), { transaction: "per-migration" }),
    "LOCK_LOST",
  );
  assertEquals(error.data.database, "main");
  const ledger = await app.dbs.main!.query("select id from lockstep_migrations order by id");
  assertEquals(ledger.map((r) => r.id), ["core/20260101000000_kill_lock"]);
  assert(
    !(await app.dbs.main!.tables()).includes("after_lock_lost"),
    "nothing ran after the lock was lost",
  );
});

Deno.test("check() fails with DATABASE_UNREACHABLE when PostgreSQL does not answer", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await using app = await makeApp("sqlite", { packages: await fixture("cross-package") });
  const config = await app.config();
  const broken = {
    ...config,
    databases: {
      main: {
        name: "main",
        url: `postgres://nobody@127.0.0.1:${port}/none`,
        dialect: "postgres" as const,
        schemas: ["public"],
      },
    },
  };
  const error = await rejectsWith(check(broken), "DATABASE_UNREACHABLE");
  assertMatch(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
});

for (const backend of BACKENDS) {
  Deno.test(`migrate() runs a package's baseline on an empty database and stamps what it covers (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: await fixture("baseline") });
    const config = await app.config();
    assertEquals((await status(config)).pending, [
      "core/baseline",
      "orders/20260115000000_orders",
      "core/20260301000000_user_flags",
    ]);
    const result = await migrate(config);
    assertEquals(result.applied, [
      "core/baseline",
      "orders/20260115000000_orders",
      "core/20260301000000_user_flags",
    ]);
    const ledger = await app.dbs.main!.query(
      "select id, action from lockstep_migrations order by id",
    );
    assertEquals(ledger, [
      { id: "core/20260101000000_users", action: "baseline" },
      { id: "core/20260201000000_user_names", action: "baseline" },
      { id: "core/20260301000000_user_flags", action: "applied" },
      { id: "orders/20260115000000_orders", action: "applied" },
    ]);
    const users = await app.dbs.main!.query("select display_name, active from users");
    assertEquals(users.map((u) => [u.display_name, Number(u.active)]), [["system", 1]]);
    assertEquals((await check(config)).exitCode, 0);
  });

  Deno.test(`migrate() ignores the baseline once the package has applied migrations (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: await fixture("baseline") });
    const baseline = await Deno.readTextFile(`${app.dir}/migrations/core/baseline.sql`);
    await app.remove("migrations/core/baseline.sql");
    await migrate(await app.config(), { to: "core/20260101000000_users" });
    await app.write("migrations/core/baseline.sql", baseline);
    const result = await migrate(await app.config());
    assertEquals(result.applied, [
      "orders/20260115000000_orders",
      "core/20260201000000_user_names",
      "core/20260301000000_user_flags",
    ]);
  });
}

for (const backend of BACKENDS) {
  Deno.test(`migrate() runs each database's migrations in one transaction: a failure on one database undoes every database and every file (${backend})`, async () => {
    await using app = await makeApp(backend, {
      databases: { main: backend, other: "sqlite" },
      packages: {
        core: {
          files: {
            "20260101000000_users.sql": "create table users (id integer primary key);\n",
            "20260101000002_settings.ts": `export default {
  info: "convert settings",
  async up(ctx) {
    const settings = await ctx.files.readJson("config/settings.json");
    await ctx.files.writeJson("config/settings.json", { ...settings, converted: true });
  },
};\n`,
            "20260101000003_broken.sql": "create table broken (;\n",
          },
        },
        extra: {
          database: "other",
          files: { "20260101000001_notes.sql": "create table notes (id integer primary key);\n" },
        },
      },
      files: { "config/settings.json": SETTINGS },
    });
    const config = await app.config();
    const dry = await migrate(config, { dryRun: true });
    assertEquals(dry.transactions, { whole: ["main", "other"], perMigration: [] });
    const error = await rejectsWith(migrate(config, { backup: false }), "MIGRATION_FAILED");
    assertEquals(error.data.applied, [], "nothing stays applied");
    assertMatch(error.message, /rolled back on database "main", database "other"/);
    assertEquals(
      await app.dbs.main!.tables(),
      ["lockstep_events", "lockstep_migrations", "lockstep_packages", "lockstep_schema"].sort(),
    );
    assert(
      !(await app.dbs.other!.tables()).includes("notes"),
      "the other database rolled back too",
    );
    assertEquals(await Deno.readTextFile(`${app.dir}/config/settings.json`), SETTINGS);
    const failed = await app.dbs.main!.query(
      "select migration from lockstep_events where kind = 'failed'",
    );
    assertEquals(failed.map((r) => r.migration), ["core/20260101000003_broken"]);
    assertEquals((await check(config)).exitCode, 4, "all four are still pending");
  });
}

Deno.test("migrate(): a database with a migration that runs without a transaction commits one by one; the plan says so", async () => {
  await using app = await makeApp("sqlite", {
    databases: { main: "sqlite", other: "sqlite" },
    packages: {
      core: {
        files: {
          "20260101000000_users.sql": "create table users (id integer primary key);\n",
          "20260101000001_index.sql":
            "-- lockstep:no-transaction\ncreate index users_id on users (id);\n",
        },
      },
      extra: {
        database: "other",
        files: { "20260101000000_notes.sql": "create table notes (id integer primary key);\n" },
      },
    },
  });
  const config = await app.config();
  const dry = await migrate(config, { dryRun: true });
  assertEquals(dry.transactions, { whole: ["other"], perMigration: ["main"] });
  const perMigration = await migrate(config, { dryRun: true, transaction: "per-migration" });
  assertEquals(perMigration.transactions, { whole: [], perMigration: ["main", "other"] });
  const done = await migrate(config, { backup: false });
  assertEquals(done.applied.length, 3);
  assertEquals(done.transactions, dry.transactions);
});
