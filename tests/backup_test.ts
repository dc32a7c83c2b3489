/**
 * Backups and restores on real files, real SQLite databases and a real
 * PostgreSQL server, mostly through the CLI with the README's flags.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { type Backend, BACKENDS, makeApp, type TestApp, type TestDb } from "./helpers/app.ts";
import { documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";
import { treeHash } from "./helpers/bundles.ts";
import { tempDir } from "./helpers/temp.ts";
import { backup, listBackups, pruneBackups, restore, verifyBackup } from "../mod.ts";

const MIGRATION = {
  sqlite: `create table items (id integer primary key, name text not null unique, price real);
create index items_price on items (price);
create table tags (item_id integer references items (id), tag text);
create view cheap as select name from items where price < 5;`,
  postgres: `create type mood as enum ('ok', 'meh');
create table items (id serial primary key, name text not null unique, price numeric(8,2) default 1.5,
  mood mood, made timestamptz, doubled numeric generated always as (price * 2) stored);
create index items_price on items (price);
create table tags (id bigint generated always as identity primary key,
  item_id integer references items (id) on delete cascade, tag text check (tag <> ''));
create sequence counter start 7;
create view cheap as select name from items where price < 5;`,
};

const SEED = {
  sqlite: `insert into items (name, price) values ('a', 1), ('b', 2.5), ('c', 10);
insert into tags values (1, 'x'), (2, 'y');`,
  postgres:
    `insert into items (name, price, mood, made) values ('a', 1, 'ok', '2026-01-01T00:00:00Z'),
  ('b', 2.5, null, null), ('c', 10, 'meh', now()), ('tab\there', 3, 'ok', null), ('line\nbreak', null, null, null);
insert into tags (item_id, tag) values (1, 'x'), (2, 'y');
select nextval('counter');`,
};

async function appWithData(backend: Backend): Promise<TestApp> {
  const app = await makeApp(backend, {
    packages: { core: { files: { "20260101000000_items.sql": MIGRATION[backend] } } },
    files: {
      "app/main.ts": "export const main = 1;\n",
      "app/lib/util.ts": "export const util = 1;\n",
      "config/settings.json": '{"theme":"light"}\n',
      "config/local.json": '{"secret":"s"}\n',
      "logs/today.log": "log line\n",
    },
    extra: { protect: ["config/local.json"], backup: { exclude: ["*.log"] } },
  });
  try {
    const migrated = await cli(app, ["migrate", "--yes", "--no-backup"]);
    assertEquals(migrated.code, 0, migrated.stderr);
    await exec(app.dbs.main!, SEED[backend]);
    return app;
  } catch (error) {
    // Removed even when the setup fails: the caller's `await using` never got it.
    await app[Symbol.asyncDispose]();
    throw error;
  }
}

async function exec(db: TestDb, script: string): Promise<void> {
  for (const statement of script.split(";\n").map((s) => s.trim()).filter(Boolean)) {
    await db.query(statement.replace(/;$/, ""));
  }
}

function flagsFor(app: TestApp, extra: string[] = []): string[] {
  const urls = Object.values(app.dbs).map((db) => db.url).filter((u) => u.startsWith("postgres"));
  return [...documentedFlags(app.dir, { postgres: urls }), ...extra];
}

function cli(app: TestApp, args: string[], extra: string[] = [], env?: Record<string, string>) {
  return runCli(flagsFor(app, extra), [...args, "--config", app.configPath], {
    cwd: app.dir,
    ...(env ? { env } : {}),
  });
}

/** Every table's rows in a fixed order, plus the schema, as comparable text. */
async function dumpDb(db: TestDb): Promise<string> {
  const out: string[] = [];
  const isPg = db.url.startsWith("postgres");
  if (isPg) {
    out.push(JSON.stringify(
      await db.query(
        `select table_name, column_name, data_type, column_default, is_nullable
           from information_schema.columns where table_schema = 'public' order by 1, 2`,
      ),
    ));
    out.push(JSON.stringify(
      await db.query(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' order by 1",
      ),
    ));
    out.push(JSON.stringify(
      await db.query(
        "select conname, pg_get_constraintdef(oid) as def from pg_constraint where connamespace = 'public'::regnamespace order by 1",
      ),
    ));
  } else {
    out.push(
      JSON.stringify(await db.query("select type, name, sql from sqlite_schema order by name")),
    );
  }
  for (const table of await db.tables()) {
    const rows = await db.query(`select * from "${table}" order by 1, 2`);
    out.push(`${table}: ${JSON.stringify(rows, (_k, v) => typeof v === "bigint" ? String(v) : v)}`);
  }
  return out.join("\n");
}

