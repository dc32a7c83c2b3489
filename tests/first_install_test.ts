/**
 * The first install: an app root that holds only lockstep.json (no version
 * file, no migrations folders) gets its code and its schema from `update`;
 * and a version file that goes missing after installs blocks the start.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { pendingRelease } from "./helpers/bundles.ts";

const RELEASE = {
  "app/main.ts": 'export const version = "1.0.0";\n',
  "migrations/core/20260101000000_users.sql":
    "create table users (id integer primary key, name text);\n",
  "migrations/orders/20260101000000_orders.sql":
    "-- lockstep:depends-on core/20260101000000_users\ncreate table orders (id integer primary key);\n",
};

/** An app root with nothing but lockstep.json (and the databases it names). */
async function emptyRoot(backend: "sqlite" | "postgres"): Promise<TestApp> {
  const app = await makeApp(backend, { packages: { core: {}, orders: {} } });
  await Deno.remove(join(app.dir, "migrations"), { recursive: true });
  await Deno.remove(join(app.dir, "VERSION"));
  return app;
}

for (const backend of BACKENDS) {
  Deno.test(`update on an empty root installs the first release and its schema (${backend})`, async () => {
    await using app = await emptyRoot(backend);
    const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
    const cli = (...args: string[]) =>
      runCli(documentedFlags(app.dir, { postgres }), [...args, "--config", app.configPath]);
    await pendingRelease(app.dir, "1.0.0", RELEASE);
    const before = await cli("check", "--json");
    assertEquals(before.code, 3, before.stdout);
    assertEquals(
      JSON.parse(before.stdout).problems.map((p: { code: string }) => p.code),
      ["BUNDLES_PENDING"],
    );
    const updated = await cli("update", "--yes");
    assertEquals(updated.code, 0, updated.stdout + updated.stderr);
    assertMatch(updated.stdout, /\(none\) → 1\.0\.0/);
    assertEquals(await Deno.readTextFile(join(app.dir, "VERSION")), "1.0.0\n");
    const tables = await app.dbs.main!.tables();
    assert(tables.includes("users") && tables.includes("orders"), tables.join());
    assertEquals((await cli("check")).code, 0);
  });
}

Deno.test("a first release that does not bring a configured package's migrations is refused before any change", async () => {
  await using app = await emptyRoot("sqlite");
  const cli = (...args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
  const { ["migrations/orders/20260101000000_orders.sql"]: _, ...withoutOrders } = RELEASE;
  await pendingRelease(app.dir, "1.0.0", withoutOrders);
  const result = await cli("update", "--yes", "--json");
  assertEquals(result.code, 1, result.stdout);
  const error = JSON.parse(result.stdout).error;
  assertEquals(error.code, "FILE_NOT_FOUND");
  assertMatch(error.message, /package "orders".*Nothing was changed/s);
  assert(!(await Deno.lstat(join(app.dir, "VERSION")).then(() => true, () => false)));
  assertEquals(JSON.parse((await cli("backups", "--json")).stdout).backups, []);
});

Deno.test("a version file missing while state.json records an install blocks the start (check 5)", async () => {
  await using app = await emptyRoot("sqlite");
  const cli = (...args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
  await pendingRelease(app.dir, "1.0.0", RELEASE);
  assertEquals((await cli("update", "--yes")).code, 0);
  await Deno.remove(join(app.dir, "VERSION"));
  const checked = await cli("check", "--json");
  assertEquals(checked.code, 5, checked.stdout);
  const problem = JSON.parse(checked.stdout).problems[0];
  assertEquals(problem.code, "VERSION_FILE_MISSING");
  assertMatch(problem.message, /1\.0\.0 was installed/);
  const text = await cli("check");
  assert(!text.stdout.includes("(no version file): ok"), text.stdout);
});
