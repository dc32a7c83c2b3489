/**
 * The README's `gate()`/`maintenance()` example on PostgreSQL (issue 12,
 * item 4): `loadConfig()` reads the `passwordEnv` variable that
 * `--allow-env=NAME` grants, and a missing one says whether it is unset or
 * not granted; `gate()` throws only the codes its documentation lists. And
 * a `localhost` URL not granted by `--allow-net` names the exact flag
 * (item 6).
 *
 * @module
 */
import { join } from "node:path";
import { gate, isLockstepError, loadConfig, migrate, resolveConfig } from "../mod.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli, runDeno } from "./helpers/cli.ts";
import { IS_ROOT, runAsNobody, sh } from "./helpers/system.ts";

const USERS = "create table users (id integer primary key);\n";
const MOD = new URL("../mod.ts", import.meta.url).href;

/** The README's example, printing what happened as JSON. */
function example(configPath: string): string {
  return `import { gate, loadConfig, maintenance } from ${JSON.stringify(MOD)};
try {
  const config = await loadConfig(${JSON.stringify(configPath)});
  await gate(config);
  const handler = maintenance(() => new Response("the app"), { config, adminPaths: ["/admin/**"] });
  const response = await handler(new Request("http://localhost/"), {});
  const password = config.databases.main.password ?? null;
  console.log(JSON.stringify({ ok: true, status: response.status, password }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, code: error.code, message: error.message }));
}
`;
}

/** A PostgreSQL app whose database names its password variable, SHOP_PGPASSWORD. */
async function passwordApp(): Promise<TestApp> {
  const app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.passwordEnv = "SHOP_PGPASSWORD";
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  return app;
}

Deno.test("the README's gate()/maintenance() example runs on PostgreSQL: loadConfig() reads the granted passwordEnv variable, and says whether a missing one is unset or not granted", async () => {
  await using app = await passwordApp();
  await migrate(await loadConfig(app.configPath, () => "any"), { backup: false });
  const script = join(app.dir, "server.ts");
  await Deno.writeTextFile(script, example(app.configPath));
  const host = new URL(app.dbs.main!.url).host;
  const run = async (env: string, vars: Record<string, string>) => {
    const flags = [`--allow-read=${app.dir}`, `--allow-net=${host}`, `--allow-env=${env}`];
    const out = await runDeno(["run", "--no-prompt", "--quiet", ...flags, script], { env: vars });
    assertEquals(out.code, 0, out.stderr);
    return JSON.parse(out.stdout);
  };
  const granted = "PGAPPNAME,SHOP_PGPASSWORD";
  assertEquals(await run(granted, { SHOP_PGPASSWORD: "s3cret" }), {
    ok: true,
    status: 200,
    password: "s3cret",
  });
  const unset = await run(granted, {});
  assertEquals(unset.code, "CONFIG_INVALID");
  assertMatch(unset.message, /its password variable SHOP_PGPASSWORD is not set\. Set it/);
  const denied = await run("PGAPPNAME", { SHOP_PGPASSWORD: "s3cret" });
  assertEquals(denied.code, "PERMISSION_DENIED");
  assertMatch(
    denied.message,
    /may not read its password variable SHOP_PGPASSWORD\. Grant it with --allow-env=SHOP_PGPASSWORD/,
  );
});

