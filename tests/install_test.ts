import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { treeHash, writeBundle } from "./helpers/bundles.ts";
import { documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";
import { check, createBundle, inspect, install, keygen, recover } from "../mod.ts";

const V1 = {
  "app/main.ts": "console.log('1.0.0');\n",
  "app/old.ts": "export const old = true;\n",
  "app/lib/util.ts": "export const util = 1;\n",
  "config/local.json": '{ "secret": "keep me" }\n',
};
const V11 = {
  "app/main.ts": "console.log('1.1.0');\n",
  "app/lib/util.ts": "export const util = 2;\n",
  "app/new/feature.ts": "export {};\n",
};
const V12 = {
  "app/main.ts": "console.log('1.2.0');\n",
  "app/lib/util.ts": "export const util = 3;\n",
  "app/new/feature.ts": "export {};\n",
};

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Runs the CLI on `app` with the README's flags for an app folder. */
function cli(app: TestApp, ...args: string[]) {
  return runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
}

async function pendingBundle(
  app: TestApp,
  version: string,
  files: Record<string, string>,
  extra: Record<string, unknown> = {},
) {
  await Deno.mkdir(`${app.dir}/updates/pending`, { recursive: true });
  const path = `${app.dir}/updates/pending/testapp-${version}.zip`;
  await writeBundle(path, { version, files, ...extra });
  return path;
}

Deno.test("install() applies pending bundles in version order, records them and keeps the zips", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.2.0", V12, { upgradesFrom: ">=1.1.0 <1.2.0" });
  await pendingBundle(app, "1.1.0", V11, {
    upgradesFrom: ">=1.0.0 <1.1.0",
    remove: ["app/old.ts"],
  });
  assertEquals((await check(await app.config())).exitCode, 3);
  const result = await install(await app.config());
  assertEquals(result.refused, []);
  assertEquals(result.installed.map((b) => [b.from, b.version]), [["1.0.0", "1.1.0"], [
    "1.1.0",
    "1.2.0",
  ]]);
  assertEquals(await Deno.readTextFile(`${app.dir}/VERSION`), "1.2.0\n");
  assertEquals(await Deno.readTextFile(`${app.dir}/app/main.ts`), V12["app/main.ts"]);
  assert(!(await exists(`${app.dir}/app/old.ts`)), "remove applied");
  assertEquals(await Deno.readTextFile(`${app.dir}/config/local.json`), V1["config/local.json"]);
  const state = JSON.parse(await Deno.readTextFile(`${app.dir}/updates/state.json`));
  assertEquals([state.installed, state.highWater, state.history.length], ["1.2.0", "1.2.0", 2]);
  const kept = [...Deno.readDirSync(`${app.dir}/updates/installed`)].map((e) => e.name).sort();
  assertEquals(kept.length, 2);
  assert(kept.every((n) => /^testapp-1\.[12]\.0-\d{8}T\d{6}Z\.zip$/.test(n)), kept.join(","));
  assertEquals([...Deno.readDirSync(`${app.dir}/updates/pending`)].length, 0);
  assertEquals((await check(await app.config())).exitCode, 0);
});

Deno.test("install() stops the chain at a refused bundle and installs the good ones before it", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11, { upgradesFrom: ">=1.0.0 <1.1.0" });
  await pendingBundle(app, "1.2.0", V12, {
    upgradesFrom: ">=1.1.0 <1.2.0",
    manifest: { requires: { deno: ">=99" } },
  });
  await pendingBundle(app, "1.3.0", V12, { upgradesFrom: ">=1.1.0" });
  const result = await install(await app.config());
  assertEquals(result.installed.map((b) => b.version), ["1.1.0"]);
  assertEquals(result.refused.map((r) => [r.file, r.code]), [
    ["testapp-1.2.0.zip", "BUNDLE_REQUIREMENT_UNMET"],
    ["testapp-1.3.0.zip", "BUNDLE_NOT_APPLICABLE"],
  ]);
});

Deno.test("check() agrees with install() on a chain stopped by a refused bundle", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11, { upgradesFrom: ">=1.0.0 <1.1.0" });
  await pendingBundle(app, "1.2.0", V12, { manifest: { requires: { deno: ">=99" } } });
  await pendingBundle(app, "1.3.0", V12, { upgradesFrom: ">=1.0.0" });
  const report = await check(await app.config());
  assertEquals(report.bundles.map((b) => [b.version, b.applies, b.problem?.code ?? null]), [
    ["1.1.0", true, null],
    ["1.2.0", false, "BUNDLE_REQUIREMENT_UNMET"],
    ["1.3.0", false, "BUNDLE_NOT_APPLICABLE"],
  ]);
  const result = await install(await app.config());
  assertEquals(result.installed.map((b) => b.version), ["1.1.0"]);
});

