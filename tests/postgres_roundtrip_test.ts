/**
 * PostgreSQL backups that say they are valid restore: a database holding
 * every object kind of issue 11 (domains, functions, a procedure, an
 * aggregate, triggers, a partitioned table with its partitions, views, a
 * materialized view with an index) goes through `backup`, `backup verify
 * --restore` and `restore`, by pg_dump and by the built-in dump, and comes
 * back as `pg_dump -s` and every row said it was. What the built-in dump
 * cannot carry is refused by name, unless a partial backup is accepted.
 * Through the CLI, with the README's flags.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { serverUrl } from "./helpers/postgres.ts";
import { objectsOf, pgToolsEnv, psqlFile, schemaAndData, schemaOf } from "./helpers/pg_tools.ts";
import { listBackups } from "../mod.ts";
import postgres from "../lib/deps/postgres.ts";

const FIXTURE = new URL("./testdata/pg-objects/", import.meta.url);
const TOOLS = "--allow-run=pg_dump,pg_restore";

async function objectsApp(): Promise<TestApp> {
  const app = await makeApp("postgres", {
    packages: {
      core: {
        files: {
          "20260101000000_objects.sql": await Deno.readTextFile(new URL("objects.sql", FIXTURE)),
        },
      },
    },
    files: { "app/main.ts": "export const main = 1;\n" },
  });
  const migrated = await cli(app, ["migrate", "--yes", "--no-backup"]);
  assertEquals(migrated.code, 0, migrated.stderr);
  await psqlFile(app.dbs.main!.url, new URL("seed.sql", FIXTURE));
  return app;
}

async function cli(app: TestApp, args: string[], extra: string[] = []) {
  return runCli(
    [...documentedFlags(app.dir, { postgres: [app.dbs.main!.url] }), ...extra],
    [...args, "--config", app.configPath],
    { cwd: app.dir, env: await pgToolsEnv() },
  );
}

function snapshot(app: TestApp): Promise<string> {
  const db = app.dbs.main!;
  return schemaAndData((text) => db.query(text), db.url);
}

/** Changes the restore has to undo: rows, a partition, a function, a domain constraint. */
async function changeEverything(app: TestApp): Promise<void> {
  const db = app.dbs.main!;
  for (
    const statement of [
      "insert into customers (email) values ('c@x')",
      "insert into orders (customer_id, placed, total) values (3, '2025-06-01', 99)",
      "drop table orders_2026",
      "drop function price_with_tax(numeric) cascade",
      "alter domain email drop constraint email_has_at",
      "refresh materialized view customer_totals",
      "create table stray (id integer)",
    ]
  ) await db.query(statement);
}

async function scratchDatabases(): Promise<string[]> {
  const admin = postgres(await serverUrl(), { max: 1, onnotice: () => {} });
  try {
    const rows =
      await admin`select datname from pg_database where datname like 'lockstep_verify_%'`;
    return rows.map((r) => String(r.datname));
  } finally {
    await admin.end();
  }
}

for (const how of ["pg_dump", "the built-in dump"] as const) {
  Deno.test(`postgres: every object kind round-trips through ${how}: backup, verify --restore, restore`, async () => {
    await using app = await objectsApp();
    const extra = how === "pg_dump" ? [TOOLS] : [];
    const before = await snapshot(app);
    const objects = objectsOf(await schemaOf(app.dbs.main!.url));
    for (
      const kind of [
        "AGGREGATE",
        "DOMAIN",
        "FUNCTION",
        "PROCEDURE",
        "TRIGGER",
        "TABLE",
        "TABLE ATTACH",
        "VIEW",
        "MATERIALIZED VIEW",
        "INDEX",
      ]
    ) assert(objects.some((o) => o.startsWith(`${kind} `)), `the fixture has a ${kind}`);

    const made = await cli(app, ["backup", "--json"], extra);
    assertEquals(made.code, 0, made.stdout + made.stderr);
    const backup = JSON.parse(made.stdout);
    assertEquals(backup.databases[0].format, how === "pg_dump" ? "pg_dump" : "lockstep-sql");
    assertEquals([backup.partial, backup.databases[0].skipped], [false, []]);

    const verified = await cli(app, ["backup", "verify", backup.id, "--restore", "--json"], extra);
    assertEquals(verified.code, 0, verified.stdout + verified.stderr);
    assertEquals(JSON.parse(verified.stdout).restored, ["main"]);
    assertEquals(await scratchDatabases(), [], "the scratch database was dropped");

    await changeEverything(app);
    assert((await snapshot(app)) !== before);
    const restored = await cli(app, ["restore", backup.id, "--yes", "--no-backup"], extra);
    assertEquals(restored.code, 0, restored.stdout + restored.stderr);
    assertEquals(await snapshot(app), before);
    assertEquals(objectsOf(await schemaOf(app.dbs.main!.url)), objects);
    assertEquals((await cli(app, ["check"])).code, 0);
  });
}

