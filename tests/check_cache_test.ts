/**
 * `check`'s hints (lib/check_cache.ts) make it skip files and comparisons
 * it did before; these tests prove that nothing it skips can hide a change:
 * an applied migration edited to the same size with its old mtime put back,
 * a table altered outside migrations, a pending bundle replaced by another
 * of the same size with its old mtime, a config that requires signatures
 * after a bundle was judged, a ledger row removed by hand, a damaged cache.
 * And that `check` with only read permission writes nothing.
 */
import { join } from "node:path";
import { check } from "../mod.ts";
import { cachePath, RACY_MS } from "../lib/check_cache.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { fileEntry, writeZip } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";

const MIGRATIONS = {
  "20260101000000_users.sql": "create table users (id integer primary key, email text);\n",
  "20260201000000_orders.sql": "create table orders (id integer primary key, total integer);\n",
};

/** Past `RACY_MS`: a file changed more recently than that is never recorded. */
const settle = () => new Promise((resolve) => setTimeout(resolve, RACY_MS + 100));

/** An unsigned bundle with every entry stored: two versions of equal length give equal sizes. */
async function storedBundle(path: string, version: string): Promise<void> {
  const code = `export const version = "${version}";\n`;
  const manifest = {
    format: 1,
    app: "testapp",
    version,
    released: "2026-11-01T00:00:00Z",
    security: false,
    notes: `Release ${version}`,
    database: [],
    requires: {},
    files: { "app/version.ts": fileEntry(code) },
    remove: [],
  };
  await writeZip(path, [
    { name: "bundle.json", data: JSON.stringify(manifest), level: 0 },
    { name: "files/app/version.ts", data: code, level: 0 },
  ]);
}

/** Rewrites `path` with `data` and puts its modification time back. */
async function rewriteKeepingTimes(path: string, write: () => Promise<void>): Promise<void> {
  const before = await Deno.stat(path);
  await write();
  await Deno.utime(path, before.atime!, before.mtime!);
  const after = await Deno.stat(path);
  assertEquals([after.size, after.mtime?.getTime()], [before.size, before.mtime?.getTime()]);
}

const codes = (report: { problems: readonly { code: string }[] }) =>
  report.problems.map((p) => p.code);

/** `migrate --yes --no-backup` through the CLI with the README's flags. */
async function migrateCli(app: TestApp, postgres: string[]): Promise<void> {
  const result = await runCli(documentedFlags(app.dir, { write: true, postgres }), [
    "migrate",
    "--yes",
    "--no-backup",
    "--config",
    app.configPath,
  ]);
  assertEquals(result.code, 0, result.stderr);
}