Deno.test("install({ dryRun }) lists what would change and writes nothing", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11, { remove: ["app/old.ts"] });
  const before = await treeHash(app.dir);
  const result = await install(await app.config(), { dryRun: true });
  assertEquals(result.installed[0]!.writes, [
    "app/main.ts",
    "app/lib/util.ts",
    "app/new/feature.ts",
    "VERSION",
  ]);
  assertEquals(result.installed[0]!.removes, ["app/old.ts"]);
  assertEquals(await treeHash(app.dir), before);
});

Deno.test("install() lists every target that cannot be written, before any change", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await Deno.mkdir(`${app.dir}/app/new/feature.ts`, { recursive: true });
  await pendingBundle(app, "1.1.0", V11);
  const before = await treeHash(app.dir, ["updates"]);
  const result = await install(await app.config());
  assertEquals(result.refused.map((r) => r.code), ["BUNDLE_TARGET_UNWRITABLE"]);
  assertMatch(result.refused[0]!.message, /app\/new\/feature\.ts \(a folder is in the way\)/);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
});

Deno.test("createBundle() packs a release folder with remove computed against the base, and inspect() reads it", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await using scratch = await tempDir();
  const work = scratch.path;
  for (const [path, text] of Object.entries(V1)) {
    await Deno.mkdir(`${work}/v1/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
    await Deno.writeTextFile(`${work}/v1/${path}`, text);
  }
  for (const [path, text] of Object.entries(V11)) {
    await Deno.mkdir(`${work}/v11/${path.split("/").slice(0, -1).join("/")}`, {
      recursive: true,
    });
    await Deno.writeTextFile(`${work}/v11/${path}`, text);
  }
  await Deno.chmod(`${work}/v11/app/main.ts`, 0o755);
  const key = await keygen(`${work}/release.key`);
  assertEquals((await Deno.stat(`${work}/release.key`)).mode! & 0o777, 0o600);
  const made = await createBundle({
    from: `${work}/v11`,
    base: `${work}/v1`,
    app: "testapp",
    version: "1.1.0",
    upgradesFrom: ">=1.0.0 <1.1.0",
    notes: "New feature",
    signWith: key.path,
    out: `${work}/testapp-1.1.0.zip`,
  });
  assertEquals(made.remove, ["app/old.ts", "config/local.json"]);
  const report = await inspect(made.path);
  assertEquals(report.manifest?.version, "1.1.0");
  assertEquals(report.manifest?.files["app/main.ts"]?.mode, 0o755);
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  await Deno.writeTextFile(
    app.configPath,
    JSON.stringify({ ...config, trust: { keys: [key.trustEntry] }, protect: ["config/**"] }),
  );
  const judged = await inspect(made.path, await app.config());
  assertEquals(judged.signature, `valid (${key.keyId})`);
  assertEquals(
    judged.problem?.code,
    "BUNDLE_PROTECTED_PATH",
    "removing config/local.json is refused",
  );
});

// Crash safety ------------------------------------------------------------

const FAULT_STEPS = [
  "staged",
  "journaled",
  "aside:1",
  "aside:2",
  "moved:1",
  "moved:3",
  "deleted:1",
  "committed",
  "recorded",
  "kept",
];

for (const step of FAULT_STEPS) {
  Deno.test(`install killed after "${step}": recover leaves exactly the old tree or exactly the new one`, async () => {
    await using app = await makeApp("sqlite", { packages: {}, files: V1 });
    await pendingBundle(app, "1.1.0", V11, { remove: ["app/old.ts"] });
    const before = await treeHash(app.dir, ["updates"]);
    const flags = [...documentedFlags(app.dir), "--allow-env=LOCKSTEP_FAULT"];
    const killed = await runCli(flags, ["install", "--yes", "--config", app.configPath], {
      env: { LOCKSTEP_FAULT: step },
    });
    assertEquals(killed.code, 137, killed.stderr);
    const blocked = await runCli(flags, ["check", "--config", app.configPath]);
    const committed = ["committed", "recorded", "kept"].includes(step);
    // Before the journal is written the root is untouched; from then on check says blocked.
    if (step !== "staged") assertEquals(blocked.code, 5, blocked.stdout);
    const again = await runCli(flags, ["migrate", "--yes", "--config", app.configPath]);
    if (step !== "recorded" && step !== "kept") assertMatch(again.stderr, /recover/);
    const recovered = await cli(app, "recover");
    assertEquals(recovered.code, 0, recovered.stderr);
    const after = await treeHash(app.dir, ["updates"]);
    if (committed) {
      assertEquals(await Deno.readTextFile(`${app.dir}/VERSION`), "1.1.0\n");
      assertEquals(await Deno.readTextFile(`${app.dir}/app/main.ts`), V11["app/main.ts"]);
      const state = JSON.parse(await Deno.readTextFile(`${app.dir}/updates/state.json`));
      assertEquals(state.installed, "1.1.0");
      assert(
        !(await exists(`${app.dir}/updates/pending/testapp-1.1.0.zip`)),
        "the zip was moved to installed/",
      );
    } else {
      assertEquals(after, before);
      const retried = await cli(app, "install", "--yes");
      assertEquals(retried.code, 0, retried.stderr);
      assertEquals(await Deno.readTextFile(`${app.dir}/VERSION`), "1.1.0\n");
    }
    assertEquals(
      (await cli(app, "recover")).stdout
        .trim(),
      "Nothing to recover: no interrupted install or restore.",
    );
  });
}

Deno.test("install killed (SIGKILL) at 50 random moments: recover leaves the old tree or the new one, never a mix", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  const files: Record<string, string> = { ...V11 };
  for (let i = 0; i < 300; i++) {
    files[`app/gen/f${i}.ts`] = `export const v = ${i}; // ${"x".repeat(2000)}\n`;
  }
  const bundle = await pendingBundle(app, "1.1.0", files, { remove: ["app/old.ts"] });
  const zip = await Deno.readFile(bundle);
  const oldTree = await treeHash(app.dir, ["updates"]);
  let newTree: Record<string, string> | undefined;
  const outcomes = { old: 0, new: 0 };
  for (let round = 0; round < 50; round++) {
    const child = spawnCli(documentedFlags(app.dir), [
      "install",
      "--yes",
      "--config",
      app.configPath,
    ]);
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 400));
    try {
      child.kill("SIGKILL");
    } catch { /* it finished first */ }
    await child.output();
    const recovered = await cli(app, "recover");
    assertEquals(recovered.code, 0, recovered.stderr);
    const tree = await treeHash(app.dir, ["updates"]);
    if (JSON.stringify(tree) === JSON.stringify(oldTree)) outcomes.old++;
    else {
      newTree ??= tree;
      assertEquals(tree, newTree, `round ${round}: neither the old tree nor the new one`);
      const differs = Object.keys({ ...tree, ...oldTree }).filter((k) => tree[k] !== oldTree[k]);
      assert(
        tree["VERSION"] !== oldTree["VERSION"],
        `round ${round}: a mix: ${differs.slice(0, 8).join(", ")}`,
      );
      outcomes.new++;
    }
    // Put the old release back for the next round.
    if (outcomes.new > 0 && JSON.stringify(tree) !== JSON.stringify(oldTree)) {
      await Deno.remove(app.dir + "/app", { recursive: true });
      for (const [path, text] of Object.entries(V1)) {
        await Deno.mkdir(`${app.dir}/${path.split("/").slice(0, -1).join("/")}`, {
          recursive: true,
        });
        await Deno.writeTextFile(`${app.dir}/${path}`, text);
      }
      await Deno.writeTextFile(`${app.dir}/VERSION`, "1.0.0\n");
      await Deno.remove(`${app.dir}/updates`, { recursive: true });
      await Deno.mkdir(`${app.dir}/updates/pending`, { recursive: true });
      await Deno.writeFile(bundle, zip);
      assertEquals(await treeHash(app.dir, ["updates"]), oldTree);
    }
  }
  assert(outcomes.old + outcomes.new === 50);
});

