/**
 * What a failing TypeScript migration says (issue 12, item 8):
 * `ctx.files.readJson` on a missing file is an error naming the file unless
 * the migration gives a default, and `MIGRATION_FAILED` names the
 * migration's file and line, for its own errors and for a failing
 * `ctx.sql` call alike. Through the CLI with the README's flags, on both
 * databases; a failure leaves the app as it was.
 *
 * @module
 */
import { undoableFiles } from "../lib/files.ts";
import { assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";

const USERS = "create table users (id integer primary key);\n";

/** A TypeScript migration whose `up` runs `body`, one statement per line from line 4. */
function tsMigration(body: string[]): string {
  return ["export default {", '  info: "convert",', "  async up(ctx) {", ...body, "  },", "};", ""]
    .join("\n");
}

Deno.test("ctx.files.readJson() throws FILE_NOT_FOUND naming a missing file, unless a default is given", async () => {
  await using dir = await tempDir();
  const files = undoableFiles(dir.path);
  const error = await rejectsWith(files.readJson("config/settings.json"), "FILE_NOT_FOUND");
  assertMatch(error.message, /^Cannot read JSON file "config\/settings.json": it does not exist/);
  assertMatch(error.message, /ctx\.files\.readJson\("config\/settings.json", \{\}\)/);
  assertEquals(error.data.path, "config/settings.json");
  assertEquals(await files.readJson("config/settings.json", { theme: "light" }), {
    theme: "light",
  });
  assertEquals(await files.readJson("config/settings.json", undefined), undefined);
  await files.writeJson("config/settings.json", { theme: "dark" });
  assertEquals(await files.readJson("config/settings.json", {}), { theme: "dark" });
});

for (const backend of BACKENDS) {
  const setup = async (migration: string) => {
    const app = await makeApp(backend, {
      packages: {
        core: {
          files: { "20260101000000_users.sql": USERS, "20260102000000_convert.ts": migration },
        },
      },
    });
    const flags = documentedFlags(app.dir, {
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    return { app, migrate: () => runCli(flags, ["migrate", "--yes", "--config", app.configPath]) };
  };

  Deno.test(`a TypeScript migration reading a missing JSON file fails naming the file and the migration's line, and changes nothing (${backend})`, async () => {
    const { app, migrate } = await setup(tsMigration([
      '    await ctx.sql.exec("create table settings (k text)");',
      '    const settings = await ctx.files.readJson("config/settings.json");',
      '    await ctx.files.writeJson("config/settings.json", { ...settings, converted: true });',
    ]));
    await using _app = app;
    const before = await treeHash(app.dir, ["data", "updates"]);
    const result = await migrate();
    assertEquals(result.code, 1, result.stderr);
    assertMatch(
      result.stderr,
      /Cannot apply migration "core\/20260102000000_convert" to database "main": Cannot read JSON file "config\/settings.json": it does not exist under the app root/,
    );
    assertMatch(result.stderr, /\(at migrations\/core\/20260102000000_convert\.ts:5\)/);
    assertMatch(result.stderr, /\[MIGRATION_FAILED\]/);
    assertEquals(await treeHash(app.dir, ["data", "updates"]), before);
    assertEquals(
      (await app.dbs.main!.tables()).filter((t) => !t.startsWith("lockstep_")),
      [],
      "the run was rolled back",
    );
  });

  Deno.test(`a TypeScript migration given a default for a missing JSON file runs (${backend})`, async () => {
    const { app, migrate } = await setup(tsMigration([
      '    const settings = await ctx.files.readJson("config/settings.json", { theme: "light" });',
      '    await ctx.files.writeJson("config/settings.json", { ...settings, converted: true });',
    ]));
    await using _app = app;
    const result = await migrate();
    assertEquals(result.code, 0, result.stderr);
    assertEquals(JSON.parse(await Deno.readTextFile(`${app.dir}/config/settings.json`)), {
      theme: "light",
      converted: true,
    });
  });

  Deno.test(`a failing ctx.sql call in a TypeScript migration names the migration's file and line (${backend})`, async () => {
    const { app, migrate } = await setup(tsMigration([
      '    await ctx.sql.query("insert into users (id) values ($1)", [1]);',
      '    await ctx.sql.query("insert into no_such_table (id) values ($1)", [2]);',
    ]));
    await using _app = app;
    const result = await migrate();
    assertEquals(result.code, 1, result.stderr);
    assertMatch(result.stderr, /no_such_table/);
    assertMatch(result.stderr, /\(at migrations\/core\/20260102000000_convert\.ts:5\)/);
    assertEquals(await app.dbs.main!.tables().then((t) => t.includes("users")), false);
  });
}