for (const backend of BACKENDS) {
  const flagsFor = (app: TestApp, write: boolean) =>
    documentedFlags(app.dir, {
      write,
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
  const migrate = (app: TestApp) =>
    migrateCli(app, backend === "postgres" ? [app.dbs.main!.url] : []);

  Deno.test(`check's hints never hide an edited migration, an altered table or a replaced bundle (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: { files: MIGRATIONS } } });
    await migrate(app);
    const config = await app.config();
    const bundle = join(config.pending, "testapp-1.1.0.zip");
    await Deno.mkdir(config.pending, { recursive: true });
    await storedBundle(bundle, "1.1.0");
    await settle();

    const first = await check(config);
    assertEquals(first.bundles.map((b) => b.version), ["1.1.0"]);
    assertEquals(first.schema.map((s) => [s.record, s.changes.length]), [["current", 0]]);
    const cache = JSON.parse(await Deno.readTextFile(cachePath(config)));
    assertEquals(Object.keys(cache.files).length, 2, "both migration files recorded");
    assertEquals(Object.keys(cache.bundles), [bundle]);
    assertEquals(cache.bundles[bundle].judged.bundle.manifest.version, "1.1.0");
    assertEquals(Object.keys(cache.schema), ["main"]);
    // Answered from the hints, the same report.
    const second = await check(config);
    assertEquals([codes(second), second.bundles], [codes(first), first.bundles]);
    const kept = JSON.parse(await Deno.readTextFile(cachePath(config)));
    assertEquals(Object.keys(kept.files).length, 2, "file hints kept though the status was hinted");
    assert(kept.status !== undefined, "the status recorded");

    // The config changed after the bundle was judged: its verdict is not reused.
    const text = await Deno.readTextFile(app.configPath);
    await Deno.writeTextFile(
      app.configPath,
      JSON.stringify({ ...JSON.parse(text), trust: { requireSignature: true } }),
    );
    const strict = await check(await app.config());
    assertEquals(strict.bundles.map((b) => b.problem?.code), ["BUNDLE_SIGNATURE_INVALID"]);
    await Deno.writeTextFile(app.configPath, text);

    // An applied migration edited to the same size, its mtime put back: only ctime moved.
    const users = join(app.dir, "migrations/core/20260101000000_users.sql");
    const original = await Deno.readTextFile(users);
    await rewriteKeepingTimes(
      users,
      () => Deno.writeTextFile(users, original.replace("email", "EMAIL")),
    );
    const edited = await check(config);
    assert(codes(edited).includes("MIGRATION_CHANGED"), codes(edited).join());
    assertEquals(edited.migrations?.changed.map((c) => c.id), ["core/20260101000000_users"]);
    await rewriteKeepingTimes(users, () => Deno.writeTextFile(users, original));
    assert(!codes(await check(config)).includes("MIGRATION_CHANGED"));

    // A table altered outside migrations.
    await app.dbs.main!.query("alter table orders add column note text");
    // migrate judges drift with the same hints (the one saved matches no more), and refuses it.
    const refused = await runCli(flagsFor(app, true), [
      "migrate",
      "--yes",
      "--no-backup",
      "--json",
      "--config",
      app.configPath,
    ]);
    assertEquals([refused.code, JSON.parse(refused.stdout).error.code], [1, "SCHEMA_DRIFT"]);
    const afterMigrate = JSON.parse(await Deno.readTextFile(cachePath(config)));
    assertEquals(Object.keys(afterMigrate.files).length, 2, "migrate keeps check's file hints");
    const drifted = await check(config);
    assert(codes(drifted).includes("SCHEMA_DRIFT"), codes(drifted).join());
    assertEquals(
      drifted.schema[0]!.changes.map((c) => [c.table.replace(/^public\./, ""), c.kind, c.name]),
      [["orders", "column", "note"]],
    );
    // Still reported at the next start: a drifted database is never recorded as matching.
    assert(codes(await check(config)).includes("SCHEMA_DRIFT"));
    await app.dbs.main!.query("alter table orders drop column note");
    assertEquals(codes(await check(config)).includes("SCHEMA_DRIFT"), false);

    // The pending bundle replaced by another of the same size, its mtime put back.
    await rewriteKeepingTimes(bundle, () => storedBundle(bundle, "1.2.0"));
    const replaced = await check(config);
    assertEquals(replaced.bundles.map((b) => b.version), ["1.2.0"]);

    // A ledger row removed outside lockstep: that migration is pending again.
    await app.dbs.main!.query(
      "delete from lockstep_migrations where id = 'core/20260201000000_orders'",
    );
    const unledgered = await check(config);
    assertEquals(unledgered.migrations?.pending, ["core/20260201000000_orders"]);
  });

  Deno.test(`migrate runs what it reads, never a hint, and leaves the next check a drift hint (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: { files: MIGRATIONS } } });
    await migrate(app);
    const config = await app.config();
    const folder = join(app.dir, "migrations/core");
    const ledgerChecksum = async (id: string) =>
      String(
        (await app.dbs.main!.query(`select checksum from lockstep_migrations where id = '${id}'`))[
          0
        ]
          ?.checksum,
      );
    const sha = async (path: string) =>
      `v1:${
        Array.from(
          new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path))),
          (b) => b.toString(16).padStart(2, "0"),
        ).join("")
      }`;
    for (
      const [name, tamper] of [["20260301000000_items.sql", false], [
        "20260401000000_tags.sql",
        true,
      ]] as const
    ) {
      const path = join(folder, name);
      await Deno.writeTextFile(
        path,
        `create table ${name.slice(15, -4)} (id integer primary key);\n`,
      );
      await settle();
      assertEquals((await check(config)).migrations?.pending, [`core/${name.slice(0, -4)}`]);
      const cache = JSON.parse(await Deno.readTextFile(cachePath(config)));
      assert(cache.files[path] !== undefined, "the pending file's hint was recorded");
      if (tamper) {
        // A hint that no longer describes the file (as if it changed after it was looked at).
        cache.files[path].checksum = `v1:${"0".repeat(64)}`;
        await Deno.writeTextFile(cachePath(config), JSON.stringify(cache));
      }
      await migrate(app);
      assertEquals(await ledgerChecksum(`core/${name.slice(0, -4)}`), await sha(path));
      // The schema was fingerprinted as it was recorded: the next check has its drift hint.
      const after = JSON.parse(await Deno.readTextFile(cachePath(config)));
      assertEquals(Object.keys(after.schema), ["main"]);
      const clean = await check(config);
      assertEquals([codes(clean), clean.migrations?.pending], [[], []]);
    }
    // The hint migrate left hides no change made after it.
    await app.dbs.main!.query("alter table tags add column label text");
    const drifted = await check(config);
    assertEquals(
      drifted.schema[0]!.changes.map((c) => [c.table.replace(/^public\./, ""), c.kind, c.name]),
      [["tags", "column", "label"]],
    );
  });

  Deno.test(`a damaged or foreign cache changes nothing check says (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: { files: MIGRATIONS } } });
    await migrate(app);
    const config = await app.config();
    await settle();
    const truth = await check(config);
    for (
      const text of [
        "{ not json",
        JSON.stringify({ format: 99, files: {} }),
        JSON.stringify({
          format: 1,
          files: Object.fromEntries(
            Object.keys(MIGRATIONS).map((name) => [
              join(app.dir, "migrations/core", name),
              { id: "wrong", checksum: "v1:0", sql: { dependsOn: 7 } },
            ]),
          ),
          bundles: { "/nowhere.zip": { id: "x", manifest: 5 } },
          schema: { main: { where: "elsewhere", fingerprint: "0" } },
        }),
      ]
    ) {
      await Deno.writeTextFile(cachePath(config), text);
      const report = await check(config);
      assertEquals([report.exitCode, codes(report), report.schema], [
        truth.exitCode,
        codes(truth),
        truth.schema,
      ]);
    }
  });
}

Deno.test("check with only the documented read permission writes no cache", async () => {
  await using app = await makeApp("sqlite", { packages: { core: { files: MIGRATIONS } } });
  await migrateCli(app, []);
  await settle();
  const config = await app.config();
  // migrate left its drift hint; check must not write one of its own.
  await Deno.remove(cachePath(config));
  const result = await runCli(documentedFlags(app.dir, { write: false, postgres: [] }), [
    "check",
    "--config",
    app.configPath,
  ]);
  assertEquals(result.code, 0, result.stdout + result.stderr);
  await Deno.stat(cachePath(config)).then(
    () => assert(false, "a cache was written"),
    (error) => assert(error instanceof Deno.errors.NotFound),
  );
});

Deno.test("postgres: check's fingerprint sees a renamed collation or function that a table's definition names", async () => {
  await using app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "20260101000000_named.sql": `create collation named_coll from "C";
create function named_default() returns text language sql as $$ select 'x' $$;
create table named (
  id integer primary key,
  label text collate named_coll default named_default()
);
create index named_label on named (label text_pattern_ops);
`,
        },
      },
    },
  });
  await migrateCli(app, [app.dbs.main!.url]);
  const config = await app.config();
  await settle();
  for (
    const [rename, undo] of [
      [
        "alter collation named_coll rename to other_coll",
        "alter collation other_coll rename to named_coll",
      ],
      [
        "alter function named_default() rename to other_default",
        "alter function other_default() rename to named_default",
      ],
    ]
  ) {
    assertEquals(codes(await check(config)), [], "clean, and its hint saved");
    await app.dbs.main!.query(rename!);
    const drifted = await check(config);
    assert(codes(drifted).includes("SCHEMA_DRIFT"), `${rename}: ${codes(drifted).join()}`);
    await app.dbs.main!.query(undo!);
  }
  assertEquals(codes(await check(config)), []);
});
