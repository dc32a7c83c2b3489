/**
 * postgres.js is loaded only when a PostgreSQL database is opened, dumped or
 * restored: a program that imports `mod.ts`, and `check` or `migrate` (with
 * the backup it takes first) on a SQLite-only config, never load it. Shown
 * by running them with an import map that replaces postgres.js with a module
 * that throws when it is evaluated.
 */
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { fixture, makeApp } from "./helpers/app.ts";
import { CLI, runDeno } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const DEPS = new URL("../lib/deps/postgres.ts", import.meta.url);

Deno.test("importing mod.ts and running check or migrate on SQLite never loads postgres.js", async () => {
  const specifier = /from "(npm:postgres@[^"]+)"/.exec(await Deno.readTextFile(DEPS))![1]!;
  await using app = await makeApp("sqlite", { packages: await fixture("cross-package") });
  await using scripts = await tempDir();
  await Deno.writeTextFile(
    `${scripts.path}/poison.ts`,
    `export default null;\nthrow new Error("postgres.js was loaded");\n`,
  );
  await Deno.writeTextFile(
    `${scripts.path}/map.json`,
    JSON.stringify({ imports: { [specifier]: "./poison.ts" } }),
  );
  await Deno.writeTextFile(
    `${scripts.path}/gate.ts`,
    `import { check, loadConfig } from ${JSON.stringify(MOD)};\n` +
      `const report = await check(await loadConfig(${JSON.stringify(app.configPath)}));\n` +
      `console.log(JSON.stringify({ exitCode: report.exitCode }));\n` +
      // The map works: importing postgres.js now fails.
      `await import(${JSON.stringify(DEPS.href)}).catch((error) => console.log(error.message));\n`,
  );
  const poisoned = ["run", "--no-prompt", "--quiet", "--no-config", "--import-map=map.json"];
  const flags = [`--allow-read=${app.dir}`, `--allow-write=${app.dir}`];
  const deno = (args: string[]) => runDeno([...poisoned, ...flags, ...args], { cwd: scripts.path });

  const gate = await deno(["gate.ts"]);
  assertEquals(gate.code, 0, gate.stderr);
  const [report, control] = gate.stdout.trim().split("\n");
  assertEquals(JSON.parse(report!), { exitCode: 4 });
  assertMatch(control!, /postgres\.js was loaded/);

  const migrated = await deno([CLI, "migrate", "--yes", "--config", app.configPath]);
  assertEquals(migrated.code, 0, migrated.stderr);
  const checked = await deno([CLI, "check", "--config", app.configPath]);
  assertEquals(checked.code, 0, checked.stderr);
});
