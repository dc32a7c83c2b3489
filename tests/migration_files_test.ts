/**
 * Files changed by a TypeScript migration survive a crash: killed in the
 * middle of the migration (its transaction rolled back by the database), the
 * next `recover` or `migrate` puts the files back to match the database.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { CLI, documentedFlags, runCli } from "./helpers/cli.ts";

const SETTINGS = '{\n  "theme": "dark"\n}\n';

/** Converts settings.json, creates a file, then waits to be killed before its table is made. */
const CONVERT = (marker: string) =>
  `export default {
  info: "settings: theme becomes an object",
  async up(ctx) {
    const settings = await ctx.files.readJson("config/settings.json");
    await ctx.files.writeJson("config/settings.json", { theme: { name: settings.theme } });
    await ctx.files.writeText("config/added.json", "{}\\n");
    await ctx.sql.exec("create table converted (id integer)");
    await Deno.writeTextFile(${JSON.stringify(marker)}, "converted");
    await new Promise((resolve) => setTimeout(resolve, 30_000));
  },
};\n`;

for (const backend of BACKENDS) {
  for (const then of ["recover", "migrate"] as const) {
    Deno.test(`a TypeScript migration killed after converting a file: ${then} puts the file back to match the database (${backend})`, async () => {
      await using app = await makeApp(backend, {
        packages: { core: { files: {} } },
        files: { "config/settings.json": SETTINGS },
      });
      const marker = join(app.dir, "converted.marker");
      await app.write("migrations/core/20260101000000_convert.ts", CONVERT(marker));
      const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
      const flags = documentedFlags(app.dir, { postgres });
      const cli = (...args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--quiet",
          ...flags,
          CLI,
          "migrate",
          "--yes",
          "--no-backup",
          "--config",
          app.configPath,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      for (let i = 0; i < 200 && !(await Deno.lstat(marker).then(() => true, () => false)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill("SIGKILL");
      await child.status;
      assert(await Deno.lstat(marker).then(() => true, () => false), "the migration never ran");
      assertMatch(await Deno.readTextFile(join(app.dir, "config/settings.json")), /"name": "dark"/);

      const blocked = await cli("check", "--json");
      assertEquals(blocked.code, 5, blocked.stdout);
      const codes = JSON.parse(blocked.stdout).problems.map((p: { code: string }) => p.code);
      assert(codes.includes("JOURNAL_OPEN"), codes.join());
      assert(!(await app.dbs.main!.tables()).includes("converted"), "the database rolled back");

      // The migration would now wait 30 s: make it quick, as the fixed release would be.
      await app.write(
        "migrations/core/20260101000000_convert.ts",
        CONVERT(marker).replace("30_000", "0"),
      );
      if (then === "recover") {
        const recovered = await cli("recover");
        assertEquals(recovered.code, 0, recovered.stderr);
        assertEquals(await Deno.readTextFile(join(app.dir, "config/settings.json")), SETTINGS);
        assert(
          !(await Deno.lstat(join(app.dir, "config/added.json")).then(() => true, () => false)),
        );
        assertEquals((await cli("check")).code, 4, "the migration is pending again");
      } else {
        // migrate puts the files back first, then runs the migration from the original file.
        const migrated = await cli("migrate", "--yes", "--no-backup");
        assertEquals(migrated.code, 0, migrated.stderr);
        assertEquals(
          JSON.parse(await Deno.readTextFile(join(app.dir, "config/settings.json"))),
          { theme: { name: "dark" } },
        );
        assert((await app.dbs.main!.tables()).includes("converted"));
        assertEquals((await cli("check")).code, 0);
      }
    });
  }
}
