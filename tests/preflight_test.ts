/**
 * The preflight of `update` and `install`, through the CLI with the README's
 * flags, on SQLite and PostgreSQL: everything that can be found without a
 * change is found before the backup and before maintenance, and then
 * nothing at all was changed: no backup, maintenance never on, the tree and
 * both databases as they were.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp, type TestDb } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { fileEntry, pendingRelease, treeHash, writeBundle } from "./helpers/bundles.ts";

const USERS = "create table users (id integer primary key, name text);\n";
const ORDERS = "create table orders (id integer primary key, total integer);\n";

/** The code of release 1.0.0: its migrations, as the app root holds them. */
const V1: Record<string, string> = {
  "app/main.ts": 'export const version = "1.0.0";\n',
  "migrations/core/20260101000000_users.sql": USERS,
  "migrations/orders/20260101000000_orders.sql": ORDERS,
};

interface Case {
  /** What the 1.1.0 release does wrong. */
  readonly name: string;
  /** The error code the update exits with. */
  readonly code: string;
  /** Puts the 1.1.0 bundle in pending/ (and breaks the app where the case needs it). */
  build(app: TestApp): Promise<void>;
}

const pending = (app: TestApp) => join(app.dir, "updates/pending/testapp-1.1.0.zip");

const CASES: Case[] = [
  {
    name: "its last entry is damaged (the manifest's SHA-256 is not the file's)",
    code: "BUNDLE_CONTENT_MISMATCH",
    build: async (app) => {
      await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
      await writeBundle(pending(app), {
        version: "1.1.0",
        files: { ...V1, "app/main.ts": "2\n", "app/z_last.ts": "the real bytes\n" },
        manifest: {
          files: {
            ...Object.fromEntries(
              Object.entries({ ...V1, "app/main.ts": "2\n" }).map(([p, d]) => [p, fileEntry(d)]),
            ),
            "app/z_last.ts": fileEntry("the fake bytes\n"),
          },
        },
      });
    },
  },
  {
    name: "a target cannot be written (a folder is where its file goes)",
    code: "BUNDLE_TARGET_UNWRITABLE",
    build: async (app) => {
      await Deno.mkdir(join(app.dir, "app/new.ts"), { recursive: true });
      await pendingRelease(app.dir, "1.1.0", { ...V1, "app/new.ts": "new\n" });
    },
  },
  {
    name: "it edits an applied migration",
    code: "MIGRATION_CHANGED",
    build: (app) =>
      pendingRelease(app.dir, "1.1.0", {
        ...V1,
        "migrations/core/20260101000000_users.sql": USERS.replace("name text", "name varchar"),
      }),
  },
  {
    name: "it adds a migration older than an applied one",
    code: "MIGRATION_ANCESTOR_UNAPPLIED",
    build: (app) =>
      pendingRelease(app.dir, "1.1.0", {
        ...V1,
        "migrations/core/20250101000000_too_old.sql": "create table too_old (id integer);\n",
      }),
  },
  {
    name: "its migrations depend on one that no package has",
    code: "MIGRATION_UNKNOWN_DEPENDENCY",
    build: (app) =>
      pendingRelease(app.dir, "1.1.0", {
        ...V1,
        "migrations/core/20260201000000_email.sql":
          "-- lockstep:depends-on orders/20990101000000_missing\nalter table users add column email text;\n",
      }),
  },
  {
    name: "its migrations depend on each other in a cycle",
    code: "MIGRATION_CYCLE",
    build: (app) =>
      pendingRelease(app.dir, "1.1.0", {
        ...V1,
        "migrations/core/20260201000000_a.sql":
          "-- lockstep:depends-on orders/20260201000000_b\ncreate table a (id integer);\n",
        "migrations/orders/20260201000000_b.sql":
          "-- lockstep:depends-on core/20260201000000_a\ncreate table b (id integer);\n",
      }),
  },
];

