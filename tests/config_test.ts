import { resolve } from "node:path";
import { assert, assertEquals, assertMatch, rejectsWith, throwsWith } from "./helpers/assert.ts";
import { tempDir } from "./helpers/temp.ts";
import { makeApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import { documentedFlags, runCli, runDeno } from "./helpers/cli.ts";
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
      trust: { keys: ["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] },
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

const KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; // 32 bytes

Deno.test("resolveConfig() refuses a malformed trust.keys entry, naming it, instead of failing every signed bundle later", () => {
  const cases: [string[], RegExp][] = [
    [["k1:AAAA"], /"trust.keys" entry 1 \("k1:AAAA"\) holds a 3-byte key, not 32 bytes/],
    [[`k1:${KEY}`, "no-colon-here"], /entry 2 \("no-colon-here"\) has no key id/],
    [[`k1:${KEY}`, "k2:not base64!"], /entry 2 \("k2:not base64!"\) holds no valid base64/],
    [[`k1:${KEY}`, `k1:${KEY}`], /entries 1 and 2 both name key "k1"/],
  ];
  for (const [keys, pattern] of cases) {
    const error = throwsWith(
      () => resolveConfig("/x/lockstep.json", JSON.stringify({ app: "a", trust: { keys } })),
      "CONFIG_INVALID",
    );
    assertMatch(error.message, pattern);
    if (!/both name/.test(error.message)) assertMatch(error.message, /lockstep keygen/);
  }
  const config = resolveConfig(
    "/x/lockstep.json",
    JSON.stringify({ app: "a", trust: { keys: [`k1:${KEY}`] } }),
  );
  assertEquals(config.trust, { keys: [`k1:${KEY}`], requireSignature: true });
});

Deno.test("resolveConfig() refuses sqlite://PATH, which reads the first folder as a host, and says to use sqlite:PATH", () => {
  const error = throwsWith(
    () =>
      resolveConfig(
        "/srv/shop/lockstep.json",
        JSON.stringify({ app: "a", databases: { main: { url: "sqlite://data/x.db" } } }),
      ),
    "CONFIG_INVALID",
  );
  assertMatch(error.message, /"databases.main.url" "sqlite:\/\/data\/x.db" reads "data" as a host/);
  assertMatch(error.message, /use sqlite:PATH \("sqlite:data\/x.db"/);
  const absolute = resolveConfig(
    "/srv/shop/lockstep.json",
    JSON.stringify({ app: "a", databases: { main: { url: "sqlite:///var/db/x.db" } } }),
  );
  assertEquals(absolute.databases.main?.path, "/var/db/x.db");
});

Deno.test("resolveConfig() says why a passwordEnv password is missing: not set, or not granted", () => {
  const text = JSON.stringify({
    app: "a",
    databases: { db: { url: "postgres://u@h/d", passwordEnv: "DB_PW" } },
  });
  const unset = resolveConfig("/x/lockstep.json", text, () => undefined);
  assertEquals(unset.databases.db?.passwordMissing, "unset");
  const denied = resolveConfig("/x/lockstep.json", text, (name) => {
    throw new Deno.errors.NotCapable(`Requires env access to "${name}"`);
  });
  assertEquals(denied.databases.db?.passwordMissing, "not granted");
  const set = resolveConfig("/x/lockstep.json", text, () => "s3cret");
  assertEquals([set.databases.db?.password, set.databases.db?.passwordMissing], [
    "s3cret",
    undefined,
  ]);
});

Deno.test("loadConfig() reads passwordEnv variables that --allow-env=NAME grants, and only those", async () => {
  await using dir = await tempDir();
  const config = `${dir.path}/lockstep.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      app: "a",
      databases: { db: { url: "postgres://u@h/d", passwordEnv: "DB_PW" } },
    }),
  );
  const script = `${dir.path}/read.ts`;
  await Deno.writeTextFile(
    script,
    `import { loadConfig } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};\n` +
      `const db = (await loadConfig(${JSON.stringify(config)})).databases.db;\n` +
      `console.log(JSON.stringify([db.password ?? null, db.passwordMissing ?? null]));\n`,
  );
  const run = async (flags: string[], env: Record<string, string>) => {
    const out = await runDeno(["run", "--no-prompt", "--quiet", "--allow-read", ...flags, script], {
      env,
    });
    assertEquals(out.code, 0, out.stderr);
    return JSON.parse(out.stdout);
  };
  assertEquals(await run(["--allow-env=DB_PW"], { DB_PW: "s3cret" }), ["s3cret", null]);
  assertEquals(await run(["--allow-env=DB_PW"], {}), [null, "unset"]);
  assertEquals(await run([], { DB_PW: "s3cret" }), [null, "not granted"]);
});

Deno.test("cli: a malformed trust.keys entry is CONFIG_INVALID (exit 2) naming it, for check and install alike, and nothing changes", async () => {
  await using app = await makeApp("sqlite", {
    packages: {},
    extra: { trust: { keys: ["release:AAAA"] } },
  });
  const before = await treeHash(app.dir);
  for (const args of [["check"], ["install", "--yes"], ["bundle", "inspect", `${app.dir}/x.zip`]]) {
    const result = await runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
    assertEquals(result.code, 2, `${args[0]}: ${result.stderr}`);
    assertMatch(result.stderr, /"trust.keys" entry 1 \("release:AAAA"\).*\[CONFIG_INVALID\]/);
  }
  assertEquals(await treeHash(app.dir), before);
});
