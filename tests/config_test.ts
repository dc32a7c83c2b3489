import { resolve } from "node:path";
import { assert, assertEquals, assertMatch, rejectsWith, throwsWith } from "./helpers/assert.ts";
import { tempDir } from "./helpers/temp.ts";
import { loadConfig, resolveConfig } from "../mod.ts";

const minimal = { app: "shop" };

Deno.test("resolveConfig() applies the documented defaults relative to the config folder", () => {
  const config = resolveConfig("/srv/shop/lockstep.json", JSON.stringify(minimal));
  assertEquals(config.root, "/srv/shop");
  assertEquals(config.versionFile, "/srv/shop/VERSION");
  assertEquals(config.updates, "/srv/shop/updates");
  assertEquals(config.pending, "/srv/shop/updates/pending");
  assertEquals(config.installed, "/srv/shop/updates/installed");
  assertEquals(config.backups, "/srv/shop/updates/backups");
  assertEquals(config.backup, { exclude: [], keep: 10 });
  assertEquals(config.trust, { keys: [], requireSignature: false });
  assertEquals(config.limits.entries, 100_000);
});

Deno.test("resolveConfig() resolves databases, packages and overrides", () => {
  const config = resolveConfig(
    "/srv/shop/lockstep.json",
    JSON.stringify({
      app: "shop",
      root: "app",
      versionFile: "RELEASE",
      pending: "/var/spool/shop",
      databases: {
        main: { url: "sqlite:data/shop.db" },
        clients: {
          url: "postgres://shop@127.0.0.1:5432/clients",
          passwordEnv: "CLIENTS_PGPASSWORD",
        },
      },
      packages: {
        core: { migrations: "migrations/core", database: "main" },
        orders: { migrations: "plugins/orders/migrations", database: "clients" },
      },
      trust: { keys: ["k1:AAAA"] },
    }),
    (name) => name === "CLIENTS_PGPASSWORD" ? "s3cret" : undefined,
  );
  assertEquals(config.root, "/srv/shop/app");
  assertEquals(config.versionFile, "/srv/shop/app/RELEASE");
  assertEquals(config.pending, "/var/spool/shop");
  assertEquals(config.databases.main?.path, "/srv/shop/data/shop.db");
  assertEquals(config.databases.clients?.password, "s3cret");
  assertEquals(config.databases.clients?.dialect, "postgres");
  assertEquals(config.packages.orders?.migrations, "/srv/shop/plugins/orders/migrations");
  assertEquals(Object.keys(config.packages), ["core", "orders"]);
  assertEquals(config.trust.requireSignature, true, "keys make signatures required by default");
});

Deno.test("resolveConfig() rejects an unknown key by name, with a hint", () => {
  const error = throwsWith(
    () => resolveConfig("/x/lockstep.json", JSON.stringify({ app: "a", databses: {} })),
    "CONFIG_INVALID",
  );
  assertMatch(error.message, /unknown key "databses".*did you mean "databases"/);
  const nested = throwsWith(
    () =>
      resolveConfig(
        "/x/lockstep.json",
        JSON.stringify({ app: "a", databases: { main: { url: "sqlite:a.db", pasword: "x" } } }),
      ),
    "CONFIG_INVALID",
  );
  assertMatch(nested.message, /"pasword" at "databases.main"/);
});

Deno.test("resolveConfig() refuses bad values with the key's name", () => {
  const cases: [unknown, RegExp][] = [
    ["not json", /not valid JSON/],
    [[], /top level must be an object/],
    [{}, /"app" must be a non-empty string/],
    [{ app: "a b" }, /"app" must be letters/],
    [{ app: "a", databases: { main: { url: "mysql://x" } } }, /must start with "sqlite:"/],
    [{ app: "a", packages: { core: { migrations: "m", database: "nope" } } }, /names "nope"/],
    [{ app: "a", backup: { keep: 0 } }, /"backup.keep" must be a whole number/],
    [{ app: "a", protect: "data/**" }, /"protect" must be a list/],
    [
      { app: "a", trust: { requireSignature: "yes" } },
      /"trust.requireSignature" must be true or false/,
    ],
    [{ app: "a", databases: { main: { url: "sqlite:" } } }, /names no file/],
    [
      { app: "a", databases: { main: { url: "sqlite:a.db", passwordEnv: "X" } } },
      /PostgreSQL only/,
    ],
  ];
  for (const [value, pattern] of cases) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    assertMatch(
      throwsWith(() => resolveConfig("/x/lockstep.json", text), "CONFIG_INVALID").message,
      pattern,
    );
  }
});

Deno.test("resolveConfig() refuses a password in the URL and never echoes it", () => {
  const error = throwsWith(
    () =>
      resolveConfig(
        "/x/lockstep.json",
        JSON.stringify({ app: "a", databases: { db: { url: "postgres://u:hunter2@h/d" } } }),
      ),
    "CONFIG_INVALID",
  );
  assertMatch(error.message, /passwordEnv/);
  assert(!error.message.includes("hunter2"));
  const bad = throwsWith(
    () =>
      resolveConfig(
        "/x/lockstep.json",
        JSON.stringify({ app: "a", databases: { db: { url: "ftp://u:hunter2@h/d" } } }),
      ),
    "CONFIG_INVALID",
  );
  assert(!bad.message.includes("hunter2"));
});

Deno.test("loadConfig() says where it looked when there is no file", async () => {
  await using dir = await tempDir();
  const error = await rejectsWith(loadConfig(`${dir.path}/lockstep.json`), "CONFIG_NOT_FOUND");
  assertEquals(error.data.file, resolve(dir.path, "lockstep.json"));
});
