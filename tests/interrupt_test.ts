/**
 * SIGINT and SIGTERM during `update`, through the CLI: the signal lands as
 * each step is reported, the update stops at its next safe point with a
 * clear message, `check` reports a consistent state (never "blocked"), and
 * the next `update` finishes.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { CLI, documentedFlags, runCli } from "./helpers/cli.ts";
import { pendingRelease } from "./helpers/bundles.ts";

const USERS = "create table users (id integer primary key, name text);\n";
const slow = (table: string) =>
  `export default {
  info: "takes a moment",
  async up(ctx) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await ctx.sql.exec("create table ${table} (id integer)");
  },
};\n`;
const V2 = {
  "app/main.ts": 'export const version = "1.1.0";\n',
  "migrations/core/20260101000000_users.sql": USERS,
  // Slow enough for a signal to land while migrations run, with one more after it.
  "migrations/core/20260201000000_slow.ts": slow("slow_one"),
  "migrations/core/20260201000001_slower.ts": slow("slow_two"),
  "migrations/core/20260202000000_email.sql": "alter table users add column email text;\n",
};

/** Lines of update's output at which the signal is sent (the step just reported). */
const TRIGGERS = ["check:", "backup:", "maintenance:", "install:", "applied core/"];

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  for (const trigger of TRIGGERS) {
    Deno.test(`${signal} after update reports "${trigger}": it stops at a safe point, check is consistent, the next update finishes`, async () => {
      await using app = await makeApp("sqlite", {
        packages: { core: { files: { "20260101000000_users.sql": USERS } } },
        files: { "app/main.ts": 'export const version = "1.0.0";\n' },
      });
      const flags = documentedFlags(app.dir);
      const cli = (...args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
      assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
      await app.dbs.main!.query("insert into users (id, name) values (1, 'ada')");
      await pendingRelease(app.dir, "1.1.0", V2);

      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--quiet",
          ...flags,
          CLI,
          "update",
          "--yes",
          "--config",
          app.configPath,
        ],
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      let sent = false;
      let stdout = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        stdout += chunk;
        if (!sent && stdout.split("\n").some((line) => line.startsWith(trigger))) {
          child.kill(signal);
          sent = true;
        }
      }
      const { code } = await child.status;
      const errors = await stderr;
      assert(sent, `"${trigger}" never appeared: ${stdout}`);
      // A slow migration follows these: the signal always lands before the run could finish.
      if (trigger === "install:" || trigger === "applied core/") {
        assertEquals(code, 1, `the update was not interrupted: ${stdout}${errors}`);
        assertMatch(errors, /undone: the code was rolled back/);
        assertEquals(await app.dbs.main!.tables(), [
          "lockstep_events",
          "lockstep_migrations",
          "lockstep_packages",
          "lockstep_schema",
          "users",
        ], "the run's transaction rolled back");
      }
      if (code !== 0) {
        assertEquals(code, 1, errors);
        assertMatch(errors, new RegExp(`${signal} received: stopping at the next safe point`));
        assertMatch(errors, /interrupted during|Stopped before/);
        assert(!/at file:|unexpected error/.test(errors), `no stack trace: ${errors}`);
      }
      const checked = await cli("check", "--json");
      const report = JSON.parse(checked.stdout);
      assert([0, 3, 4].includes(checked.code), `check is consistent: ${checked.stdout}`);
      for (const problem of report.problems) {
        assert(
          ["BUNDLES_PENDING", "MIGRATIONS_PENDING", "MAINTENANCE_ON"].includes(problem.code),
          problem.message,
        );
      }

      const again = await cli("update", "--yes");
      assertEquals(again.code, 0, again.stdout + again.stderr);
      assertEquals((await cli("maintenance", "off")).code, 0);
      const final = await cli("check", "--json");
      assertEquals([final.code, JSON.parse(final.stdout).problems], [0, []]);
      assertEquals(await Deno.readTextFile(join(app.dir, "VERSION")), "1.1.0\n");
      assertEquals(await app.dbs.main!.query("select id, name, email from users"), [
        { id: 1, name: "ada", email: null },
      ]);
    });
  }
}
