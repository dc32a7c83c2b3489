/**
 * The change policy as a library caller meets it: `migrate()`, `install()`,
 * `restore()` and `update()` from mod.ts back up first and turn maintenance
 * on while they change things, exactly as the CLI does, unless the caller
 * opts out; and maintenance is never left on by a run that changed nothing.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { fileEntry, treeHash, writeBundle } from "./helpers/bundles.ts";
import {
  backup,
  check,
  install,
  listBackups,
  maintenanceOn,
  maintenanceStatus,
  migrate,
  restore,
  update,
} from "../mod.ts";

const USERS = "create table users (id integer primary key, name text);\n";
const NOTES = "create table notes (id integer primary key, body text);\n";

/** Reads the maintenance flag synchronously, as a progress callback can. */
function maintenanceFlag(app: TestApp): string | null {
  try {
    return JSON.parse(Deno.readTextFileSync(join(app.dir, "updates/maintenance.json"))).by;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

for (const backend of BACKENDS) {
  Deno.test(`migrate() from mod.ts backs up first and runs in maintenance, like the CLI (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: { "20260101000000_users.sql": USERS } } },
    });
    const config = await app.config();
    const seen: (string | null)[] = [];
    const result = await migrate(config, {
      onProgress: (event) => {
        if (event.type === "start") seen.push(maintenanceFlag(app));
      },
    });
    assertEquals(result.applied, ["core/20260101000000_users"]);
    assertEquals(seen, ["migrate"], "maintenance was on while the migration ran");
    assertEquals((await maintenanceStatus(config)).on, false, "and off again after success");
    const backups = await listBackups(config);
    assertEquals(backups.map((b) => b.label), ["before-migrate"]);
    assertEquals(result.backup, backups[0]!.id);
  });
}

Deno.test("migrate() opts out of the backup and maintenance explicitly", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const config = await app.config();
  const seen: (string | null)[] = [];
  const result = await migrate(config, {
    backup: false,
    maintenance: false,
    onProgress: (event) => {
      if (event.type === "start") seen.push(maintenanceFlag(app));
    },
  });
  assertEquals(result.applied.length, 1);
  assertEquals(result.backup, null);
  assertEquals(seen, [null]);
  assertEquals(await listBackups(config), []);
});

Deno.test("install() from mod.ts backs up first and installs in maintenance; opting out takes neither", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: { "app/main.ts": "1\n" } });
  const config = await app.config();
  await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
  await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0.zip"), {
    version: "1.1.0",
    files: { "app/main.ts": "2\n" },
  });
  const seen: (string | null)[] = [];
  const result = await install(config, {
    onProgress: (event) => {
      if (event.step === "moved") seen.push(maintenanceFlag(app));
    },
  });
  assertEquals(result.installed.map((b) => b.version), ["1.1.0"]);
  assert(seen.length > 0 && seen.every((by) => by === "install"), seen.join());
  assertEquals((await maintenanceStatus(config)).on, false);
  assertEquals((await listBackups(config)).map((b) => b.label), ["before-install"]);

  await writeBundle(join(app.dir, "updates/pending/testapp-1.2.0.zip"), {
    version: "1.2.0",
    files: { "app/main.ts": "3\n" },
  });
  const quiet: (string | null)[] = [];
  const plain = await install(config, {
    backup: false,
    maintenance: false,
    onProgress: (event) => {
      if (event.step === "moved") quiet.push(maintenanceFlag(app));
    },
  });
  assertEquals(plain.installed.map((b) => b.version), ["1.2.0"]);
  assertEquals(plain.backup, null);
  assert(quiet.every((by) => by === null));
  assertEquals((await listBackups(config)).length, 1);
});

Deno.test("a bundle refused in the preflight changes nothing: no backup, maintenance never on; check then calls it invalid", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: { "app/main.ts": "1\n" } });
  const config = await app.config();
  await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
  // The manifest's hash is not the file's: found only when the entry is read whole.
  await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0.zip"), {
    version: "1.1.0",
    files: { "app/main.ts": "2\n" },
    manifest: { files: { "app/main.ts": { ...fileEntry("9\n") } } },
  });
  const before = await treeHash(app.dir, ["updates"]);
  assertEquals((await check(config)).exitCode, 3, "check reads only the central directory");
  const result = await install(config);
  assertEquals(result.refused.map((r) => r.code), ["BUNDLE_CONTENT_MISMATCH"]);
  assertEquals(result.installed, []);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
  assertEquals(await listBackups(config), [], "no backup: the preflight refused first");
  assertEquals((await maintenanceStatus(config)).on, false);

  // Once read whole and refused, check reports it as invalid, not pending: start may run.
  const report = await check(config);
  assertEquals(report.exitCode, 0);
  assertEquals(report.bundles[0]!.problem?.code, "BUNDLE_CONTENT_MISMATCH");
  const nothing = await update(config);
  assertEquals(nothing.changed, false);
  assertEquals((await maintenanceStatus(config)).on, false);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
});

Deno.test("a lock timeout changes nothing: maintenance goes off again", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const config = await app.config();
  // Another process holds SQLite's write lock for the whole run.
  await Deno.mkdir(join(app.dir, "data"), { recursive: true });
  const holder = new DatabaseSync(join(app.dir, "data/main.db"));
  holder.exec("begin immediate");
  try {
    await rejectsWith(migrate(config, { lockTimeoutMs: 200, backup: false }), "LOCK_HELD");
    assertEquals((await maintenanceStatus(config)).on, false);
  } finally {
    holder.exec("rollback");
    holder.close();
  }
});

Deno.test("a failed preflight changes nothing: no backup, maintenance never on", async () => {
  await using app = await makeApp("sqlite", {
    packages: {
      core: {
        files: {
          "20260101000000_users.sql": USERS,
          "20260201000000_notes.sql":
            `-- lockstep:depends-on other/20260101000000_missing\n${NOTES}`,
        },
      },
    },
  });
  const config = await app.config();
  await rejectsWith(migrate(config), "MIGRATION_UNKNOWN_DEPENDENCY");
  assertEquals(await listBackups(config), []);
  assertEquals((await maintenanceStatus(config)).on, false);
});

Deno.test("a migration that fails before any commit changes nothing: maintenance goes off; after a commit it stays on with the reason", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_broken.sql": "create table broken (;\n" } } },
  });
  const config = await app.config();
  await rejectsWith(migrate(config, { backup: false }), "MIGRATION_FAILED");
  assertEquals((await maintenanceStatus(config)).on, false);

  await app.write("migrations/core/20260101000000_broken.sql", USERS);
  await app.write("migrations/core/20260201000000_broken.sql", "create table broken (;\n");
  // One transaction for the whole run (the default): the first migration rolls back too.
  const whole = await rejectsWith(migrate(config, { backup: false }), "MIGRATION_FAILED");
  assertEquals(whole.data.applied, []);
  assertEquals((await maintenanceStatus(config)).on, false);
  await rejectsWith(
    migrate(config, { backup: false, transaction: "per-migration" }),
    "MIGRATION_FAILED",
  );
  const state = await maintenanceStatus(config);
  assertEquals(state.on, true);
  assertEquals(state.by, "migrate");
  assertMatch(state.message ?? "", /migrate failed: .*20260201000000_broken/);
});

Deno.test("maintenance the operator turned on stays on after a guarded run", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const config = await app.config();
  await maintenanceOn(config, { message: "Planned work" });
  await migrate(config, { backup: false });
  const state = await maintenanceStatus(config);
  assertEquals([state.on, state.by, state.message], [true, "operator", "Planned work"]);
});

Deno.test("restore() backs the present up first (before-restore), and asks before staging anything", async () => {
  await using app = await makeApp("sqlite", {
    packages: {},
    files: { "app/main.ts": "1\n" },
  });
  const config = await app.config();
  const made = await backup(config);
  await app.write("app/main.ts", "2\n");
  const before = await treeHash(app.dir, ["updates"]);
  const declined = await restore(config, made.id, { confirm: () => Promise.resolve(false) });
  assertEquals(declined.confirmed, false);
  assertEquals(declined.writes, ["app/main.ts"]);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
  assertEquals((await listBackups(config)).length, 1, "declined: no backup of the present");
  assert(
    !(await Deno.lstat(join(app.dir, "updates/.lockstep/journal")).then(() => true, () => false)),
    "declined: no journal left behind",
  );
  const done = await restore(config, made.id);
  assertEquals(await Deno.readTextFile(join(app.dir, "app/main.ts")), "1\n");
  const labels = (await listBackups(config)).map((b) => b.label);
  assertEquals(labels, ["before-restore", null]);
  assertEquals(done.backup, (await listBackups(config))[0]!.id);
});

Deno.test("update() reports each of its steps, policy steps included", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const config = await app.config();
  const result = await update(config);
  assertEquals(result.steps.map((s) => s.step), ["check", "backup", "maintenance", "migrate"]);
  assertEquals(result.applied, ["core/20260101000000_users"]);
  assertEquals((await maintenanceStatus(config)).on, false);
});
