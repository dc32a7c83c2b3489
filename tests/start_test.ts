/**
 * `lockstep start --wait SECONDS` (issue 12, item 11): at boot, wait for the
 * databases to accept connections before the check (dbmate's `wait`), and
 * say clearly when the time ran out. Through the CLI with the README's flags.
 *
 * @module
 */
import { migrate } from "../mod.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";

const USERS = "create table users (id integer primary key);\n";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Forwards connections on `port` to `target` (host:port) until disposed: a server that starts late. */
function proxy(port: number, target: URL): AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const open = new Set<Deno.Conn>();
  const serve = async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      open.add(client).add(server);
      const done = () => {
        for (const conn of [client, server]) {
          open.delete(conn);
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        }
      };
      Promise.all([
        client.readable.pipeTo(server.writable),
        server.readable.pipeTo(client.writable),
      ])
        .catch(() => undefined).finally(done);
    }
  };
  const serving = serve().catch(() => undefined);
  return {
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) conn.close();
      await serving;
    },
  };
}

Deno.test("start --wait: a PostgreSQL server that never answers is DATABASE_UNREACHABLE after SECONDS, naming the database; the application is not started", async () => {
  await using app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  const port = freePort();
  const url = app.dbs.main!.url.replace(/:\d+\//, `:${port}/`);
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.url = url;
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const flags = [
    ...documentedFlags(app.dir, { write: false, postgres: [url] }),
    "--allow-run=touch",
  ];
  const started = performance.now();
  const result = await runCli(flags, [
    "start",
    "--wait",
    "1.5",
    "--config",
    app.configPath,
    "--",
    "touch",
    `${app.dir}/started`,
  ]);
  const seconds = (performance.now() - started) / 1000;
  assertEquals(result.code, 1, result.stderr);
  assertMatch(
    result.stderr,
    /Cannot connect to database "main" \(postgres:\/\/[^)]+\): it did not accept connections within 1\.5 s \(last: .*ECONNREFUSED.*\)\. Check that its server is running.*--wait SECONDS.*\[DATABASE_UNREACHABLE\]/,
  );
  assert(!/\n\s+at /.test(result.stderr), "no stack trace");
  assert(seconds >= 1.5 && seconds < 10, `waited ${seconds} s`);
  assertEquals(await Deno.lstat(`${app.dir}/started`).then(() => true, () => false), false);
});

Deno.test("start --wait: a PostgreSQL server that starts a few seconds late is waited for, then the check passes and the application runs", async () => {
  await using app = await makeApp("postgres", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  await migrate(await app.config(), { backup: false });
  const real = new URL(app.dbs.main!.url);
  const port = freePort();
  const url = app.dbs.main!.url.replace(/:\d+\//, `:${port}/`);
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  config.databases.main.url = url;
  await Deno.writeTextFile(app.configPath, JSON.stringify(config));
  const flags = [
    ...documentedFlags(app.dir, { write: false, postgres: [url] }),
    "--allow-run=true",
  ];
  const child = spawnCli(flags, [
    "start",
    "--wait",
    "30",
    "--config",
    app.configPath,
    "--",
    "true",
  ]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await using _late = proxy(port, real);
  const out = await child.output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("start --wait on SQLite runs at once; a --wait that is not a number of seconds is USAGE", async () => {
  await using app = await makeApp("sqlite", {
    packages: { core: { files: { "20260101000000_users.sql": USERS } } },
  });
  await migrate(await app.config(), { backup: false });
  const flags = [...documentedFlags(app.dir, { write: false }), "--allow-run=true"];
  const ok = await runCli(flags, [
    "start",
    "--wait",
    "5",
    "--config",
    app.configPath,
    "--",
    "true",
  ]);
  assertEquals(ok.code, 0, ok.stderr);
  const bad = await runCli(flags, [
    "start",
    "--wait",
    "soon",
    "--config",
    app.configPath,
    "--",
    "true",
  ]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /--wait takes seconds, not "soon".*\[USAGE\]/);
});
