/**
 * The release cycle an operator runs, end to end through the CLI: bundles
 * pending, start refused, update, start runs the app; an update whose
 * migration fails is restored; maintenance() over real HTTP.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestDb } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { pendingRelease, treeHash } from "./helpers/bundles.ts";
import { tempDir } from "./helpers/temp.ts";
import { maintenance, maintenanceOff, maintenanceOn } from "../mod.ts";

const V1 = {
  core: { "20260101000000_users.sql": "create table users (id integer primary key, name text);" },
  orders: {
    "20260101000000_orders.sql": "create table orders (id integer primary key, total integer);",
  },
};

const CONVERT = `export default {
  info: "settings: theme becomes an object",
  async up(ctx) {
    const settings = await ctx.files.readJson("config/settings.json");
    await ctx.files.writeJson("config/settings.json", { ...settings, theme: { name: settings.theme } });
    await ctx.sql.query("insert into orders (id, total) values (1, $1)", [11]);
  },
};
`;

function release(version: string, extra: Record<string, string>): Record<string, string> {
  const files: Record<string, string> = {
    "app/main.ts": `export const version = "${version}";\n`,
  };
  for (const [pkg, migrations] of Object.entries(V1)) {
    for (const [name, text] of Object.entries(migrations)) {
      files[`migrations/${pkg}/${name}`] = text;
    }
  }
  return { ...files, ...extra };
}

const R110 = {
  "migrations/core/20260201000000_email.sql": "alter table users add column email text;",
  "migrations/orders/20260201000000_settings.ts": CONVERT,
};
const R120 = {
  ...R110,
  "migrations/core/20260301000000_index.sql": "create index users_email on users (email);",
  "migrations/orders/20260301000000_paid.sql":
    "alter table orders add column paid integer default 0;",
};
const R130 = {
  ...R120,
  "migrations/core/20260401000000_more.sql":
    "alter table users add column active integer default 1;",
  "migrations/orders/20260401000000_broken.sql": "alter table no_such_table add column x integer;",
};

/**
 * Every table's rows, in order; the event log without `failed` events (a
 * failed update logs its failure: that line is history, not a change).
 */