function files(hashes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(hashes).filter(([path]) => !path.endsWith("/")));
}

async function onlyBackup(app: TestApp): Promise<string> {
  const list = await listBackups(await app.config());
  assertEquals(list.length, 1);
  return list[0]!.id;
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: backup, change files and database, restore: both as they were`, async () => {
    await using app = await appWithData(backend);
    const made = await cli(app, ["backup", "--label", "before", "--json"]);
    assertEquals(made.code, 0, made.stdout + made.stderr);
    const result = JSON.parse(made.stdout);
    assertMatch(result.id, /^\d{8}T\d{6}Z-before$/);
    const skip = ["updates", "data"];
    const treeBefore = files(await treeHash(app.dir, skip));
    const dbBefore = await dumpDb(app.dbs.main!);

    // Owner-only artifacts in an owner-only folder.
    assertEquals((await Deno.stat(result.path)).mode! & 0o777, 0o700);
    for await (const entry of Deno.readDir(result.path)) {
      assertEquals(
        (await Deno.stat(join(result.path, entry.name))).mode! & 0o777,
        0o600,
        entry.name,
      );
    }
    // The excluded log is not in files.zip; the protected file is.
    assertEquals(result.files.count, 7);

    await app.write("app/main.ts", "export const main = 2;\n");
    await app.write("app/new.ts", "export const added = true;\n");
    await app.remove("app/lib/util.ts");
    await Deno.chmod(join(app.dir, "config/settings.json"), 0o600);
    await app.write("config/local.json", '{"secret":"changed"}\n');
    await app.write("VERSION", "9.9.9\n");
    await exec(
      app.dbs.main!,
      backend === "postgres"
        ? `insert into items (name, price) values ('d', 4);
update items set price = 99 where name = 'a';
delete from tags where tag = 'y';
create table extra (x int);
alter table items add column sneaky int;
select setval('counter', 100);`
        : `insert into items (name, price) values ('d', 4);
update items set price = 99 where name = 'a';
delete from tags where tag = 'y';
create table extra (x int);
alter table items add column sneaky int;`,
    );
    const treeChanged = files(await treeHash(app.dir, skip));
    assert(JSON.stringify(treeChanged) !== JSON.stringify(treeBefore));

    const restored = await cli(app, ["restore", result.id, "--yes"]);
    assertEquals(restored.code, 0, restored.stderr);
    assertEquals(files(await treeHash(app.dir, skip)), treeBefore);
    assertEquals(await dumpDb(app.dbs.main!), dbBefore);
    // The log file was never in the backup and is left alone.
    assertEquals(await Deno.readTextFile(join(app.dir, "logs/today.log")), "log line\n");
    if (backend === "postgres") {
      const [row] = await app.dbs.main!.query("select nextval('counter') as n");
      assertEquals(Number(row!.n), 8);
      const [item] = await app.dbs.main!.query(
        "insert into items (name) values ('after') returning id",
      );
      assertEquals(Number(item!.id), 6);
    }
    const check = await cli(app, ["check"]);
    assertEquals(check.code, 0, check.stdout + check.stderr);
  });

  Deno.test(`${backend}: a corrupted artifact is caught by verify and refused by restore`, async () => {
    await using app = await appWithData(backend);
    assertEquals((await cli(app, ["backup"])).code, 0);
    const id = await onlyBackup(app);
    const verified = await cli(app, ["backup", "verify", id]);
    assertEquals(verified.code, 0, verified.stdout + verified.stderr);
    const config = await app.config();
    const manifest = JSON.parse(
      await Deno.readTextFile(join(config.backups, id, "backup.json")),
    );
    for (const artifact of ["files.zip", manifest.databases[0].artifact]) {
      const path = join(config.backups, id, artifact);
      const bytes = await Deno.readFile(path);
      const copy = bytes.slice();
      copy[Math.floor(bytes.length / 2)]! ^= 0x01;
      await Deno.writeFile(path, copy);
      const bad = await cli(app, ["backup", "verify", id, "--json"]);
      assertEquals(bad.code, 1);
      assertMatch(
        JSON.parse(bad.stdout).problems.join("\n"),
        new RegExp(artifact.replace(".", "\\.")),
      );
      await app.write("app/main.ts", "changed\n");
      const before = await treeHash(app.dir, ["updates"]);
      const refused = await cli(app, ["restore", id, "--yes", "--json"]);
      assertEquals(refused.code, 1);
      assertEquals(JSON.parse(refused.stdout).error.code, "BACKUP_INVALID");
      assertEquals(await treeHash(app.dir, ["updates"]), before);
      await Deno.writeFile(path, bytes);
    }
    const listed = await cli(app, ["backups", "--json"]);
    assertEquals(JSON.parse(listed.stdout).backups[0].valid, true);
  });
}

Deno.test("postgres: pg_dump -Fc when --allow-run=pg_dump is granted, restored through pg_restore", async () => {
  await using app = await appWithData("postgres");
  const made = await cli(app, ["backup", "--json"], ["--allow-run=pg_dump"]);
  assertEquals(made.code, 0, made.stdout + made.stderr);
  const result = JSON.parse(made.stdout);
  assertEquals(result.databases[0].format, "pg_dump");
  assertMatch(result.databases[0].artifact, /\.pgdump$/);
  const before = await dumpDb(app.dbs.main!);
  await exec(app.dbs.main!, "delete from tags;\ndrop view cheap;\ncreate table extra (x int);");

  const refused = await cli(app, ["restore", result.id, "--yes", "--json"]);
  assertEquals(refused.code, 1);
  assertEquals(JSON.parse(refused.stdout).error.code, "PERMISSION_DENIED");
  assertMatch(JSON.parse(refused.stdout).error.message, /--allow-run=pg_restore/);

  const restored = await cli(app, ["restore", result.id, "--yes"], ["--allow-run=pg_restore"]);
  assertEquals(restored.code, 0, restored.stderr);
  assertEquals(await dumpDb(app.dbs.main!), before);
});

Deno.test("postgres: the built-in dump goes on after tables larger than the COPY stream's buffer", async () => {
  await using app = await makeApp("postgres", { packages: { core: {} } });
  for (let i = 0; i < 8; i++) {
    await app.dbs.main!.query(
      `create table big_${i} as select g as id, repeat(md5(g::text), 12) as body
         from generate_series(1, 2000) g`,
    );
  }
  // postgres.js once left the connection paused when a copy ended under
  // backpressure: the next query never returned. Fail instead of hanging.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the built-in dump hung")), 60_000);
  });
  try {
    const made = await Promise.race([
      backup(await app.config(), { dbOnly: true, pgDump: false }),
      deadline,
    ]);
    assertEquals(made.databases[0]!.format, "lockstep-sql");
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("postgres: the built-in dump names what it cannot carry; a failed restore changes nothing", async () => {
  await using app = await appWithData("postgres");
  // Functions are carried now (issue 11); extended statistics are not.
  await app.dbs.main!.query("create statistics items_stats on name, price from items");
  const config = await app.config();
  const refused = await rejectsWith(
    backup(config, { dbOnly: true, pgDump: false }),
    "BACKUP_INCOMPLETE",
  );
  assertEquals(refused.data.objects, ["statistics public.items_stats"]);
  const made = await backup(config, { dbOnly: true, pgDump: false, partial: true });
  assertEquals(made.files, null);
  assertEquals(made.databases[0]!.format, "lockstep-sql");
  assertEquals(made.databases[0]!.skipped, ["statistics public.items_stats"]);
  // A dump whose script fails half way: the transaction leaves the database as it was.
  await exec(app.dbs.main!, "insert into items (name) values ('kept')");
  const before = await dumpDb(app.dbs.main!);
  const artifact = join(made.path, made.databases[0]!.artifact);
  const script = await new Response(
    (await Deno.open(artifact)).readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  const broken = script.replace(
    'CREATE TABLE "public"."tags" (',
    'CREATE TABLE "public"."tags" oops (',
  );
  assert(broken !== script);
  const bytes = new Uint8Array(
    await new Response(
      new Blob([broken]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const { restorePostgres } = await import("../lib/sql/postgres/restore.ts");
  await Deno.writeFile(artifact, bytes);
  await rejectsWith(
    restorePostgres(config.databases.main!, artifact, "lockstep-sql"),
    "BACKUP_INVALID",
  );
  assertEquals(await dumpDb(app.dbs.main!), before);
});

Deno.test("sqlite: a backup taken while another process keeps inserting is consistent", async () => {
  await using app = await appWithData("sqlite");
  const dbPath = join(app.dir, "data/main.db");
  const setup = new DatabaseSync(dbPath);
  setup.exec("create table ticks (n integer primary key, pad text)");
  setup.close();
  const writer = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
       const db = new DatabaseSync(${JSON.stringify(dbPath)});
       db.exec("pragma busy_timeout = 5000");
       const insert = db.prepare("insert into ticks (pad) values (?)");
       for (let i = 0; ; i++) { insert.run("x".repeat(2000)); if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1)); }`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 400));
    const config = await app.config();
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await backup(config, { dbOnly: true }));
    for (const m of made) {
      const copy = new DatabaseSync(join(m.path, m.databases[0]!.artifact), { readOnly: true });
      assertEquals(copy.prepare("pragma integrity_check").get()!.integrity_check, "ok");
      const row = copy.prepare("select count(*) as c, max(n) as m from ticks").get()!;
      // Consistent: every row from 1 to max is there (one snapshot, no torn pages).
      assertEquals(row.c, row.m ?? 0);
      copy.close();
    }
    const counts = made.map((m) => {
      const copy = new DatabaseSync(join(m.path, m.databases[0]!.artifact), { readOnly: true });
      const c = Number(copy.prepare("select count(*) as c from ticks").get()!.c);
      copy.close();
      return c;
    });
    assert(counts[2]! > counts[0]!, `the writer kept writing: ${counts}`);
  } finally {
    writer.kill("SIGKILL");
    await writer.status;
    await writer.stderr.cancel();
  }
});

