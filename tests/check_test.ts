import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

const schema = JSON.parse(
  await Deno.readTextFile(new URL("../schema/check.schema.json", import.meta.url)),
);
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** Parses `check --json` output and fails with the schema's complaints when it does not conform. */
function conforming(stdout: string): ReturnType<typeof JSON.parse> {
  const report = JSON.parse(stdout);
  const valid = validate(JSON.parse(stdout));
  assert(
    valid,
    `check --json does not match schema/check.schema.json:
${JSON.stringify(validate.errors, null, 2)}
${stdout}`,
  );
  return report;
}

const MIGRATIONS = {
  "20260101000000_users.sql": "create table users (id integer primary key, email text);\n",
  "20260201000000_orders.sql": "create table orders (id integer primary key, total integer);\n",
};

for (const backend of BACKENDS) {
  const cli = (app: TestApp, args: string[], write = false) =>
    runCli(
      documentedFlags(app.dir, {
        write,
        postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
      }),
      [...args, "--config", app.configPath],
    );
  const check = async (app: TestApp, exitCode: number) => {
    const result = await cli(app, ["check", "--json"]);
    assertEquals(result.code, exitCode, result.stdout + result.stderr);
    return conforming(result.stdout);
  };
  const codes = (report: { problems: { code: string }[] }) => report.problems.map((p) => p.code);

  Deno.test(`check --json matches schema/check.schema.json in every state (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: { files: MIGRATIONS } } });

    const fresh = await check(app, 4);
    assertEquals(codes(fresh), ["MIGRATIONS_PENDING"]);
    assertEquals([fresh.latestBackup, fresh.schema], [null, []]);

    assertEquals((await cli(app, ["migrate", "--yes"], true)).code, 0);
    const ok = await check(app, 0);
    assertEquals([ok.ok, ok.problems, ok.schema[0].record], [true, [], "current"]);
    assertMatch(ok.latestBackup.id, /before-migrate$/);
    assertEquals(ok.prerequisites.deno, Deno.version.deno);

    const pending = join(app.dir, "updates", "pending");
    await Deno.mkdir(pending, { recursive: true });
    await writeBundle(join(pending, "testapp-1.1.0.zip"), {
      version: "1.1.0",
      files: { "app.ts": "export {};\n" },
      security: true,
    });
    await Deno.writeTextFile(join(pending, "broken.zip"), "not a zip");
    const bundles = await check(app, 3);
    assertEquals(codes(bundles), ["BUNDLES_PENDING", "BUNDLE_CORRUPT"]);
    assertEquals(bundles.bundles.map((b: { applies: boolean }) => b.applies).sort(), [
      false,
      true,
    ]);

    assertEquals((await cli(app, ["maintenance", "on", "--message", "Back soon"], true)).code, 0);
    await app.dbs.main!.query("alter table users add column nickname text");
    const drifted = await check(app, 5);
    assertEquals(codes(drifted), [
      "SCHEMA_DRIFT",
      "BUNDLES_PENDING",
      "BUNDLE_CORRUPT",
      "MAINTENANCE_ON",
    ]);
    assertEquals(drifted.maintenance.message, "Back soon");

    // A migration file with a dependency nobody has: no plan at all.
    await app.write(
      "migrations/core/20260301000000_x.sql",
      "-- lockstep:depends-on nowhere/20260101000000_none\nselect 1;\n",
    );
    const broken = await check(app, 5);
    assertEquals(broken.migrations, null);
    assert(codes(broken).includes("MIGRATION_UNKNOWN_DEPENDENCY"));

    // check itself cannot run: the error document is part of the schema too.
    await Deno.writeTextFile(app.configPath, "{ not json");
    const failed = await cli(app, ["check", "--json"]);
    assertEquals(failed.code, 2);
    assertEquals(conforming(failed.stdout).error.code, "CONFIG_INVALID");
  });
}

Deno.test("check blocks (exit 5) when this runtime no longer meets the installed version's requires", async () => {
  await using app = await makeApp("sqlite", { packages: { core: { files: MIGRATIONS } } });
  const flags = documentedFlags(app.dir);
  const run = (args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
  assertEquals((await run(["migrate", "--yes", "--no-backup"])).code, 0);
  const pending = join(app.dir, "updates", "pending");
  await Deno.mkdir(pending, { recursive: true });
  await writeBundle(join(pending, "testapp-1.1.0.zip"), {
    version: "1.1.0",
    files: { "app.ts": "export {};\n" },
    manifest: { requires: { deno: ">=2.0" } },
  });
  const installed = await run(["install", "--yes", "--no-backup"]);
  assertEquals(installed.code, 0, installed.stderr);
  const state = JSON.parse(await Deno.readTextFile(join(app.dir, "updates", "state.json")));
  assertEquals(state.requires, { deno: ">=2.0" });
  const ok = conforming((await run(["check", "--json"])).stdout);
  assertEquals([ok.exitCode, ok.prerequisites.requires, ok.prerequisites.unmet], [0, {
    deno: ">=2.0",
  }, []]);

  // The host's Deno was replaced by one the installed release does not support.
  await Deno.writeTextFile(
    join(app.dir, "updates", "state.json"),
    JSON.stringify({ ...state, requires: { deno: ">=99" } }),
  );
  const blocked = await run(["check"]);
  assertEquals(blocked.code, 5, blocked.stderr);
  assertMatch(blocked.stdout, new RegExp(`requires deno >=99 \\(have ${Deno.version.deno}\\)`));
  const report = conforming((await run(["check", "--json"])).stdout);
  assertEquals(report.problems.map((p: { code: string }) => p.code), ["PREREQUISITE_UNMET"]);
});
