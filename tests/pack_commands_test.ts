/**
 * The pack commands' other paths, through the CLI with the README's flags:
 * a dry run, a failed install undone, confirmation, unknown packs, `bundle
 * create --pack`, a pack's own database, a broken declaration blocking
 * check, and `packs()` for the application.
 *
 * @module
 */
import { join } from "node:path";
import { createBundle, gate, packs } from "../mod.ts";
import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { pendingRelease, treeHash } from "./helpers/bundles.ts";
import {
  checkCodes,
  cliOf,
  CORE,
  packApp,
  pendingFiles,
  pendingPack,
  REVIEWS_010,
  writePackRelease,
} from "./helpers/packs.ts";
import { tempDir } from "./helpers/temp.ts";

Deno.test("packs: pack install --dry-run lists what it would write and changes nothing; without --yes and a terminal it refuses", async () => {
  await using app = await packApp("sqlite");
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  await pendingPack(app.dir, { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 });
  const before = await treeHash(app.dir);
  const dry = await cli(["pack", "install", "reviews", "--dry-run"]);
  assertEquals(dry.code, 0, dry.stderr);
  assertMatch(dry.stdout, /Would install pack reviews \(none\) → 0\.1\.0:/);
  assertMatch(dry.stdout, /write packs\/reviews\/migrations\/20260301000000_reviews\.sql/);
  const asked = await cli(["pack", "install", "reviews"]);
  assertEquals(asked.code, 2);
  assertMatch(asked.stderr, /CONFIRMATION_REQUIRED/);
  assertEquals(await treeHash(app.dir), before);
});

Deno.test("packs: a pack whose migration fails is undone: its files out, state.json as it was, its bundle back in pending/", async () => {
  await using app = await packApp("sqlite");
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  const tree = await treeHash(app.dir, ["updates", "data"]);
  const state = await Deno.readTextFile(join(app.dir, "updates/state.json")).catch(() => "{}");
  await pendingPack(app.dir, {
    name: "broken",
    version: "1.0.0",
    migrations: {
      "20260301000000_broken.sql": "create table broken (id integer primary key);\nnot sql;\n",
    },
  });
  const failed = await cli(["pack", "install", "broken", "--yes"]);
  assertEquals(failed.code, 1, failed.stdout + failed.stderr);
  assertMatch(
    failed.stderr,
    /Cannot install pack "broken": step migrate failed: .*What it changed was undone.*\[MIGRATION_FAILED\]/s,
  );
  assertEquals(await treeHash(app.dir, ["updates", "data"]), tree);
  assertEquals(
    JSON.parse(await Deno.readTextFile(join(app.dir, "updates/state.json"))).packs ?? {},
    JSON.parse(state).packs ?? {},
  );
  assertEquals(await pendingFiles(app), ["broken-1.0.0.zip"]);
  assert(!(await app.dbs.main!.tables()).includes("broken"));
  const [code, problems] = await checkCodes(cli);
  assertEquals([code, problems], [0, ["PACK_NOT_INSTALLED", "MAINTENANCE_ON"]]);
});

Deno.test("packs: commands on packs that are not there say so", async () => {
  await using app = await packApp("sqlite");
  const cli = cliOf(app);
  const cases: [string[], string][] = [
    [["pack", "install", "reviews", "--yes"], "PACK_NOT_FOUND"],
    [["pack", "remove", "reviews", "--yes"], "PACK_NOT_INSTALLED"],
    [["pack", "enable", "reviews"], "PACK_NOT_INSTALLED"],
    [["pack", "disable", "reviews"], "PACK_NOT_INSTALLED"],
  ];
  for (const [args, code] of cases) {
    const result = await cli(args);
    assertEquals(result.code, 1, args.join(" "));
    assertMatch(result.stderr, new RegExp(`\\[${code}\\]`), args.join(" "));
  }
  const list = await cli(["pack", "list"]);
  assertMatch(list.stdout, /No packs are installed/);
});

Deno.test("packs: bundle create --pack needs the pack's declaration, naming the same pack and version; an app bundle may not carry packs/", async () => {
  await using app = await packApp("sqlite");
  await using work = await tempDir();
  const config = await app.config();
  const from = await writePackRelease(work.path, { name: "reviews", version: "0.1.0" });
  const out = (name: string) => join(work.path, name);
  await rejectsWith(
    createBundle({ from, app: "testapp", version: "0.2.0", pack: "reviews", out: out("a.zip") }),
    "PACK_INVALID",
  );
  await rejectsWith(
    createBundle({ from, app: "testapp", version: "0.1.0", pack: "ratings", out: out("b.zip") }),
    "PACK_INVALID",
  );
  await rejectsWith(
    createBundle({
      from: app.dir,
      app: "testapp",
      version: "0.1.0",
      pack: "core",
      config,
      out: out("c.zip"),
    }),
    "PACK_NAME_INVALID",
  );
  await Deno.remove(join(from, "lockstep-package.json"));
  await rejectsWith(
    createBundle({ from, app: "testapp", version: "0.1.0", pack: "reviews", out: out("d.zip") }),
    "PACK_INVALID",
  );
  const release = join(work.path, "release");
  await Deno.mkdir(join(release, "packs/reviews"), { recursive: true });
  await Deno.writeTextFile(join(release, "packs/reviews/mod.ts"), "export {};\n");
  await rejectsWith(
    createBundle({ from: release, app: "testapp", version: "1.1.0", config, out: out("e.zip") }),
    "BUNDLE_PROTECTED_PATH",
  );
  assertEquals(
    (await Array.fromAsync(Deno.readDir(work.path))).filter((e) => e.name.endsWith(".zip")),
    [],
  );
});

