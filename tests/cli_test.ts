import { DatabaseSync } from "node:sqlite";
import postgres from "../lib/deps/postgres.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, fixture, makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";

// The advisory lock keys lockstep uses: "lock" and "step" in ASCII.
const LOCK_KEYS = [0x6c6f636b, 0x73746570];

for (const backend of BACKENDS) {
  const t = (name: string, fn: () => Promise<void>) => Deno.test(`${name} (${backend})`, fn);
  const flagsFor = (app: { dir: string; dbs: Record<string, { url: string }> }, write = true) =>
    documentedFlags(app.dir, {
      write,
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });

  t(
    "cli: check exits 4, migrate --yes applies, check exits 0, with the documented flags",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      const config = ["--config", app.configPath];
      const before = await runCli(flagsFor(app, false), ["check", ...config]);
      assertEquals(before.code, 4, before.stderr);
      assertMatch(before.stdout, /4 migration\(s\) pending/);
      const run = await runCli(flagsFor(app), ["migrate", "--yes", ...config]);
      assertEquals(run.code, 0, run.stderr);
      assertMatch(run.stdout, /Applied 4 migration\(s\)/);
      const after = await runCli(flagsFor(app, false), ["check", "--json", ...config]);
      assertEquals(after.code, 0, after.stderr);
      const report = JSON.parse(after.stdout);
      assertEquals([report.ok, report.exitCode, report.problems], [true, 0, []]);
      const state = await runCli(flagsFor(app, false), ["status", "--json", ...config]);
      assertEquals(JSON.parse(state.stdout).packages.map((p: { version: string }) => p.version), [
        "core/20260301000000_user_names",
        "orders/20260401000000_order_names",
      ]);
    },
  );

  t(
    "cli: migrate without --yes and without a terminal refuses, naming --yes, and changes nothing",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      const result = await runCli(flagsFor(app), ["migrate", "--config", app.configPath]);
      assertEquals(result.code, 2);
      assertMatch(result.stderr, /--yes/);
      assertMatch(result.stderr, /CONFIRMATION_REQUIRED/);
      assertEquals(await app.dbs.main!.tables(), []);
      const json = await runCli(flagsFor(app), ["migrate", "--json", "--config", app.configPath]);
      assertEquals(JSON.parse(json.stdout).error.code, "CONFIRMATION_REQUIRED");
    },
  );

  t("cli: migrate --dry-run prints the plan with SQL bodies and changes nothing", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const result = await runCli(flagsFor(app), [
      "migrate",
      "--dry-run",
      "--config",
      app.configPath,
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(
      result.stdout,
      /1\. core\/20260101000000_users → main: users\n\s+create table users/,
    );
    assertEquals(await app.dbs.main!.tables(), []);
  });

  t("cli: a failed migration exits 1 naming the migration and the database error", async () => {
    await using app = await makeApp(backend, { packages: await fixture("failing-migration") });
    const result = await runCli(flagsFor(app), ["migrate", "--yes", "--config", app.configPath]);
    assertEquals(result.code, 1);
    assertMatch(result.stderr, /core\/20260102000000_broken.*selec.*MIGRATION_FAILED/s);
    assert(!/\n\s+at /.test(result.stderr), "no stack trace for an expected failure");
  });

  t("cli: a database ahead of the code makes check exit 5 and migrate refuse", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    assertEquals(
      (await runCli(flagsFor(app), ["migrate", "--yes", "--config", app.configPath])).code,
      0,
    );
    await app.remove("migrations/orders/20260401000000_order_names.ts");
    const checked = await runCli(flagsFor(app, false), ["check", "--config", app.configPath]);
    assertEquals(checked.code, 5);
    assertMatch(checked.stdout, /ahead of the code/);
    const migrated = await runCli(flagsFor(app), [
      "migrate",
      "--yes",
      "--json",
      "--config",
      app.configPath,
    ]);
    assertEquals(migrated.code, 1);
    assertEquals(JSON.parse(migrated.stdout).error.code, "DATABASE_AHEAD");
  });

  t("cli: stamp and new work with the documented flags", async () => {
    await using app = await makeApp(backend, { packages: await fixture("cross-package") });
    const stamped = await runCli(flagsFor(app), [
      "stamp",
      "--all",
      "--yes",
      "--config",
      app.configPath,
    ]);
    assertEquals(stamped.code, 0, stamped.stderr);
    assertEquals(stamped.stdout.split("\n").filter((l) => l.startsWith("stamped")).length, 4);
    const created = await runCli(documentedFlags(app.dir), [
      "new",
      "core",
      "more",
      "--sql",
      "--config",
      app.configPath,
    ]);
    assertEquals(created.code, 0, created.stderr);
    assertMatch(created.stdout, /Created .*core\/\d{14}_more\.sql/);
    const release = await runCli(documentedFlags(app.dir), [
      "new",
      "--release",
      "1.2.0",
      "--config",
      app.configPath,
    ]);
    assertEquals(release.code, 0, release.stderr);
  });

  t(
    "cli: dropping a documented flag fails with the permission it needs, not a stack trace",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      const full = flagsFor(app);
      // On PostgreSQL, migrate writes files only when a migration changes them (ctx.files).
      const needed = full.filter((f) => backend === "sqlite" || !f.startsWith("--allow-write"));
      for (const flag of needed) {
        const fewer = full.filter((f) => f !== flag);
        const result = await runCli(fewer, ["migrate", "--yes", "--config", app.configPath]);
        assertEquals(result.code, 1, `without ${flag}: ${result.stderr}`);
        assertMatch(result.stderr, /PERMISSION_DENIED/, `without ${flag}`);
        const kind = flag.replace(/^--allow-(\w+).*/, "$1");
        assertMatch(
          result.stderr,
          new RegExp(`--allow-${kind}`),
          `without ${flag}: ${result.stderr}`,
        );
        assert(!/\n\s+at /.test(result.stderr), `a stack trace without ${flag}`);
      }
    },
  );

  t(
    "cli: migrate exits 6 and changes nothing when another process holds the lock past --lock-timeout",
    async () => {
      await using app = await makeApp(backend, { packages: await fixture("cross-package") });
      const release = await holdLock(backend, app);
      try {
        const result = await runCli(flagsFor(app), [
          "migrate",
          "--yes",
          "--lock-timeout",
          "1",
          "--config",
          app.configPath,
        ]);
        assertEquals(result.code, 6, result.stderr);
        assertMatch(result.stderr, /LOCK_HELD/);
      } finally {
        await release();
      }
      assertEquals((await app.dbs.main!.tables()).filter((n) => !n.startsWith("lockstep_")), []);
      const checked = await runCli(flagsFor(app, false), ["check", "--config", app.configPath]);
      assertEquals(checked.code, 4, "check takes no lock: it answers while the lock is held");
    },
  );
}

