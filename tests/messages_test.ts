/**
 * The odd messages and the migration template (issue 12, item 12): `update`
 * says "Migrated" when no bundle changed the version (never "1.0.0 → 1.0.0");
 * a confirmation that cannot be asked says "without" once; usage errors name
 * no "Infinity"; and `lockstep new` writes a TypeScript migration that
 * passes a strict `deno check` and runs.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { pendingRelease } from "./helpers/bundles.ts";
import { documentedFlags, runCli, runDeno } from "./helpers/cli.ts";

const USERS = "create table users (id integer primary key);\n";

for (const backend of BACKENDS) {
  Deno.test(`lockstep new writes a TypeScript migration that passes a strict deno check and runs (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
    });
    const flags = documentedFlags(app.dir, {
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    const created = await runCli(flags, ["new", "core", "add_names", "--config", app.configPath]);
    assertEquals(created.code, 0, created.stderr);
    const path = /^Created (.+)$/m.exec(created.stdout)![1]!;
    const text = await Deno.readTextFile(path);
    assertMatch(text, /^import type \{ MigrationContext \} from "file:\/\/\/.+\/mod\.ts";$/m);
    assertMatch(text, /async up\(ctx: MigrationContext\): Promise<void> \{/);
    await Deno.writeTextFile(
      join(app.dir, "strict.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noImplicitOverride: true,
          noImplicitReturns: true,
        },
      }),
    );
    const checked = await runDeno([
      "check",
      "--quiet",
      "--config",
      join(app.dir, "strict.json"),
      path,
    ]);
    assertEquals(checked.code, 0, checked.stderr);
    // The type import is erased when the migration runs: the README's flags suffice.
    const migrated = await runCli(flags, ["migrate", "--yes", "--config", app.configPath]);
    assertEquals(migrated.code, 0, migrated.stderr);
    assertMatch(migrated.stdout, /applied core\/\d{14}_add_names/);
  });

  Deno.test(`update says "Migrated" when no bundle changed the version, and "Updated A → B" when one did (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
      files: { "app/main.ts": "console.log('1.0.0');\n" },
    });
    const flags = documentedFlags(app.dir, {
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    const migrated = await runCli(flags, ["update", "--yes", "--config", app.configPath]);
    assertEquals(migrated.code, 0, migrated.stderr);
    assertMatch(
      migrated.stdout,
      /^Migrated testapp 1\.0\.0: 1 migration\(s\) applied\. Backup taken first: \S+-before-update\.$/m,
    );
    assert(!/1\.0\.0 → 1\.0\.0/.test(migrated.stdout), migrated.stdout);
    await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "console.log('1.1.0');\n" });
    const updated = await runCli(flags, ["update", "--yes", "--config", app.configPath]);
    assertEquals(updated.code, 0, updated.stderr);
    assertMatch(
      updated.stdout,
      /^Updated testapp 1\.0\.0 → 1\.1\.0: 1 bundle\(s\), 0 migration\(s\)\./m,
    );
  });
}

Deno.test("a confirmation that cannot be asked says what and how, without a doubled 'without'; usage errors name no Infinity", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const flags = documentedFlags(app.dir);
  const stamped = await runCli(flags, ["stamp", "--all", "--config", app.configPath]);
  assertEquals(stamped.code, 2, stamped.stderr);
  assertMatch(
    stamped.stderr,
    /^lockstep: Cannot stamp 1 migration\(s\) as applied without running them: it needs a confirmation, and there is no terminal to ask on\. Pass --yes to go ahead unattended\. Nothing was changed\. \[CONFIRMATION_REQUIRED\]$/m,
  );
  assertEquals(stamped.stderr.match(/without/g)?.length, 1);
  for (const args of [["start"], ["start", "--"], ["new", "a", "b", "c"]]) {
    const result = await runCli(flags, ["--config", app.configPath, ...args]);
    assertEquals(result.code, 2, result.stderr);
    assert(!/Infinity/.test(result.stderr), result.stderr);
  }
});
