/**
 * Pruning backups (issue 12, item 10): `backup prune --dry-run` says what it
 * would remove and removes nothing; `update` prunes to `backup.keep` after it
 * succeeds, never the backup it just took nor the newest valid one, and a
 * prune that fails after a successful update is reported, not an error.
 *
 * @module
 */
import { join } from "node:path";
import { backup, listBackups } from "../mod.ts";
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { immutable, IS_ROOT, sh } from "./helpers/system.ts";

const USERS = "create table users (id integer primary key);\n";
const NAMES = "alter table users add column name text;\n";

async function ids(app: TestApp): Promise<string[]> {
  return (await listBackups(await app.config())).map((b) => b.id);
}

/** A copy of backup `id` whose backup.json says it was made in `year`: newer than any other. */
async function copyAs(app: TestApp, id: string, year: number): Promise<string> {
  const backups = join(app.dir, "updates/backups");
  const copy = `${year}0101T000000Z-copy`;
  await sh("cp", "-a", join(backups, id), join(backups, copy));
  const manifest = JSON.parse(await Deno.readTextFile(join(backups, copy, "backup.json")));
  await Deno.writeTextFile(
    join(backups, copy, "backup.json"),
    JSON.stringify({ ...manifest, id: copy, created: `${year}-01-01T00:00:00.000Z` }),
  );
  return copy;
}

for (const backend of BACKENDS) {
  const flagsOf = (app: TestApp) =>
    documentedFlags(app.dir, { postgres: backend === "postgres" ? [app.dbs.main!.url] : [] });

  Deno.test(`backup prune --dry-run lists the backups it would remove and removes nothing (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
      extra: { backup: { keep: 1 } },
    });
    const config = await app.config();
    const old = await backup(config, { label: "old" });
    const newer = await backup(config, { label: "newer" });
    const dry = await runCli(documentedFlags(app.dir, { write: false }), [
      "backup",
      "prune",
      "--dry-run",
      "--config",
      app.configPath,
    ]);
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(dry.stdout.split("\n")[0], `would remove ${old.id}`);
    assertMatch(dry.stdout, /Would keep 1 backup\(s\) \(backup.keep is 1\)\. Nothing was removed/);
    assertEquals(await ids(app), [newer.id, old.id]);
    const json = await runCli(flagsOf(app), [
      "backup",
      "prune",
      "--dry-run",
      "--json",
      "--config",
      app.configPath,
    ]);
    assertEquals(JSON.parse(json.stdout), {
      ok: true,
      removed: [old.id],
      kept: [newer.id],
      dryRun: true,
    });
    const real = await runCli(flagsOf(app), ["backup", "prune", "--config", app.configPath]);
    assertEquals(real.code, 0, real.stderr);
    assertEquals(await ids(app), [newer.id]);
  });

  Deno.test(`update prunes to backup.keep after it succeeds, never the backup it took nor the newest valid one (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
      extra: { backup: { keep: 1 } },
    });
    const config = await app.config();
    const first = await backup(config, { label: "first" });
    const second = await backup(config, { label: "second" });
    // A valid backup stamped later than the one update will take (a clock that was ahead).
    const future = await copyAs(app, second.id, 2999);
    await app.write("migrations/core/20260102000000_names.sql", NAMES);
    const result = await runCli(flagsOf(app), ["update", "--yes", "--config", app.configPath]);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(result.stdout, /^prune: 2 old backup\(s\) removed, 2 kept/m);
    const left = await ids(app);
    assertEquals(left.length, 2, left.join(", "));
    assertEquals(left[0], future, "the newest valid backup stays");
    assertMatch(left[1]!, /-before-update$/, "the backup the update took stays");
    assertEquals(left.includes(first.id) || left.includes(second.id), false);
  });

  Deno.test(`a failed update prunes nothing, a successful one does, and one with nothing to do does not (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
      extra: { backup: { keep: 1 } },
    });
    const config = await app.config();
    const old = await backup(config, { label: "old" });
    await app.write("migrations/core/20260102000000_broken.sql", "create tabel broken;\n");
    const failed = await runCli(flagsOf(app), ["update", "--yes", "--config", app.configPath]);
    assertEquals(failed.code, 1, failed.stderr);
    assertEquals((await ids(app)).includes(old.id), true, "a failed update prunes nothing");
    await app.remove("migrations/core/20260102000000_broken.sql");
    const done = await runCli(flagsOf(app), ["update", "--yes", "--config", app.configPath]);
    assertEquals(done.code, 0, done.stderr);
    assertMatch(done.stdout, /^prune: /m);
    const again = await runCli(flagsOf(app), ["update", "--yes", "--config", app.configPath]);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(/^prune: /m.test(again.stdout), false, again.stdout);
  });
}

Deno.test({
  name: "a prune that fails after a successful update is reported in its step; the update stands",
  ignore: !IS_ROOT,
  async fn() {
    await using app = await makeApp("sqlite", {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
      extra: { backup: { keep: 1 } },
    });
    const config = await app.config();
    const old = await backup(config, { label: "old" });
    await using _stuck = await immutable(join(app.dir, "updates/backups", old.id));
    const result = await runCli(documentedFlags(app.dir), [
      "update",
      "--yes",
      "--config",
      app.configPath,
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(
      result.stdout,
      /^prune: not done \(.*\); the update itself succeeded: run "lockstep backup prune"/m,
    );
    assertMatch(result.stdout, /^Migrated testapp 1\.0\.0: 1 migration\(s\) applied\./m);
  },
});
