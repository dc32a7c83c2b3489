/**
 * Issue 13, "requirements", through the CLI with the README's flags on
 * SQLite and PostgreSQL: a pack needing app >= 1.4 while 1.3 is installed
 * waits in pending/ with the reason; app 1.4 and that pack pending together
 * install in the right order in one `update`; packs install after the packs
 * they require; two packs requiring each other are refused with the chain;
 * a pack another needs is neither removed nor disabled; an app bundle that
 * would break an installed pack waits, and code changed outside lockstep
 * that breaks one blocks `check`.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, type TestApp } from "./helpers/app.ts";
import { pendingRelease } from "./helpers/bundles.ts";
import {
  checkCodes,
  cliOf,
  packApp,
  pendingFiles,
  pendingPack,
  REVIEWS_010,
  REVIEWS_020,
} from "./helpers/packs.ts";

/** An app at 1.3.0, migrated, with pack reviews 0.1.0 installed. */
async function appWithReviews(backend: (typeof BACKENDS)[number]): Promise<TestApp> {
  const app = await packApp(backend);
  await Deno.writeTextFile(join(app.dir, "VERSION"), "1.3.0\n");
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  await pendingPack(app.dir, {
    name: "reviews",
    version: "0.1.0",
    requires: { app: ">=1.0" },
    migrations: REVIEWS_010,
  });
  const installed = await cli(["pack", "install", "reviews", "--yes"]);
  assertEquals(installed.code, 0, installed.stdout + installed.stderr);
  return app;
}

async function installPlain(app: TestApp, name: string, version: string, requires = {}) {
  await pendingPack(app.dir, { name, version, requires });
  const result = await cliOf(app)(["pack", "install", name, "--yes"]);
  assertEquals(result.code, 0, result.stdout + result.stderr);
}