Deno.test("postgres: the built-in dump refuses, naming each object it cannot carry, unless a partial backup is accepted", async () => {
  await using app = await objectsApp();
  const db = app.dbs.main!;
  await db.query("create statistics order_stats on customer_id, total from orders_2025");
  await db.query("create rule audit_keep as on delete to audit do instead nothing");
  const refused = await cli(app, ["backup", "--json"]);
  assertEquals(refused.code, 1);
  const error = JSON.parse(refused.stdout).error;
  assertEquals(error.code, "BACKUP_INCOMPLETE");
  assertEquals(error.data.objects, [
    "statistics public.order_stats",
    "rule audit_keep on public.audit",
  ]);
  assertMatch(error.message, /--allow-run=pg_dump/);
  assertEquals(await listBackups(await app.config()), [], "nothing was written");

  const partial = await cli(app, ["backup", "--allow-partial", "--json"]);
  assertEquals(partial.code, 0, partial.stderr);
  const made = JSON.parse(partial.stdout);
  assertEquals(made.partial, true);
  const listed = await cli(app, ["backups"]);
  assertMatch(listed.stdout, /PARTIAL: without main: statistics public\.order_stats/);
  const verified = await cli(app, ["backup", "verify", made.id, "--restore", "--json"]);
  assertEquals(verified.code, 0, verified.stdout);
  assertEquals(JSON.parse(verified.stdout).partial.length, 2);
  // pg_dump carries them: a complete backup, nothing refused.
  const full = await cli(app, ["backup", "--json"], [TOOLS]);
  assertEquals(full.code, 0, full.stderr);
  assertEquals(JSON.parse(full.stdout).partial, false);
});

Deno.test("postgres: backup verify --restore catches a dump that reads to its end but does not restore", async () => {
  await using app = await objectsApp();
  const made = JSON.parse((await cli(app, ["backup", "--db-only", "--json"])).stdout);
  const folder = `${app.dir}/updates/backups/${made.id}`;
  const artifact = `${folder}/${made.databases[0].artifact}`;
  const script = await new Response(
    (await Deno.open(artifact)).readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  // As a dump-writer bug would: a statement the server refuses, in a dump that is whole.
  const broken = script.replace("CREATE VIEW", "CREATE VIEW oops");
  assert(broken !== script);
  const bytes = new Uint8Array(
    await new Response(new Blob([broken]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  await Deno.writeFile(artifact, bytes);
  const manifest = JSON.parse(await Deno.readTextFile(`${folder}/backup.json`));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  manifest.databases[0].sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  manifest.databases[0].size = bytes.length;
  await Deno.writeTextFile(`${folder}/backup.json`, JSON.stringify(manifest));

  assertEquals((await cli(app, ["backup", "verify", made.id])).code, 0, "it hashes and reads");
  const trial = await cli(app, ["backup", "verify", made.id, "--restore", "--json"]);
  assertEquals(trial.code, 1);
  const result = JSON.parse(trial.stdout);
  assertEquals(result.restored, []);
  assertMatch(result.problems[0], /db-main\.sql\.gz: it does not restore/);
  assertEquals(await scratchDatabases(), [], "the scratch database was dropped");
});