Deno.test("a backup killed part way leaves nothing that looks valid; the next one cleans up", async () => {
  await using app = await appWithData("sqlite");
  // Enough data that the backup is still running when it is killed.
  const big = new Uint8Array(8 * 1024 * 1024);
  for (let i = 0; i < 12; i++) {
    crypto.getRandomValues(big.subarray(0, 65536));
    await Deno.writeFile(join(app.dir, `app/blob${i}.bin`), big);
  }
  const config = await app.config();
  for (const delay of [150, 400, 800]) {
    const child = spawnCli(flagsFor(app), ["backup", "--config", app.configPath], { cwd: app.dir });
    await new Promise((r) => setTimeout(r, delay));
    try {
      child.kill("SIGKILL");
    } catch {
      // It finished first (a fast machine): the loop below checks that backup is valid.
    }
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
    for (const b of await listBackups(config)) {
      // Either it finished before the kill, or it is not listed at all.
      assert(b.valid, `${b.id}: ${b.problem}`);
      assertEquals((await verifyBackup(config, b.id)).ok, true);
    }
  }
  const next = await cli(app, ["backup", "--json"]);
  assertEquals(next.code, 0, next.stderr);
  const leftovers = Array.from(Deno.readDirSync(config.backups)).filter((e) =>
    e.name.startsWith(".")
  );
  assertEquals(leftovers, []);
});