async function dump(db: TestDb): Promise<string> {
  const out: string[] = [];
  for (const table of await db.tables()) {
    const where = table === "lockstep_events" ? " where kind <> 'failed'" : "";
    out.push(
      `${table}: ${JSON.stringify(await db.query(`select * from "${table}"${where} order by 1`))}`,
    );
  }
  return out.join("\n");
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: the release cycle: pending bundles refuse start, update brings code and both databases to 1.2.0`, async () => {
    await using app = await makeApp("sqlite", {
      databases: { main: "sqlite", clients: backend },
      packages: {
        core: { database: "main", files: V1.core },
        orders: { database: "clients", files: V1.orders },
      },
      files: {
        "app/main.ts": 'export const version = "1.0.0";\n',
        "config/settings.json": '{"theme":"dark"}\n',
      },
      extra: { protect: ["config/settings.json.local"] },
    });
    const postgres = Object.values(app.dbs).map((d) => d.url).filter((u) =>
      u.startsWith("postgres")
    );
    const flags = [...documentedFlags(app.dir, { postgres }), `--allow-run=${Deno.execPath()}`];
    const cli = (...args: string[]) =>
      runCli(flags, [...args, "--config", app.configPath], { cwd: app.dir });
    const appCommand = ["--", Deno.execPath(), "eval", "console.log('app running'); Deno.exit(7)"];

    assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
    assertEquals((await cli("check")).code, 0);
    await pendingRelease(app.dir, "1.1.0", release("1.1.0", R110));
    await pendingRelease(app.dir, "1.2.0", release("1.2.0", R120));
    assertEquals((await cli("check")).code, 3);

    const refused = await cli("start", ...appCommand);
    assertEquals(refused.code, 3, refused.stderr);
    assert(!refused.stdout.includes("app running"));
    assertMatch(refused.stderr, /not starting/);

    const updated = await cli("update", "--yes");
    assertEquals(updated.code, 0, updated.stdout + updated.stderr);
    for (const step of ["check", "backup", "maintenance", "install", "migrate"]) {
      assertMatch(updated.stdout, new RegExp(`^${step}: .*\\(\\d+\\.\\d s\\)$`, "m"));
    }
    assertEquals(await Deno.readTextFile(join(app.dir, "VERSION")), "1.2.0\n");
    assertEquals(
      JSON.parse(await Deno.readTextFile(join(app.dir, "config/settings.json"))),
      { theme: { name: "dark" } },
    );
    assertEquals((await app.dbs.main!.query("select id from lockstep_migrations")).length, 3);
    assertEquals((await app.dbs.clients!.query("select id from lockstep_migrations")).length, 3);
    assertEquals((await app.dbs.clients!.query("select total from orders")).length, 1);
    const checked = await cli("check", "--json");
    assertEquals(checked.code, 0, checked.stdout);
    const report = JSON.parse(checked.stdout);
    assertEquals(report.maintenance.on, false);
    assertMatch(report.latestBackup.id, /-before-update$/);

    const started = await cli("start", ...appCommand);
    assertEquals(started.code, 7, started.stderr);
    assertMatch(started.stdout, /app running/);

    // 1.3.0: its second migration fails. Everything goes back to 1.2.0.
    await pendingRelease(app.dir, "1.3.0", release("1.3.0", R130));
    const treeBefore = await treeHash(app.dir, ["updates", "data"]);
    const mainBefore = await dump(app.dbs.main!);
    const clientsBefore = await dump(app.dbs.clients!);
    const failed = await cli("update", "--yes", "--json");
    assertEquals(failed.code, 1, failed.stdout);
    const error = JSON.parse(failed.stdout).error;
    assertEquals(error.code, "UPDATE_FAILED");
    assertEquals(error.data.step, "migrate");
    assertEquals(error.data.restored, true);
    // Its migrations ran in one transaction per database and rolled back: no database restored.
    assertEquals(error.data.databases, []);
    assertEquals(await treeHash(app.dir, ["updates", "data"]), treeBefore);
    assertEquals(await dump(app.dbs.main!), mainBefore);
    assertEquals(await dump(app.dbs.clients!), clientsBefore);
    const status = JSON.parse((await cli("maintenance", "status", "--json")).stdout);
    assertEquals(status.on, true);
    assertMatch(status.message, /failed while it ran migrate/);
    // Nothing lost: the bundle is back in pending/, and check says why maintenance is on.
    const after = await cli("check", "--json");
    assertEquals(after.code, 3);
    const codes = JSON.parse(after.stdout).problems.map((p: { code: string }) => p.code);
    assert(codes.includes("MAINTENANCE_ON") && codes.includes("BUNDLES_PENDING"), codes.join());
    assertEquals((await cli("maintenance", "off")).code, 0);
  });
}

Deno.test("update with nothing to do exits 0 without a backup; start --ignore runs but never when blocked", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: V1.core } },
    files: { "app/main.ts": "x\n" },
  });
  const flags = [...documentedFlags(app.dir), `--allow-run=${Deno.execPath()}`];
  const cli = (...args: string[]) =>
    runCli(flags, [...args, "--config", app.configPath], { cwd: app.dir });
  const appCommand = ["--", Deno.execPath(), "eval", "console.log('app running')"];
  const ignored = await cli("start", "--ignore", ...appCommand);
  assertEquals(ignored.code, 0, ignored.stderr);
  assertMatch(ignored.stdout, /app running/);
  assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
  const nothing = await cli("update", "--yes");
  assertEquals(nothing.code, 0, nothing.stderr);
  assertMatch(nothing.stdout, /Nothing to update/);
  assert(!(await Deno.stat(join(app.dir, "updates/backups")).catch(() => undefined)));
  // Blocked: the database is ahead of the code.
  await app.dbs.main!.query(
    "insert into lockstep_migrations (id, package, checksum, applied_at, duration_ms, action) " +
      "values ('core/29990101000000_future', 'core', 'v1:x', '2026', 1, 'applied')",
  );
  const blocked = await cli("start", "--ignore", ...appCommand);
  assertEquals(blocked.code, 5);
  assert(!blocked.stdout.includes("app running"));
  const update = await cli("update", "--yes", "--json");
  assertEquals(JSON.parse(update.stdout).error.code, "UPDATE_BLOCKED");
});

Deno.test("maintenance(): 503 with Retry-After while on, the admin path passes only with the token", async () => {
  await using dir = await tempDir();
  const updates = join(dir.path, "updates");
  await Deno.mkdir(updates);
  const config = { updates };
  const handler = maintenance(() => new Response("hello"), {
    updates,
    adminPaths: ["/admin/**"],
    adminToken: "s3cret",
    retryAfterSeconds: 30,
    checkEveryMs: 0,
  });
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, { headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  };
  assertEquals((await get("/")).status, 200);
  await maintenanceOn(config, { message: "Back at <noon>" });
  const html = await get("/shop");
  assertEquals(html.status, 503);
  assertEquals(html.headers.get("retry-after"), "30");
  assertMatch(html.body, /Back at &#60;noon&#62;/);
  const json = await get("/api", { accept: "application/json" });
  assertEquals(json.status, 503);
  assertEquals(JSON.parse(json.body).message, "Back at <noon>");
  assertEquals((await get("/admin/panel")).status, 503);
  assertEquals((await get("/admin/panel", { authorization: "Bearer wrong!" })).status, 503);
  const admin = await get("/admin/panel", { authorization: "Bearer s3cret" });
  assertEquals(admin.status, 200);
  assertEquals(admin.body, "hello");
  assertEquals((await get("/shop", { "x-lockstep-token": "s3cret" })).status, 503);
  await maintenanceOff(config);
  assertEquals((await get("/shop")).status, 200);
});
