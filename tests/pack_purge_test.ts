/**
 * Issue 13, `pack remove --purge`, through the CLI with the README's flags
 * on SQLite and PostgreSQL: refused with nothing changed (no backup, no
 * maintenance, files, state, ledger and tables as they were) when an
 * applied migration has no `down` step or another package's migration
 * depends on the pack's; otherwise the `down` steps run newest first, the
 * pack's ledger rows go, the schema is recorded anew (check 0), and a
 * reinstall runs its migrations again.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, type TestApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import {
  checkCodes,
  cliOf,
  packApp,
  pendingPack,
  REVIEWS_010,
  REVIEWS_020,
} from "./helpers/packs.ts";

/** Everything a refused purge must leave as it was. */
async function snapshot(app: TestApp): Promise<unknown> {
  const backups = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/backups")))
    .catch(() => []);
  return {
    tree: await treeHash(app.dir, ["updates", "data"]),
    state: await Deno.readTextFile(join(app.dir, "updates/state.json")),
    ledger: await app.dbs.main!.query("select id from lockstep_migrations order by id"),
    tables: await app.dbs.main!.tables(),
    backups: backups.map((e) => e.name).sort(),
    maintenance: await Deno.lstat(join(app.dir, "updates/maintenance.json")).then(() => 1, () => 0),
  };
}

async function installed(app: TestApp, release: Parameters<typeof pendingPack>[1]): Promise<void> {
  await pendingPack(app.dir, release);
  const result = await cliOf(app)(["pack", "install", release.name, "--yes"]);
  assertEquals(result.code, 0, result.stdout + result.stderr);
}

for (const backend of BACKENDS) {
  Deno.test(`packs: remove --purge is refused, with nothing changed, when a migration has no down step or another package depends on one (${backend})`, async () => {
    await using app = await packApp(backend);
    const cli = cliOf(app);
    assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
    await installed(app, {
      name: "notes",
      version: "1.0.0",
      migrations: {
        "20260301000000_notes.sql": "create table notes (id integer primary key);\n" +
          "-- lockstep:down\ndrop table notes;\n",
        "20260302000000_note_tags.sql": "create table note_tags (id integer primary key);\n",
      },
    });
    const before = await snapshot(app);
    const noDown = await cli(["pack", "remove", "notes", "--purge", "--yes"]);
    assertEquals(noDown.code, 1, noDown.stdout + noDown.stderr);
    assertMatch(
      noDown.stderr,
      /notes\/20260302000000_note_tags has no down step.*\[PACK_PURGE_REFUSED\]/,
    );
    assertEquals(await snapshot(app), before);

    // ratings' migration depends on reviews' (without declaring it requires the pack).
    await installed(app, { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 });
    await installed(app, {
      name: "ratings",
      version: "1.0.0",
      migrations: {
        "20260501000000_ratings.sql": "-- lockstep:depends-on reviews/20260301000000_reviews\n" +
          "create table ratings (id integer primary key);\n-- lockstep:down\ndrop table ratings;\n",
      },
    });
    const held = await snapshot(app);
    const depended = await cli(["pack", "remove", "reviews", "--purge", "--yes"]);
    assertEquals(depended.code, 1, depended.stdout + depended.stderr);
    assertMatch(
      depended.stderr,
      /depend on them: ratings\/20260501000000_ratings.*\[PACK_PURGE_REFUSED\]/,
    );
    assertEquals(await snapshot(app), held);
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
  });

  Deno.test(`packs: remove --purge undoes the pack's migrations newest first, forgets its ledger rows, and a reinstall runs them again (${backend})`, async () => {
    await using app = await packApp(backend);
    const cli = cliOf(app);
    assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
    await installed(app, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 });
    assert((await app.dbs.main!.tables()).includes("reviews"));
    const purged = await cli(["pack", "remove", "reviews", "--purge", "--yes"]);
    assertEquals(purged.code, 0, purged.stdout + purged.stderr);
    assertMatch(purged.stdout, /purge: 2 migration\(s\) undone on database "main"/);
    assert(!(await app.dbs.main!.tables()).includes("reviews"), "the pack's table is gone");
    assertEquals(
      await app.dbs.main!.query("select id from lockstep_migrations where package = 'reviews'"),
      [],
    );
    const events = await app.dbs.main!.query(
      "select kind from lockstep_events where kind in ('pack-purge', 'pack-remove') order by id",
    );
    assertEquals(events.map((e) => e.kind), ["pack-purge", "pack-remove"]);
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);

    await pendingPack(app.dir, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 });
    const again = await cli(["pack", "install", "reviews", "--yes", "--json"]);
    assertEquals(again.code, 0, again.stdout + again.stderr);
    assertEquals(JSON.parse(again.stdout).applied, [
      "reviews/20260301000000_reviews",
      "reviews/20260401000000_stars",
    ]);
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
  });
}