/** Every table's rows in order, for row-for-row comparison. */
async function dump(db: TestDb): Promise<string> {
  const out: string[] = [];
  for (const table of await db.tables()) {
    out.push(`${table}: ${JSON.stringify(await db.query(`select * from "${table}" order by 1`))}`);
  }
  return out.join("\n");
}

for (const backend of BACKENDS) {
  for (const c of CASES) {
    Deno.test(`update refuses before any change when ${c.name} (${backend})`, async () => {
      await using app = await makeApp("sqlite", {
        databases: { main: "sqlite", clients: backend },
        packages: {
          core: { database: "main", files: { "20260101000000_users.sql": USERS } },
          orders: { database: "clients", files: { "20260101000000_orders.sql": ORDERS } },
        },
        files: { "app/main.ts": V1["app/main.ts"]! },
      });
      const postgres = backend === "postgres" ? [app.dbs.clients!.url] : [];
      const cli = (...args: string[]) =>
        runCli(documentedFlags(app.dir, { postgres }), [...args, "--config", app.configPath]);
      assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
      await app.dbs.main!.query("insert into users (id, name) values (1, 'ada')");
      await app.dbs.clients!.query("insert into orders (id, total) values (1, 11)");
      await c.build(app);
      const tree = await treeHash(app.dir, ["updates", "data"]);
      const main = await dump(app.dbs.main!);
      const clients = await dump(app.dbs.clients!);

      const dry = await cli("install", "--dry-run", "--json");
      const dryCode = dry.code === 1
        ? (JSON.parse(dry.stdout).refused?.[0]?.code ?? JSON.parse(dry.stdout).error?.code)
        : "none";
      assertEquals(dryCode, c.code, `install --dry-run reports the same: ${dry.stdout}`);
      const inspected = await cli("bundle", "inspect", pending(app), "--json");
      assertEquals(inspected.code, 1, inspected.stdout);
      assertEquals(JSON.parse(inspected.stdout).problem.code, c.code, "bundle inspect too");

      const result = await cli("update", "--yes", "--json");
      assertEquals(result.code, 1, result.stdout);
      const error = JSON.parse(result.stdout).error;
      assertEquals(error.code, c.code, error.message);
      assertMatch(error.message, /Nothing was changed/);
      const backups = JSON.parse((await cli("backups", "--json")).stdout).backups;
      assertEquals(backups, [], "no backup was taken");
      const status = JSON.parse((await cli("maintenance", "status", "--json")).stdout);
      assertEquals(status.on, false, "maintenance was never on");
      assertEquals(await treeHash(app.dir, ["updates", "data"]), tree);
      assertEquals(await dump(app.dbs.main!), main);
      assertEquals(await dump(app.dbs.clients!), clients);
      assert(await Deno.lstat(pending(app)).then(() => true), "the bundle stays in pending/");
    });
  }
}

Deno.test("two pending bundles with the same version are refused as ambiguous, both named", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
    files: { "app/main.ts": V1["app/main.ts"]! },
  });
  const cli = (...args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
  await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "a\n" });
  await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0-rebuilt.zip"), {
    version: "1.1.0",
    files: { "app/main.ts": "b\n" },
  });
  const report = JSON.parse((await cli("check", "--json")).stdout);
  const codes = report.bundles.map((b: { problem: { code: string } }) => b.problem?.code);
  assertEquals(codes, ["BUNDLE_AMBIGUOUS", "BUNDLE_AMBIGUOUS"]);
  assertMatch(
    report.bundles[0].problem.message,
    /testapp-1\.1\.0-rebuilt\.zip.*testapp-1\.1\.0\.zip/,
  );
  const installed = await cli("install", "--yes", "--json");
  assertEquals(installed.code, 1);
  assertEquals(
    JSON.parse(installed.stdout).refused.map((r: { code: string }) => r.code),
    ["BUNDLE_AMBIGUOUS", "BUNDLE_AMBIGUOUS"],
  );
  assertEquals(await Deno.readTextFile(join(app.dir, "app/main.ts")), V1["app/main.ts"]);
});