Deno.test("a restore killed part way: recover returns to the state before it (files), or finishes it (databases)", async () => {
  await using app = await appWithData("sqlite");
  assertEquals((await cli(app, ["backup"])).code, 0);
  const id = await onlyBackup(app);
  const snapshotTree = files(await treeHash(app.dir, ["updates", "data"]));
  const snapshotDb = await dumpDb(app.dbs.main!);
  await app.write("app/main.ts", "v2\n");
  await app.write("app/lib/util.ts", "v2\n");
  await app.write("app/added.ts", "v2\n");
  await exec(app.dbs.main!, "insert into items (name) values ('v2')");
  const changedTree = files(await treeHash(app.dir, ["updates", "data"]));
  const changedDb = await dumpDb(app.dbs.main!);

  for (const step of ["journaled", "aside:1", "moved:1", "aside:2", "deleted"]) {
    const killed = await cli(app, ["restore", id, "--yes"], ["--allow-env=LOCKSTEP_FAULT"], {
      LOCKSTEP_FAULT: step,
    });
    assertEquals(killed.code, 137, `${step}: ${killed.stderr}`);
    const blocked = await cli(app, ["migrate", "--yes", "--json"]);
    assertEquals(JSON.parse(blocked.stdout).error.code, "JOURNAL_OPEN");
    const recovered = await cli(app, ["recover"]);
    assertEquals(recovered.code, 0, recovered.stderr);
    assertEquals(files(await treeHash(app.dir, ["updates", "data"])), changedTree, step);
    assertEquals(await dumpDb(app.dbs.main!), changedDb, step);
  }
  // Killed after the files committed (state written, database not yet): recover finishes it.
  const killed = await cli(app, ["restore", id, "--yes"], ["--allow-env=LOCKSTEP_FAULT"], {
    LOCKSTEP_FAULT: "state",
  });
  assertEquals(killed.code, 137);
  assertEquals(await dumpDb(app.dbs.main!), changedDb);
  const recovered = await cli(app, ["recover"]);
  assertEquals(recovered.code, 0, recovered.stderr);
  assertEquals(files(await treeHash(app.dir, ["updates", "data"])), snapshotTree);
  assertEquals(await dumpDb(app.dbs.main!), snapshotDb);
});