for (const backend of BACKENDS) {
  Deno.test(`packs: a pack needing app >=1.4 waits in pending/ while 1.3 is installed, and installs after app 1.4 in one update (${backend})`, async () => {
    await using app = await appWithReviews(backend);
    const cli = cliOf(app);
    await pendingPack(app.dir, {
      name: "reviews",
      version: "0.2.0",
      requires: { app: ">=1.4" },
      migrations: REVIEWS_020,
    }, { upgradesFrom: "^0.1.0" });
    const [code, problems, report] = await checkCodes(cli);
    assertEquals([code, problems], [0, ["PACK_REQUIREMENT_UNMET"]]);
    assertMatch(
      report.bundles[0]!.problem!.message,
      /requires app >=1\.4 \(have 1\.3\.0\) after this run/,
    );
    const nothing = await cli(["update", "--yes"]);
    assertEquals(nothing.code, 0, nothing.stderr);
    assertMatch(nothing.stdout, /Nothing to update/);
    const refused = await cli(["pack", "install", "reviews", "--yes"]);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /PACK_REQUIREMENT_UNMET/);
    assertEquals(await pendingFiles(app), ["reviews-0.2.0.zip"]);

    // App 1.4.0 and the pack together: the app first, then the pack, in one update.
    await pendingRelease(app.dir, "1.4.0", { "app/main.ts": "console.log('1.4.0');\n" });
    const [pending, pendingProblems] = await checkCodes(cli);
    assertEquals([pending, pendingProblems], [3, ["BUNDLES_PENDING"]]);
    const updated = await cli(["update", "--yes"]);
    assertEquals(updated.code, 0, updated.stdout + updated.stderr);
    assertMatch(updated.stdout, /install: 1\.3\.0 → 1\.4\.0, pack reviews 0\.1\.0 → 0\.2\.0/);
    assertEquals((await Deno.readTextFile(join(app.dir, "VERSION"))).trim(), "1.4.0");
    assertEquals(await pendingFiles(app), []);
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
  });

  Deno.test(`packs: update installs a pack after the pack it requires, whatever their names; a cycle is refused with its chain (${backend})`, async () => {
    await using app = await appWithReviews(backend);
    const cli = cliOf(app);
    await installPlain(app, "ratings", "1.0.0");
    // ratings 1.1 needs reviews 0.2: reviews goes first although "ratings" sorts before it.
    await pendingPack(app.dir, {
      name: "ratings",
      version: "1.1.0",
      requires: { "pack:reviews": "^0.2" },
    }, { upgradesFrom: "^1.0.0" });
    await pendingPack(app.dir, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 });
    const updated = await cli(["update", "--yes"]);
    assertEquals(updated.code, 0, updated.stdout + updated.stderr);
    assertMatch(updated.stdout, /pack reviews 0\.1\.0 → 0\.2\.0, pack ratings 1\.0\.0 → 1\.1\.0/);

    // Two packs that require each other cannot be installed in any order.
    await installPlain(app, "alpha", "1.0.0");
    await installPlain(app, "beta", "1.0.0");
    await pendingPack(app.dir, {
      name: "alpha",
      version: "1.1.0",
      requires: { "pack:beta": "^1.1" },
    });
    await pendingPack(app.dir, {
      name: "beta",
      version: "1.1.0",
      requires: { "pack:alpha": "^1.1" },
    });
    const [code, problems, report] = await checkCodes(cli);
    assertEquals([code, problems], [0, ["PACK_CYCLE", "PACK_CYCLE"]]);
    assertMatch(report.bundles[0]!.problem!.message, /alpha → beta → alpha/);
    const install = await cli(["install", "--yes"]);
    assertEquals(install.code, 1, install.stdout + install.stderr);
    assertMatch(install.stdout, /refused alpha-1\.1\.0\.zip \[PACK_CYCLE\]/);
    assertMatch(install.stdout, /refused beta-1\.1\.0\.zip \[PACK_CYCLE\]/);
    assertEquals(await pendingFiles(app), ["alpha-1.1.0.zip", "beta-1.1.0.zip"]);
  });

  Deno.test(`packs: a pack another installed pack requires is neither removed nor disabled (${backend})`, async () => {
    await using app = await appWithReviews(backend);
    const cli = cliOf(app);
    await installPlain(app, "ratings", "1.0.0", { "pack:reviews": "^0.1" });
    const before = await Deno.readTextFile(join(app.dir, "updates/state.json"));
    for (const args of [["pack", "remove", "reviews", "--yes"], ["pack", "disable", "reviews"]]) {
      const refused = await cli(args);
      assertEquals(refused.code, 1, args.join(" "));
      assertMatch(
        refused.stderr,
        /installed pack\(s\) "ratings" require pack "reviews".*\[PACK_HAS_DEPENDENTS\]/,
      );
    }
    assertEquals(await Deno.readTextFile(join(app.dir, "updates/state.json")), before);
    assert(await Deno.lstat(join(app.dir, "packs/reviews/mod.ts")).then(() => true));
    // Once ratings is gone, reviews may go.
    assertEquals((await cli(["pack", "remove", "ratings", "--yes"])).code, 0);
    assertEquals((await cli(["pack", "remove", "reviews", "--yes"])).code, 0);
  });

  Deno.test(`packs: an app bundle that would break an installed pack waits; code that breaks one blocks check (exit 5) (${backend})`, async () => {
    await using app = await packApp(backend);
    const cli = cliOf(app);
    assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
    await pendingPack(app.dir, {
      name: "reviews",
      version: "0.1.0",
      requires: { app: ">=1.0 <1.5" },
      migrations: REVIEWS_010,
    });
    assertEquals((await cli(["pack", "install", "reviews", "--yes"])).code, 0);
    await pendingRelease(app.dir, "1.5.0", { "app/main.ts": "console.log('1.5.0');\n" });
    const [code, problems, report] = await checkCodes(cli);
    assertEquals([code, problems], [0, ["PACK_REQUIREMENT_UNMET"]]);
    assertMatch(
      report.bundles[0]!.problem!.message,
      /installed pack "reviews" 0\.1\.0 requires app >=1\.0 <1\.5/,
    );
    assertEquals((await cli(["update", "--yes"])).code, 0);
    assertEquals((await Deno.readTextFile(join(app.dir, "VERSION"))).trim(), "1.0.0");

    // The code changed outside lockstep: the pack's requirement no longer holds.
    await Deno.remove(join(app.dir, "updates/pending/testapp-1.5.0.zip"));
    await Deno.writeTextFile(join(app.dir, "VERSION"), "1.5.0\n");
    const [blocked, blocking, blockedReport] = await checkCodes(cli);
    assertEquals(blocked, 5);
    assert(blocking.includes("PACK_REQUIREMENT_UNMET"), blocking.join(","));
    assertEquals(blockedReport.packs[0]!.unmet, ["app >=1.0 <1.5 (have 1.5.0)"]);
    // Disabling the pack lets the application start without it.
    assertEquals((await cli(["pack", "disable", "reviews"])).code, 0);
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
  });
}
