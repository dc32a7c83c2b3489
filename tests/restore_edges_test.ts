/**
 * Restore's edge cases, on the real journal: a file where the backup has a
 * folder and the reverse, folders a restore leaves empty, and a kill at each
 * step of such a restore (recover gives exactly the tree before it).
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { backup } from "../mod.ts";

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

/** The backup's tree: `app/plugins/` a folder, `app/conf` a file, `keep/` with a file. */
async function backedUp(): Promise<{ app: TestApp; id: string; tree: Record<string, string> }> {
  const app = await makeApp("sqlite", {
    packages: {},
    files: {
      "app/plugins/a.ts": "plugin a\n",
      "app/plugins/b.ts": "plugin b\n",
      "app/conf": "conf file\n",
      "keep/x.txt": "x\n",
    },
  });
  const made = await backup(await app.config(), { filesOnly: true });
  return { app, id: made.id, tree: await treeHash(app.dir, ["updates", "data"]) };
}

/** Now: `app/plugins` is a file, `app/conf/` a folder, and a new deep folder exists. */
async function changed(app: TestApp): Promise<void> {
  await Deno.remove(join(app.dir, "app/plugins"), { recursive: true });
  await app.write("app/plugins", "now a file\n");
  await Deno.remove(join(app.dir, "app/conf"));
  await app.write("app/conf/inner.json", "{}\n");
  await app.write("app/extra/deep/new.ts", "new\n");
}

Deno.test("restore puts a folder back where a file stands and a file back where a folder stands, and removes folders it left empty", async () => {
  const { app, id, tree } = await backedUp();
  await using _app = app;
  await changed(app);
  const result = await runCli(documentedFlags(app.dir), [
    "restore",
    id,
    "--yes",
    "--no-backup",
    "--config",
    app.configPath,
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(await treeHash(app.dir, ["updates", "data"]), tree);
  assert(!(await exists(join(app.dir, "app/extra"))), "the emptied folders are gone");
});

for (const step of ["journaled", "aside:1", "deleted:2", "aside:4", "moved:1", "moved:2"]) {
  Deno.test(`a restore that swaps files and folders, killed after "${step}": recover gives exactly the tree before it`, async () => {
    const { app, id } = await backedUp();
    await using _app = app;
    await changed(app);
    const before = await treeHash(app.dir, ["updates", "data"]);
    const flags = [...documentedFlags(app.dir), "--allow-env=LOCKSTEP_FAULT"];
    const killed = await runCli(
      flags,
      ["restore", id, "--yes", "--no-backup", "--config", app.configPath],
      { env: { LOCKSTEP_FAULT: step } },
    );
    assertEquals(killed.code, 137, `the fault did not fire: ${killed.stderr}`);
    const recovered = await runCli(flags, ["recover", "--config", app.configPath]);
    assertEquals(recovered.code, 0, recovered.stderr);
    assertEquals(await treeHash(app.dir, ["updates", "data"]), before);
  });
}