Deno.test("disk full during a backup: a clear error, the partial backup removed, the app untouched", async () => {
  if (Deno.uid() !== 0) return;
  await using app = await appWithData("sqlite");
  await using mount = await tempDir();
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.path],
  }).output();
  assert(mounted.success);
  try {
    const noise = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < noise.length; i += 65536) {
      crypto.getRandomValues(noise.subarray(i, i + 65536));
    }
    await Deno.writeFile(join(app.dir, "app/noise.bin"), noise);
    const config = JSON.parse(await Deno.readTextFile(app.configPath));
    config.backups = mount.path;
    await Deno.writeTextFile(app.configPath, JSON.stringify(config));
    const before = await treeHash(app.dir, ["updates"]);
    const result = await cli(app, ["backup", "--json"], [
      `--allow-read=${mount.path}`,
      `--allow-write=${mount.path}`,
    ]);
    assertEquals(result.code, 1, result.stdout);
    assertEquals(JSON.parse(result.stdout).error.code, "DISK_FULL", result.stdout);
    assertEquals(Array.from(Deno.readDirSync(mount.path)), []);
    assertEquals(await treeHash(app.dir, ["updates"]), before);
  } finally {
    await new Deno.Command("umount", { args: [mount.path] }).output();
  }
});

Deno.test("restore refuses a backup made for another app, and an unknown id", async () => {
  await using app = await appWithData("sqlite");
  const config = await app.config();
  const made = await backup(config);
  const path = join(made.path, "backup.json");
  const manifest = JSON.parse(await Deno.readTextFile(path));
  await Deno.writeTextFile(path, JSON.stringify({ ...manifest, app: "other" }));
  await rejectsWith(restore(config, made.id), "BACKUP_WRONG_APP");
  await rejectsWith(restore(config, "20990101T000000Z"), "BACKUP_NOT_FOUND");
  await rejectsWith(restore(config, "../../etc"), "BACKUP_NOT_FOUND");
  const refused = await cli(app, ["restore", made.id, "--yes", "--json"]);
  assertEquals(JSON.parse(refused.stdout).error.code, "BACKUP_WRONG_APP");
});

