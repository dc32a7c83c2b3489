/**
 * Issue 13, "a full cycle", through the CLI with the README's flags on
 * SQLite and PostgreSQL: app 1.0.0 with no packs → `pack install reviews`
 * (0.1.0: its files under packs/reviews/, its migrations applied, its
 * consent logged, check 0) → a 0.2.0 pack bundle in pending/ (check 3) →
 * `update` installs the pack alone (the app's version unchanged) → check 0
 * → `pack disable` → `pack remove` (files gone, tables kept, check 0, its
 * ledger rows known) → a reinstall resumes them. `check --json` matches
 * its schema at every step.
 *
 * @module
 */
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, type TestApp } from "./helpers/app.ts";
import {
  checkCodes,
  cliOf,
  packApp,
  pendingFiles,
  pendingPack,
  REVIEWS_010,
  REVIEWS_020,
} from "./helpers/packs.ts";

const schema = JSON.parse(
  await Deno.readTextFile(new URL("../schema/check.schema.json", import.meta.url)),
);
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function columns(app: TestApp, table: string): Promise<string[]> {
  const db = app.dbs.main!;
  const rows = db.url.startsWith("postgres")
    ? await db.query(
      "select column_name as name from information_schema.columns where table_name = $1 " +
        "order by ordinal_position",
      [table],
    )
    : await db.query(`select name from pragma_table_info('${table}')`);
  return rows.map((r) => String(r.name));
}

for (const backend of BACKENDS) {
  Deno.test(`packs: install reviews 0.1.0, update it alone to 0.2.0, disable, remove (tables and ledger rows kept), reinstall resumes (${backend})`, async () => {
    await using app = await packApp(backend);
    const cli = cliOf(app);
    const check = async (exitCode: number) => {
      const [code, problems, report] = await checkCodes(cli);
      assert(
        validate(report),
        `check --json against its schema: ${JSON.stringify(validate.errors)}`,
      );
      assertEquals(code, exitCode, JSON.stringify(report.problems));
      return { problems, report };
    };
    assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
    assertEquals((await check(0)).problems, []);

    // A pack bundle in pending/ is not "pending" until the operator adds the pack.
    await pendingPack(app.dir, { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 });
    const waiting = await check(0);
    assertEquals(waiting.problems, ["PACK_NOT_INSTALLED"]);
    const installed = await cli(["pack", "install", "reviews", "--yes"]);
    assertEquals(installed.code, 0, installed.stdout + installed.stderr);
    assertMatch(
      installed.stdout,
      /Installed pack reviews \(none\) → 0\.1\.0: 1 bundle\(s\), 1 migration\(s\)/,
    );
    for (
      const file of ["lockstep-package.json", "mod.ts", "migrations/20260301000000_reviews.sql"]
    ) {
      assert(await exists(join(app.dir, "packs/reviews", file)), file);
    }
    assertEquals(await columns(app, "reviews"), ["id", "user_id", "body"]);
    const after = await check(0);
    assertEquals(after.problems, []);
    assertEquals(
      after.report.packs.map((p) => [p.name, p.version, p.enabled]),
      [["reviews", "0.1.0", true]],
    );
    const events = await app.dbs.main!.query(
      "select kind, message from lockstep_events where kind = 'pack-install'",
    );
    assertEquals(events.length, 1);
    assertMatch(
      String(events[0]!.message),
      /pack reviews \(none\) → 0\.1\.0 installed from reviews-0\.1\.0\.zip with the consent of an operator \(--yes, unattended\)/,
    );
    assertEquals(await pendingFiles(app), []);
    const kept = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/installed")));
    assert(
      kept.some((e) => /^reviews-0\.1\.0-\d{8}T\d{6}Z\.zip$/.test(e.name)),
      "kept as reviews-0.1.0-…",
    );

    // 0.2.0 pending: check says so (3); update installs the pack alone.
    await pendingPack(app.dir, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 }, {
      upgradesFrom: ">=0.1.0 <0.2.0",
    });
    const pending = await check(3);
    assertEquals(pending.problems, ["BUNDLES_PENDING"]);
    assertEquals(
      pending.report.bundles.map((
        b,
      ) => [b.pack, b.applies]),
      [["reviews", true]],
    );
    const updated = await cli(["update", "--yes"]);
    assertEquals(updated.code, 0, updated.stdout + updated.stderr);
    assertMatch(updated.stdout, /install: pack reviews 0\.1\.0 → 0\.2\.0/);
    assertMatch(updated.stdout, /Packs: reviews 0\.2\.0/);
    assertEquals((await Deno.readTextFile(join(app.dir, "VERSION"))).trim(), "1.0.0");
    assertEquals(await columns(app, "reviews"), ["id", "user_id", "body", "stars"]);
    assertEquals((await check(0)).problems, []);
    const status = await cli(["status"]);
    assertMatch(status.stdout, /pack reviews 0\.2\.0 → main: 2\/2 applied/);

    // Disabled: its files stay, nothing is pending.
    assertEquals((await cli(["pack", "disable", "reviews"])).code, 0);
    assert(await exists(join(app.dir, "packs/reviews/mod.ts")));
    assertEquals((await check(0)).problems, []);

    // Removed: files gone, tables and ledger rows kept and known.
    const removed = await cli(["pack", "remove", "reviews", "--yes"]);
    assertEquals(removed.code, 0, removed.stdout + removed.stderr);
    assert(!(await exists(join(app.dir, "packs/reviews"))), "the pack's folder is gone");
    assertEquals(await columns(app, "reviews"), ["id", "user_id", "body", "stars"]);
    const gone = await check(0);
    assertEquals(gone.problems, []);
    assertEquals(gone.report.packs[0]!.version, null);
    const rows = await app.dbs.main!.query(
      "select id from lockstep_migrations where package = 'reviews' order by id",
    );
    assertEquals(rows.length, 2);
    const list = JSON.parse((await cli(["pack", "list", "--json"])).stdout);
    assertEquals(list.packs.map((p: { name: string; version: null }) => [p.name, p.version]), [[
      "reviews",
      null,
    ]]);
    const log = await cli(["log"]);
    assertMatch(log.stdout, /pack:reviews {2}remove {2}0\.2\.0/);
    assertMatch(log.stdout, /main {2}pack-install/);

    // Reinstalled: the ledger rows resume; nothing runs again.
    await pendingPack(app.dir, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 });
    const again = await cli(["pack", "install", "reviews", "--yes", "--json"]);
    assertEquals(again.code, 0, again.stdout + again.stderr);
    const result = JSON.parse(again.stdout);
    assertEquals([result.from, result.to, result.applied], [null, "0.2.0", []]);
    assert(await exists(join(app.dir, "packs/reviews/migrations/20260401000000_stars.sql")));
    assertEquals((await check(0)).problems, []);
  });
}
