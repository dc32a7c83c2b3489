/**
 * Issue 12 items 13, 14 and 15 as an operator meets them, through the CLI
 * with the README's flags, on SQLite and PostgreSQL: every hostile bundle
 * (parser differentials, names Windows cannot hold, pending entries with
 * unsafe names) is refused by `install` (exit 1, each with its own code) and
 * reported by `check`; the app tree stays byte-for-byte unchanged and every
 * file stays in pending/.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { treeHash, writeBundle } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { BASE_FILES, exists, GOOD } from "./helpers/hostile.ts";
import { DIFFERENTIALS, type Trick, UNPORTABLE } from "./helpers/zip_tricks.ts";

interface Refused {
  file: string;
  code: string;
}

/** Puts each trick in pending/ as its own file; returns file name → expected code. */
async function drop(app: TestApp, tricks: readonly Trick[]): Promise<Map<string, string>> {
  const pending = join(app.dir, "updates/pending");
  await Deno.mkdir(pending, { recursive: true });
  const expected = new Map<string, string>();
  for (const [i, trick] of tricks.entries()) {
    const file = `testapp-1.1.0-trick${i}.zip`;
    await trick.build(join(pending, file));
    expected.set(file, trick.code);
  }
  return expected;
}

/** install refuses each file with its code (exit 1), check lists each, nothing changes. */
async function refusesAll(app: TestApp, expected: Map<string, string>): Promise<void> {
  const postgres = Object.values(app.dbs).map((d) => d.url).filter((u) => u.startsWith("postgres"));
  const flags = documentedFlags(app.dir, { postgres });
  const cli = (...args: string[]) =>
    runCli(flags, [...args, "--config", app.configPath], { cwd: app.dir });
  const before = await treeHash(app.dir, ["updates"]);
  const pending = join(app.dir, "updates/pending");

  const installed = await cli("install", "--yes", "--json");
  assertEquals(installed.code, 1, installed.stdout + installed.stderr);
  const refused = JSON.parse(installed.stdout).refused as Refused[];
  assertEquals(
    Object.fromEntries(refused.map((r) => [r.file, r.code])),
    Object.fromEntries(expected),
  );
  const text = await cli("install", "--yes");
  assertEquals(text.code, 1);
  assert(!/no pending bundles/.test(text.stdout), text.stdout);
  for (const [file, code] of expected) {
    assertMatch(text.stdout, new RegExp(`refused ${file.replace(/[.+]/g, "\\$&")} \\[${code}\\]`));
  }

  const checked = await cli("check", "--json");
  const report = JSON.parse(checked.stdout);
  const bundles = report.bundles as { file: string; problem: { code: string } | null }[];
  assertEquals(
    Object.fromEntries(bundles.map((b) => [b.file, b.problem?.code])),
    Object.fromEntries(expected),
    "check reports each with its code",
  );
  const problems = report.problems as { code: string; data: { file?: string } }[];
  for (const [file, code] of expected) {
    assert(problems.some((p) => p.code === code && p.data.file === file), `${file}: ${code}`);
  }

  assertEquals(await treeHash(app.dir, ["updates"]), before, "the app tree is unchanged");
  for (const file of expected.keys()) assert(await exists(join(pending, file)), `${file} stays`);
  assert(!(await exists(join(app.dir, "updates/backups"))), "refused before the backup");
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: install and check refuse parser differentials, each with its own code (CLI)`, async () => {
    await using app = await makeApp(backend, { packages: {}, files: BASE_FILES });
    await refusesAll(app, await drop(app, DIFFERENTIALS));
  });

  Deno.test(`${backend}: install and check refuse names a Windows host cannot hold or would alias (CLI)`, async () => {
    await using app = await makeApp(backend, { packages: {}, files: BASE_FILES });
    await refusesAll(app, await drop(app, UNPORTABLE));
  });

  Deno.test(`${backend}: install exits 1 on pending entries with unsafe names, never "no pending bundles" (CLI)`, async () => {
    await using app = await makeApp(backend, { packages: {}, files: BASE_FILES });
    const pending = join(app.dir, "updates/pending");
    await Deno.mkdir(pending, { recursive: true });
    // A good bundle, but hidden; a folder and a link named like bundles; a name with a newline.
    await writeBundle(join(pending, ".testapp-1.1.0.zip"), GOOD);
    await Deno.mkdir(join(pending, "testapp-1.1.1.zip"));
    await writeBundle(join(app.dir, "elsewhere.zip"), GOOD);
    await Deno.symlink(join(app.dir, "elsewhere.zip"), join(pending, "testapp-1.1.2.zip"));
    await writeBundle(join(pending, "testapp-1.1.0\n.zip"), GOOD);
    // lockstep's own work files are not reported.
    await Deno.writeTextFile(join(pending, `.lockstep-${crypto.randomUUID()}.tmp`), "partial");
    await refusesAll(
      app,
      new Map([
        [".testapp-1.1.0.zip", "BUNDLE_NAME_UNSAFE"],
        ["testapp-1.1.0\n.zip", "BUNDLE_NAME_UNSAFE"],
        ["testapp-1.1.1.zip", "BUNDLE_NAME_UNSAFE"],
        ["testapp-1.1.2.zip", "BUNDLE_NAME_UNSAFE"],
      ]),
    );
  });
}