Deno.test("prune keeps the newest backup.keep valid backups and never the only valid one", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: {} },
    files: { "app/a.ts": "a\n" },
    extra: { backup: { keep: 2 } },
  });
  const config = await app.config();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await backup(config, { filesOnly: true })).id);
  const pruned = await pruneBackups(config);
  assertEquals([...pruned.removed].sort(), ids.slice(0, 2).sort());
  assertEquals((await listBackups(config)).map((b) => b.id), ids.slice(2).reverse());
  // Break the newer of the two: the only valid backup left stays.
  await Deno.remove(join(config.backups, ids[3]!, "files.zip"));
  const again = await pruneBackups(config);
  assertEquals(again.removed, []);
  assertEquals((await listBackups(config)).map((b) => [b.id, b.valid]), [[ids[3], false], [
    ids[2],
    true,
  ]]);
});

Deno.test("install and migrate take a backup first unless --no-backup", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_a.sql": "create table a (x int);" } } },
    files: { "app/a.ts": "a\n" },
  });
  const config = await app.config();
  assertEquals((await cli(app, ["migrate", "--yes"])).code, 0);
  const list = await listBackups(config);
  assertEquals(list.length, 1);
  assertMatch(list[0]!.id, /-before-migrate$/);
  assertEquals(list[0]!.manifest!.databases[0]!.ledger, null);
  // Nothing to do: no backup.
  assertEquals((await cli(app, ["migrate", "--yes"])).code, 0);
  assertEquals((await listBackups(config)).length, 1);
  await app.write("migrations/core/20260102000000_b.sql", "create table b (x int);");
  assertEquals((await cli(app, ["migrate", "--yes", "--no-backup"])).code, 0);
  assertEquals((await listBackups(config)).length, 1);
});

for (const backend of BACKENDS) {
  Deno.test(`a backup of the databases only restores them and leaves the files alone (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: {
        core: {
          files: {
            "20260101000000_notes.sql": "create table notes (id integer primary key, body text);\n",
          },
        },
      },
      files: { "app/main.ts": "export {};\n" },
    });
    const flags = documentedFlags(app.dir, {
      write: true,
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    const run = (args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
    assertEquals((await run(["migrate", "--yes", "--no-backup"])).code, 0);
    await app.dbs.main!.query("insert into notes (id, body) values (1, 'kept')");
    const made = await backup(await app.config(), { dbOnly: true, pgDump: false });
    await app.dbs.main!.query("insert into notes (id, body) values (2, 'after the backup')");
    await app.write("app/main.ts", "export const changed = true;\n");
    const restored = await run(["restore", made.id, "--yes", "--no-backup"]);
    assertEquals(restored.code, 0, restored.stdout + restored.stderr);
    const rows = await app.dbs.main!.query("select id, body from notes order by id");
    assertEquals(rows.map((r) => [Number(r.id), r.body]), [[1, "kept"]]);
    assertEquals(
      await Deno.readTextFile(join(app.dir, "app/main.ts")),
      "export const changed = true;\n",
    );
  });
}