/** Holds the migration lock from outside lockstep; returns its release. */
async function holdLock(
  backend: string,
  app: { dir: string; dbs: Record<string, { url: string }> },
): Promise<() => Promise<void>> {
  if (backend === "postgres") {
    const client = postgres(app.dbs.main!.url, { max: 1, onnotice: () => {} });
    await client`select pg_advisory_lock(${LOCK_KEYS[0]!}, ${LOCK_KEYS[1]!})`;
    return async () => await client.end();
  }
  await Deno.mkdir(`${app.dir}/data`, { recursive: true });
  const db = new DatabaseSync(`${app.dir}/data/main.db`);
  db.exec("begin immediate");
  return () => {
    db.exec("rollback");
    db.close();
    return Promise.resolve();
  };
}

Deno.test("cli: eight migrate processes at once on one PostgreSQL database apply each migration once", async () => {
  await runConcurrently("postgres", 8);
});

Deno.test("cli: four migrate processes at once on one SQLite file apply each migration once", async () => {
  await runConcurrently("sqlite", 4);
});

async function runConcurrently(backend: "sqlite" | "postgres", processes: number): Promise<void> {
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) {
    const ts = `202601010000${String(i).padStart(2, "0")}`;
    files[`${ts}_t${i}.sql`] = `create table t${i} (id integer primary key, v text);\n` +
      `create index t${i}_v on t${i} (v);\ninsert into t${i} (id, v) values (1, 'once');\n`;
  }
  await using app = await makeApp(backend, { packages: { core: { files } } });
  const flags = documentedFlags(app.dir, {
    postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
  });
  const children = Array.from(
    { length: processes },
    () => spawnCli(flags, ["migrate", "--yes", "--config", app.configPath]),
  );
  const outputs = await Promise.all(children.map((child) => child.output()));
  for (const out of outputs) assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const db = app.dbs.main!;
  const ledger = await db.query("select id from lockstep_migrations");
  assertEquals(ledger.length, 30);
  const applied = await db.query(
    "select count(*) as n from lockstep_events where kind = 'applied'",
  );
  assertEquals(Number(applied[0]!.n), 30, "each migration was applied exactly once");
  for (let i = 0; i < 30; i++) {
    const rows = await db.query(`select count(*) as n from t${i}`);
    assertEquals(Number(rows[0]!.n), 1);
  }
}
