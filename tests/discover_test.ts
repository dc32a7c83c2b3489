import { assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { fixture, makeApp } from "./helpers/app.ts";
import { discover, parseSql } from "../lib/migrations/discover.ts";
import { check } from "../mod.ts";

async function discoverFixture(name: string) {
  await using app = await makeApp("sqlite", { packages: await fixture(name) });
  const config = await app.config();
  return await discover(Object.values(config.packages));
}

Deno.test("discover() reads .sql headers and .ts modules into one list", async () => {
  const found = await discoverFixture("cross-package");
  assertEquals(found.migrations.map((m) => [m.id, m.kind, m.dependsOn]), [
    ["core/20260101000000_users", "sql", []],
    ["core/20260301000000_user_names", "sql", []],
    ["orders/20260102000000_orders", "sql", ["core/20260101000000_users"]],
    ["orders/20260401000000_order_names", "ts", ["core/20260301000000_user_names"]],
  ]);
  const users = found.migrations[0]!;
  assertEquals(users.info, "users");
  assertMatch(users.checksum, /^v1:[0-9a-f]{64}$/);
  assertEquals(found.migrations[1]!.info, "user names", "info defaults to the file name");
});

Deno.test("parseSql() reads directives, repeated depends-on lines and the down section", () => {
  const parsed = parseSql(
    [
      "-- lockstep:info add things",
      "-- lockstep:depends-on a/1",
      "-- lockstep:depends-on b/2",
      "-- lockstep:no-transaction",
      "create table t (id int);",
      "-- lockstep:down",
      "drop table t;",
    ].join("\n"),
    "x.sql",
  );
  assertEquals(parsed, {
    dependsOn: ["a/1", "b/2"],
    transaction: false,
    info: "add things",
    up: "create table t (id int);",
    down: "drop table t;",
  });
});

for (
  const [scenario, code] of [
    ["unrecognised-file", "MIGRATION_FILE_INVALID"],
    ["duplicate-id", "MIGRATION_DUPLICATE"],
    ["bad-module", "MIGRATION_INVALID"],
    ["unknown-directive", "MIGRATION_INVALID"],
  ] as const
) {
  Deno.test(`discover() refuses the "${scenario}" fixture with ${code}`, async () => {
    await using app = await makeApp("sqlite", { packages: await fixture(scenario) });
    const config = await app.config();
    await rejectsWith(discover(Object.values(config.packages)), code);
    const report = await check(config);
    assertEquals(report.exitCode, 5, "check reports a broken migration set as blocking");
    assertEquals(report.problems[0]?.code, code);
  });
}

Deno.test("discover() names a missing migrations folder", async () => {
  await using app = await makeApp("sqlite", { packages: { core: {} } });
  await Deno.remove(`${app.dir}/migrations/core`);
  const config = await app.config();
  const error = await rejectsWith(discover(Object.values(config.packages)), "FILE_NOT_FOUND");
  assertEquals(error.data.package, "core");
});