Deno.test("packs: a pack's migrations go to the database packs.databases maps it to", async () => {
  await using app = await makeApp("sqlite", {
    databases: { main: "sqlite", extra: "sqlite" },
    packages: { core: { files: CORE } },
    extra: { packs: { databases: { reviews: "extra" } } },
  });
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  await pendingPack(app.dir, {
    name: "reviews",
    version: "0.1.0",
    database: "main",
    migrations: REVIEWS_010,
  });
  const installed = await cli(["pack", "install", "reviews", "--yes"]);
  assertEquals(installed.code, 0, installed.stdout + installed.stderr);
  assert((await app.dbs.extra!.tables()).includes("reviews"), "on extra");
  assert(!(await app.dbs.main!.tables()).includes("reviews"), "not on main");
  assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
});

Deno.test("packs: a broken declaration of an enabled pack blocks check (exit 5), migrate and gate(); packs() lists only enabled packs", async () => {
  await using app = await packApp("sqlite");
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  for (const name of ["reviews", "ratings"]) {
    await pendingPack(app.dir, {
      name,
      version: "0.1.0",
      ...(name === "reviews" ? { migrations: REVIEWS_010 } : {}),
    });
    assertEquals((await cli(["pack", "install", name, "--yes"])).code, 0);
  }
  assertEquals((await cli(["pack", "disable", "ratings"])).code, 0);
  const listed = await packs(await app.config());
  assertEquals(listed.map((p) => [p.name, p.version, p.folder]), [
    ["reviews", "0.1.0", join(app.dir, "packs/reviews")],
  ]);
  await gate(await app.config());

  const declaration = join(app.dir, "packs/reviews/lockstep-package.json");
  const text = await Deno.readTextFile(declaration);
  await Deno.writeTextFile(declaration, text.replace('"format":1', '"format":1,"extra":true'));
  const [code, problems, report] = await checkCodes(cli);
  assertEquals([code, problems], [5, ["PACK_INVALID"]]);
  assertMatch(report.problems[0]!.message, /unknown key "extra"/);
  const migrate = await cli(["migrate", "--yes", "--no-backup"]);
  assertEquals(migrate.code, 1);
  assertMatch(migrate.stderr, /PACK_INVALID/);
  await rejectsWith(gate(await app.config()), "GATE_REFUSED");
  await rejectsWith(packs(await app.config()), "PACK_INVALID");
  // Enabling a pack whose requirement is not met is refused.
  await Deno.writeTextFile(declaration, text);
  const state = JSON.parse(await Deno.readTextFile(join(app.dir, "updates/state.json")));
  state.packs.ratings.requires = { app: ">=9" };
  await Deno.writeTextFile(join(app.dir, "updates/state.json"), JSON.stringify(state));
  const enable = await cli(["pack", "enable", "ratings"]);
  assertEquals(enable.code, 1);
  assertMatch(enable.stderr, /requires app >=9 \(have 1\.0\.0\).*\[PACK_REQUIREMENT_UNMET\]/);
});

Deno.test("packs: with a pack installed (or disabled), an app release still inspects and installs cleanly: the pack's ledger rows are never ahead", async () => {
  await using app = await packApp("sqlite");
  const cli = cliOf(app);
  assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
  await pendingPack(app.dir, { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 });
  assertEquals((await cli(["pack", "install", "reviews", "--yes"])).code, 0);
  await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "console.log('1.1.0');\n" });
  const zip = join(app.dir, "updates/pending/testapp-1.1.0.zip");
  for (const disabled of [false, true]) {
    if (disabled) assertEquals((await cli(["pack", "disable", "reviews"])).code, 0);
    const inspected = await cli(["bundle", "inspect", zip, "--json"]);
    assertEquals(inspected.code, 0, inspected.stdout + inspected.stderr);
    assertEquals(JSON.parse(inspected.stdout).problem, undefined);
    const dry = await cli(["install", "--dry-run"]);
    assertEquals(dry.code, 0, dry.stdout + dry.stderr);
  }
  const installed = await cli(["install", "--yes"]);
  assertEquals(installed.code, 0, installed.stdout + installed.stderr);
  assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
});