Deno.test("gate() throws only codes its documented @throws lists, each with a message fit to print", async () => {
  const thrown: { code: string; message: string; scenario: string }[] = [];
  const attempt = async (scenario: string, run: () => Promise<unknown>) => {
    try {
      await run();
      throw new Error(`${scenario}: gate() did not throw`);
    } catch (error) {
      assert(isLockstepError(error), `${scenario}: ${error}`);
      thrown.push({ code: error.code, message: error.message, scenario });
    }
  };
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  await attempt("pending migrations", async () => gate(await app.config()));
  await using pg = await passwordApp();
  const text = await Deno.readTextFile(pg.configPath);
  await attempt("a password variable not set", () => gate(resolveConfig(pg.configPath, text)));
  const closed = text.replace(/127\.0\.0\.1:\d+/, "127.0.0.1:1");
  await attempt(
    "a server that does not answer",
    () => gate(resolveConfig(pg.configPath, closed, () => "x")),
  );
  await Deno.mkdir(join(app.dir, "updates"), { recursive: true });
  await Deno.writeTextFile(join(app.dir, "updates/state.json"), "not json");
  await attempt("a state.json that is not lockstep's", async () => gate(await app.config()));
  await Deno.remove(join(app.dir, "updates/state.json"));
  await Deno.mkdir(join(app.dir, "updates/state.json"));
  await attempt("a state.json that is a folder", async () => gate(await app.config()));
  await Deno.remove(join(app.dir, "updates/state.json"));

  const script = join(app.dir, "gate.ts");
  await Deno.writeTextFile(
    script,
    `import { gate, loadConfig } from ${JSON.stringify(MOD)};\n` +
      `const config = await loadConfig(${JSON.stringify(app.configPath)});\n` +
      `await gate(config).then(() => console.log("{}"), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));\n`,
  );
  const denied = await runDeno([
    "run",
    "--no-prompt",
    "--quiet",
    `--allow-read=${app.configPath},${script}`,
    script,
  ]);
  thrown.push({ ...JSON.parse(denied.stdout), scenario: "no --allow-read on the app" });
  if (IS_ROOT) {
    await sh("chmod", "-R", "a+rX", app.dir);
    await Deno.chmod(join(app.dir, "migrations/core"), 0o700);
    const out = await runAsNobody([`--allow-read=${app.dir}`, script]);
    thrown.push({ ...JSON.parse(out.stdout), scenario: "a folder the user may not read" });
  }

  const doc = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", new URL("../mod.ts", import.meta.url).pathname],
    stdout: "piped",
  }).output();
  const nodes = JSON.parse(new TextDecoder().decode(doc.stdout)).nodes;
  const symbols = (Object.values(nodes)[0] as {
    symbols: {
      name: string;
      declarations: { jsDoc?: { tags?: { kind: string; doc?: string }[] } }[];
    }[];
  }).symbols;
  const tags = symbols.find((s) => s.name === "gate")!.declarations[0]!.jsDoc!.tags!;
  const documented = tags.filter((t) => t.kind === "throws").map((t) => t.doc ?? "").join(" ");
  for (const { code, message, scenario } of thrown) {
    assert(documented.includes(`\`${code}\``), `${scenario}: ${code} is not in gate()'s @throws`);
    assert(!/os error|\n\s+at /.test(message), `${scenario}: ${message}`);
  }
  const codes = new Set(thrown.map((t) => t.code));
  for (const code of ["GATE_REFUSED", "CONFIG_INVALID", "DATABASE_UNREACHABLE", "FILE_INVALID"]) {
    assert(codes.has(code), `no scenario threw ${code}: ${[...codes]}`);
  }
  assert(codes.has("IO_FAILED") && codes.has("PERMISSION_DENIED"), [...codes].join(", "));
  if (IS_ROOT) assert(codes.has("ACCESS_DENIED"), [...codes].join(", "));
});

Deno.test("a localhost URL with --allow-net for 127.0.0.1 is PERMISSION_DENIED naming --allow-net=localhost:PORT, not getaddrinfo EPERM", async () => {
  await using app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const real = app.dbs.main!.url;
  const port = new URL(real).port;
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.url = real.replace("127.0.0.1", "localhost");
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const before = await Deno.readTextFile(app.configPath);
  const numeric = documentedFlags(app.dir, { write: false, postgres: [real] });
  const refused = await runCli(numeric, ["check", "--config", app.configPath]);
  assertEquals(refused.code, 1, refused.stderr);
  assertMatch(
    refused.stderr,
    new RegExp(
      `Deno may not connect to "localhost:${port}"\\. Grant it with --allow-net=localhost:${port}: ` +
        `the host exactly as the URL writes it.*\\[PERMISSION_DENIED\\]`,
    ),
  );
  assert(!/getaddrinfo|EPERM/.test(refused.stderr), refused.stderr);
  const named = documentedFlags(app.dir, { write: false, postgres: [config.databases.main.url] });
  const checked = await runCli(named, ["check", "--config", app.configPath]);
  assertEquals(checked.code, 4, checked.stderr);
  assertEquals(await Deno.readTextFile(app.configPath), before);
});
