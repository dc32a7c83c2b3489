/**
 * `backup verify --restore` on SQLite, through the CLI with the README's
 * flags: the database artifact is restored into a scratch file in the
 * backups folder, checked, and removed. (PostgreSQL's trial restore is shown
 * with every object kind in `postgres_roundtrip_test.ts`.)
 */
import { assertEquals } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

Deno.test("sqlite: backup verify --restore restores the database into a scratch file and removes it", async () => {
  await using app = await makeApp("sqlite", {
    packages: {
      core: {
        files: { "20260101000000_items.sql": "create table items (id integer primary key);\n" },
      },
    },
  });
  const cli = (args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath], { cwd: app.dir });
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  const made = JSON.parse((await cli(["backup", "--json"])).stdout);
  const verified = await cli(["backup", "verify", made.id, "--restore", "--json"]);
  assertEquals(verified.code, 0, verified.stdout + verified.stderr);
  const result = JSON.parse(verified.stdout);
  assertEquals([result.ok, result.restored, result.partial], [true, ["main"], []]);
  const left = [...Deno.readDirSync(`${app.dir}/updates/backups`)].map((e) => e.name);
  assertEquals(left, [made.id], "no scratch file is left");
  const text = await cli(["backup", "verify", made.id, "--restore"]);
  assertEquals(text.code, 0);
  assertEquals(
    text.stdout.trim(),
    `Backup ${made.id} is intact: every artifact matches and opens, and database(s) main ` +
      `restored into a scratch copy.`,
  );
});
