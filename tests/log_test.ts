/**
 * `log()`: the history of every database's ledger and of the code, newest
 * first, on real databases.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { install, log, migrate } from "../mod.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

for (const backend of BACKENDS) {
  Deno.test(`log() lists migrations, failures and installs newest first, per database or all (${backend})`, async () => {
    await using app = await makeApp(backend, {
      databases: { main: backend, other: "sqlite" },
      packages: {
        core: { files: { "20260101000000_users.sql": "create table users (id integer);\n" } },
        extra: {
          database: "other",
          files: { "20260102000000_notes.sql": "create table notes (id integer);\n" },
        },
      },
      files: { "app/main.ts": "1\n" },
    });
    const config = await app.config();
    await migrate(config, { backup: false });
    await app.write("migrations/core/20260201000000_broken.sql", "create table broken (;\n");
    await rejectsWith(migrate(await app.config(), { backup: false }), "MIGRATION_FAILED");
    await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
    await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0.zip"), {
      version: "1.1.0",
      files: { "app/main.ts": "2\n" },
    });
    await install(config, { backup: false });

    const all = await log(config);
    const sorted = [...all].sort((a, b) => b.at.localeCompare(a.at));
    assertEquals(all.map((e) => e.at), sorted.map((e) => e.at), "newest first");
    assertEquals(all[0]!.source, "code");
    assertEquals([all[0]!.action, all[0]!.id], ["install", "1.1.0"]);
    const failed = all.find((e) => e.outcome === "failed")!;
    assertEquals([failed.source, failed.action, failed.id], [
      "main",
      "failed",
      "core/20260201000000_broken",
    ]);
    const applied = all.filter((e) => e.action === "applied");
    assertEquals(applied.map((e) => [e.source, e.id]).sort(), [
      ["main", "core/20260101000000_users"],
      ["other", "extra/20260102000000_notes"],
    ]);
    assert(applied.every((e) => typeof e.durationMs === "number" && e.host !== null));

    const other = await log(config, { database: "other" });
    assert(other.length > 0 && other.every((e) => e.source === "other"));
    assertEquals((await log(config, { limit: 2 })).length, 2);
    await rejectsWith(log(config, { database: "nope" }), "USAGE");
    await rejectsWith(log(config, { limit: 0 }), "USAGE");
  });
}

Deno.test("lockstep log prints the history newest first with --allow-read only; --database and --json; a bad --limit is a usage error", async () => {
  await using app = await makeApp("sqlite", {
    packages: {
      core: { files: { "20260101000000_users.sql": "create table users (id integer);\n" } },
    },
  });
  await migrate(await app.config(), { backup: false });
  const cli = (...args: string[]) =>
    runCli(documentedFlags(app.dir, { write: false }), [...args, "--config", app.configPath]);
  const text = await cli("log");
  assertEquals(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split("\n");
  assertMatch(
    lines.at(-1)!,
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}main {2}applied {2}core\/20260101000000_users {2}\d+ ms/,
  );
  assertMatch(lines[0]!, / {2}main {2}schema-recorded {2}-/);
  const json = await cli("log", "--json", "--database", "main", "--limit", "1");
  assertEquals(json.code, 0, json.stderr);
  const entries = JSON.parse(json.stdout).entries;
  assertEquals(entries.length, 1);
  assertEquals(entries[0].source, "main");
  const bad = await cli("log", "--limit", "0");
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /--limit takes a whole number/);
  const unknown = await cli("log", "--database", "nope", "--json");
  assertEquals(JSON.parse(unknown.stdout).error.code, "USAGE");
});
