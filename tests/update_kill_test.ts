/**
 * `update` killed (SIGKILL-like exit, no clean-up) after each of its steps,
 * inside install, between two migrations and inside the restore of a failed
 * update: the next `check` says what state the app is in, never 0 while new
 * code runs on an old schema, and `recover`, `update` or `restore` brings it
 * to a consistent version.
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { type Backend, BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { pendingRelease, treeHash } from "./helpers/bundles.ts";

const USERS = "create table users (id integer primary key, name text);\n";
const V2 = {
  "app/main.ts": 'export const version = "1.1.0";\n',
  "migrations/core/20260101000000_users.sql": USERS,
  "migrations/core/20260201000000_email.sql": "alter table users add column email text;\n",
  "migrations/core/20260202000000_index.sql": "create index users_email on users (email);\n",
};
const FAILING = {
  ...V2,
  // Without a transaction, so the migration before it commits on its own (the database changes).
  "migrations/core/20260203000000_broken.sql":
    "-- lockstep:no-transaction\nalter table no_such_table add column x integer;\n",
};

interface Scenario {
  /** The LOCKSTEP_FAULT the update dies at. */
  fault: string;
  /** The release in pending/ (a failing one exercises the restore path). */
  release?: Record<string, string>;
  /** check's exit code and problem codes right after the kill. */
  check: [number, string[]];
  /** What the operator runs next, and the version it must leave. */
  then: "update" | "recover+update" | "restore" | "recover";
  version: "1.0.0" | "1.1.0";
}

const SCENARIOS: Scenario[] = [
  { fault: "update:check", check: [3, ["BUNDLES_PENDING"]], then: "update", version: "1.1.0" },
  { fault: "update:backup", check: [3, ["BUNDLES_PENDING"]], then: "update", version: "1.1.0" },
  {
    fault: "update:maintenance",
    check: [3, ["BUNDLES_PENDING", "MAINTENANCE_ON"]],
    then: "update",
    version: "1.1.0",
  },
  {
    fault: "journaled",
    check: [5, ["JOURNAL_OPEN", "BUNDLES_PENDING", "MAINTENANCE_ON"]],
    then: "recover+update",
    version: "1.1.0",
  },
  {
    fault: "moved:2",
    check: [5, ["JOURNAL_OPEN", "BUNDLES_PENDING", "MAINTENANCE_ON"]],
    then: "recover+update",
    version: "1.1.0",
  },
  // New code on the old schema: check must say migrations are pending.
  {
    fault: "update:install",
    check: [4, ["MIGRATIONS_PENDING", "MAINTENANCE_ON"]],
    then: "update",
    version: "1.1.0",
  },
  {
    fault: "migrate:applied:1",
    check: [4, ["MIGRATIONS_PENDING", "MAINTENANCE_ON"]],
    then: "restore",
    version: "1.0.0",
  },
  { fault: "update:migrate", check: [0, ["MAINTENANCE_ON"]], then: "update", version: "1.1.0" },
  // The failing release's undo, interrupted after the database came back from the backup
  // (the code is still the new one) and after the code was rolled back: recover finishes it.
  {
    fault: "undo:database",
    release: FAILING,
    check: [5, ["UNDO_OPEN", "MIGRATIONS_PENDING", "MAINTENANCE_ON"]],
    then: "recover",
    version: "1.0.0",
  },
  {
    fault: "undo:code",
    release: FAILING,
    check: [5, ["UNDO_OPEN", "BUNDLES_PENDING", "MAINTENANCE_ON"]],
    then: "recover",
    version: "1.0.0",
  },
];

async function appAt100(backend: Backend): Promise<TestApp> {
  const app = await makeApp(backend, {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
    files: { "app/main.ts": 'export const version = "1.0.0";\n' },
  });
  return app;
}

for (const backend of BACKENDS) {
  for (const scenario of SCENARIOS) {
    Deno.test(`update killed at ${scenario.fault}: check reports it, ${scenario.then} brings ${scenario.version} back (${backend})`, async () => {
      await using app = await appAt100(backend);
      const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
      const flags = documentedFlags(app.dir, { postgres });
      const cli = (args: string[], env: Record<string, string> = {}) =>
        runCli([...flags, "--allow-env=LOCKSTEP_FAULT"], [...args, "--config", app.configPath], {
          env,
        });
      const check = async () => {
        const result = await cli(["check", "--json"]);
        const report = JSON.parse(result.stdout);
        return [result.code, report.problems.map((p: { code: string }) => p.code)];
      };
      const users = () =>
        app.dbs.main!.query(
          backend === "postgres"
            ? "select column_name as name from information_schema.columns where table_name = 'users' order by ordinal_position"
            : "select name from pragma_table_info('users')",
        );
      assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
      await app.dbs.main!.query("insert into users (id, name) values (1, 'ada')");
      const code100 = await treeHash(app.dir, ["updates", "data"]);
      const schema100 = await users();
      await pendingRelease(app.dir, "1.1.0", scenario.release ?? V2);

      const killed = await cli(["update", "--yes"], { LOCKSTEP_FAULT: scenario.fault });
      assertEquals(killed.code, 137, `the fault did not fire: ${killed.stdout}${killed.stderr}`);
      assertEquals(await check(), scenario.check);

      if (scenario.then.startsWith("recover")) {
        const recovered = await cli(["recover"]);
        assertEquals(recovered.code, 0, recovered.stderr);
        assertEquals(await treeHash(app.dir, ["updates", "data"]), code100);
      }
      if (scenario.then.endsWith("update")) {
        const again = await cli(["update", "--yes"]);
        assertEquals(again.code, 0, again.stdout + again.stderr);
      }
      if (scenario.then === "restore") {
        const list = JSON.parse((await cli(["backups", "--json"])).stdout);
        const before = list.backups.find((b: { label: string }) => b.label === "before-update");
        assert(before, "update took no backup before changing anything");
        const restored = await cli(["restore", before.id, "--yes"]);
        assertEquals(restored.code, 0, restored.stderr);
        assertEquals((await cli(["maintenance", "off"])).code, 0);
      }
      if (scenario.fault === "update:migrate" || scenario.then === "recover") {
        // Maintenance left on by the dead update is the operator's to lift.
        assertEquals((await cli(["maintenance", "off"])).code, 0);
      }
      if (scenario.release === FAILING) {
        // The failing bundle went back to pending/ with the undo: the operator removes it.
        await Deno.remove(join(app.dir, "updates/pending/testapp-1.1.0.zip"));
      }

      const version = (await Deno.readTextFile(join(app.dir, "VERSION"))).trim();
      assertEquals(version, scenario.version);
      if (scenario.version === "1.0.0") {
        assertEquals(await treeHash(app.dir, ["updates", "data"]), code100);
        assertEquals(await users(), schema100);
      } else {
        const main = await Deno.readTextFile(join(app.dir, "app/main.ts"));
        assertEquals(main, V2["app/main.ts"]);
        assertEquals((await users()).map((c) => c.name), ["id", "name", "email"]);
      }
      assertEquals(await app.dbs.main!.query("select id, name from users"), [{
        id: 1,
        name: "ada",
      }]);
      const [code, problems] = await check();
      // A restore to 1.0.0 leaves the 1.1.0 bundle in installed/ (kept, not lost): check is clean.
      assertEquals([code, problems], [0, []]);
    });
  }
}
