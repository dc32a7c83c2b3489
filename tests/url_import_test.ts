import { fileURLToPath } from "node:url";
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { fixture, makeApp } from "./helpers/app.ts";
import { tempDir } from "./helpers/temp.ts";
import { runDeno } from "./helpers/cli.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Serves the repository's files over HTTP on a free loopback port, as a static host would. */
function serveRepo(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    if (path.includes("..") || !/\.(ts|json)$/.test(path)) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(`${REPO}${path.slice(1)}`);
      return new Response(body, { headers: { "content-type": "application/typescript" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

const deno = (args: string[], cwd: string) => runDeno(args, { cwd });

Deno.test("mod.ts imported over HTTP by a script with no deno.json, and cli.ts run from its URL, both work", async () => {
  await using server = serveRepo();
  const host = `127.0.0.1:${server.addr.port}`;
  await using app = await makeApp("sqlite", { packages: await fixture("cross-package") });
  await using scripts = await tempDir();
  await Deno.writeTextFile(
    `${scripts.path}/gate.ts`,
    `import { check, loadConfig } from "http://${host}/mod.ts";\n` +
      `const report = await check(await loadConfig(${JSON.stringify(app.configPath)}));\n` +
      `console.log(JSON.stringify({ exitCode: report.exitCode }));\n`,
  );
  const common = ["run", "--no-prompt", "--quiet", `--allow-import=${host}`];
  const gate = await deno(
    [...common, `--allow-read=${app.dir}`, `${scripts.path}/gate.ts`],
    scripts.path,
  );
  assertEquals(gate.code, 0, gate.stderr);
  assertEquals(JSON.parse(gate.stdout), { exitCode: 4 });

  const flags = [`--allow-read=${app.dir}`, `--allow-write=${app.dir}`];
  const cli = `http://${host}/cli.ts`;
  const migrated = await deno([
    ...common,
    ...flags,
    cli,
    "migrate",
    "--yes",
    "--config",
    app.configPath,
  ], scripts.path);
  assertEquals(migrated.code, 0, migrated.stderr);
  assertMatch(migrated.stdout, /Applied 4 migration\(s\)/);
  const checked = await deno(
    [...common, ...flags, cli, "check", "--config", app.configPath],
    scripts.path,
  );
  assertEquals(checked.code, 0, checked.stderr);
});