Deno.test("a preflight killed between making a probe file and removing it: recover removes the probe", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  const before = await treeHash(app.dir, ["updates"]);
  // What a kill at that moment leaves: the probe, listed in lockstep's work folder first.
  const probe = `${app.dir}/app/.lockstep-probe-${crypto.randomUUID()}`;
  await Deno.mkdir(`${app.dir}/updates/.lockstep`, { recursive: true });
  await Deno.writeTextFile(`${app.dir}/updates/.lockstep/probes`, `${probe}\n`);
  await Deno.writeFile(probe, new Uint8Array());
  const recovered = await cli(app, "recover");
  assertEquals(recovered.code, 0, recovered.stderr);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
  await Deno.stat(`${app.dir}/updates/.lockstep/probes`).then(
    () => assert(false, "the list is left"),
    (error) => assert(error instanceof Deno.errors.NotFound),
  );
});

Deno.test("two installs at once: the second exits 6 and changes nothing", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11);
  await Deno.mkdir(`${app.dir}/updates/.lockstep`, { recursive: true });
  using holder = await Deno.open(`${app.dir}/updates/.lockstep/lock`, {
    read: true,
    write: true,
    create: true,
  });
  assert(await holder.tryLock(true));
  const before = await treeHash(app.dir);
  const second = await cli(app, "install", "--yes");
  assertEquals(second.code, 6, second.stderr);
  assertMatch(second.stderr, /LOCK_HELD/);
  assertEquals(await treeHash(app.dir), before);
});

Deno.test({
  name: "install() on a full disk: a clear error, staging cleaned, the app root unchanged",
  ignore: Deno.uid() !== 0,
  async fn() {
    const mount = await Deno.makeTempDir({ prefix: "lockstep-tmpfs-" });
    const run = (args: string[]) => new Deno.Command(args[0]!, { args: args.slice(1) }).output();
    const mounted = await run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
    assert(mounted.success, "mount tmpfs");
    try {
      await Deno.writeTextFile(`${mount}/lockstep.json`, JSON.stringify({ app: "testapp" }));
      await Deno.writeTextFile(`${mount}/VERSION`, "1.0.0\n");
      await Deno.mkdir(`${mount}/updates/pending`, { recursive: true });
      const text = (seed: number) =>
        Array.from({ length: 20000 }, (_, i) => `line ${i * seed} of a log\n`).join("");
      await writeBundle(`${mount}/updates/pending/testapp-1.1.0.zip`, {
        version: "1.1.0",
        files: { "app/a.txt": text(1), "app/b.txt": text(3), "app/c.txt": text(7) },
      });
      const before = await treeHash(mount, ["updates"]);
      const result = await runCli(documentedFlags(mount), [
        "install",
        "--yes",
        "--json",
        "--config",
        `${mount}/lockstep.json`,
      ]);
      assertEquals(result.code, 1, result.stderr);
      const refused = JSON.parse(result.stdout).refused;
      assertEquals(refused.map((r: { code: string }) => r.code), ["DISK_FULL"]);
      assertEquals(await treeHash(mount, ["updates"]), before);
      assert(!(await exists(`${mount}/updates/.lockstep/journal`)), "staging cleaned");
    } finally {
      await run(["umount", mount]);
      await Deno.remove(mount, { recursive: true });
    }
  },
});

Deno.test("cli: install and recover need only read and write on the app folder", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11);
  const flags = documentedFlags(app.dir);
  for (const flag of flags) {
    const fewer = flags.filter((f) => f !== flag);
    const denied = await runCli(fewer, ["install", "--yes", "--config", app.configPath]);
    assertEquals(denied.code, 1, denied.stderr);
    assertMatch(denied.stderr, /--allow-(read|write)=/);
    assertMatch(denied.stderr, /PERMISSION_DENIED/);
  }
  const done = await runCli(flags, ["install", "--yes", "--config", app.configPath]);
  assertEquals(done.code, 0, done.stderr);
  assertMatch(done.stdout, /installed testapp-1\.1\.0\.zip: 1\.0\.0 → 1\.1\.0/);
  assertEquals((await runCli(flags, ["recover", "--config", app.configPath])).code, 0);
  const unattended = await runCli(flags, ["install", "--config", app.configPath]);
  assertEquals(unattended.code, 0, "nothing pending: nothing to confirm");
  assertEquals(
    (await runCli(documentedFlags(app.dir, { write: false }), [
      "check",
      "--config",
      app.configPath,
    ])).code,
    0,
  );
});

Deno.test("recover() with no interrupted install reports none and changes nothing", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  const before = await treeHash(app.dir, ["updates"]);
  assertEquals(await recover(await app.config()), { outcome: "none", label: null });
  assertEquals(await treeHash(app.dir, ["updates"]), before);
});

Deno.test("cli: install without --yes and without a terminal refuses, naming --yes, and changes nothing", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: V1 });
  await pendingBundle(app, "1.1.0", V11);
  const before = await treeHash(app.dir, ["updates"]);
  const result = await cli(app, "install");
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /--yes.*CONFIRMATION_REQUIRED/s);
  assertEquals(await treeHash(app.dir, ["updates"]), before);
});
