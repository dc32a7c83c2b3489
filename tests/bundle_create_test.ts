/**
 * `lockstep bundle create` as a release manager runs it (issue 12 items 1,
 * 2, 3 and 14), through the CLI with the README's flags: version-control
 * folders never shipped, secrets refused and named, excludes and
 * `.lockstepignore`, links refused or followed inside the folder, protected
 * paths refused with a config and no config read with `--app`, names a host
 * cannot hold refused. A refusal writes nothing.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { exists } from "./helpers/hostile.ts";
import { tempDir } from "./helpers/temp.ts";
import { inspect } from "../mod.ts";

/** Writes `files` (path → text) under `root`. */
async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(root, path)), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
}

/** `bundle create` with the README's flags: read and write on `dir` (releases and output). */
function create(dir: string, args: string[], cwd = dir) {
  return runCli([`--allow-read=${dir}`, `--allow-write=${dir}`], ["bundle", "create", ...args], {
    cwd,
  });
}

/** The payload paths and removals of the bundle at `path`. */
async function contents(path: string): Promise<{ files: string[]; remove: readonly string[] }> {
  const { manifest } = await inspect(path);
  assert(manifest, `${path} reads`);
  return { files: Object.keys(manifest.files).sort(), remove: manifest.remove };
}

const SECRETS = {
  ".env": "DATABASE_PASSWORD=hunter2\n",
  ".env.production": "DATABASE_PASSWORD=prod\n",
  "config/tls.key": "key\n",
  "certs/server.pem": "pem\n",
  "deploy/id_ed25519": "ssh key\n",
  "notes/handover.txt":
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n",
};

Deno.test("bundle create never packs version-control folders, refuses secrets by name until excluded or included, and honours --exclude and .lockstepignore", async () => {
  await using dir = await tempDir();
  const release = join(dir.path, "release");
  await tree(release, {
    "app/main.ts": "main\n",
    ".git/config": "[core]\n",
    ".git/objects/ab/cdef": "blob",
    "vendor/lib/.svn/entries": "svn",
    ".hg/store/data": "hg",
    "build.log": "log\n",
    "tmp/cache.bin": "cache",
    "docs/keep.log": "kept by !\n",
    ".lockstepignore": "# build output\n*.log\n!docs/keep.log\n/tmp/\n",
    ...SECRETS,
  });
  const out = join(dir.path, "out/testapp-1.1.0.zip");
  const base = ["--app", "testapp", "--from", release, "--version", "1.1.0", "--out", out];

  const refused = await create(dir.path, [...base, "--json"]);
  assertEquals(refused.code, 1, refused.stderr);
  const error = JSON.parse(refused.stdout).error;
  assertEquals(error.code, "BUNDLE_SECRET_FILE");
  assertEquals(
    error.data.files.map((f: { path: string }) => f.path).sort(),
    Object.keys(SECRETS).sort(),
    "every secret is named, by name or by content",
  );
  const text = await create(dir.path, base);
  assertMatch(text.stderr, /look like secrets: .*"\.env" \(an environment file\)/);
  assertMatch(text.stderr, /"notes\/handover\.txt" \(it holds a private key\)/);
  assertMatch(text.stderr, /--include GLOB.*Nothing was written/);
  assert(!(await exists(join(dir.path, "out"))), "nothing was written");

  const made = await create(dir.path, [
    ...base,
    ...["--exclude", ".env", "--exclude", "*.key", "--exclude", "certs/**"],
    ...["--exclude", "deploy/**", "--include", ".env.production"],
    ...["--include", "notes/handover.txt"],
  ]);
  assertEquals(made.code, 0, made.stderr);
  assertEquals((await contents(out)).files, [
    ".env.production",
    "app/main.ts",
    "docs/keep.log",
    "notes/handover.txt",
  ]);

  // The base is read with the same rules: what is excluded there is not removed either.
  const previous = join(dir.path, "previous");
  await tree(previous, {
    "app/main.ts": "old\n",
    "app/old.ts": "old\n",
    ".git/HEAD": "ref\n",
    "old.log": "log\n",
  });
  const out2 = join(dir.path, "out/testapp-1.1.0-b.zip");
  const withBase = await create(dir.path, [
    ...base.slice(0, -1),
    out2,
    "--base",
    previous,
    "--exclude",
    "**/.env*",
    "--exclude",
    "notes/**",
    "--exclude",
    "*.key",
    "--exclude",
    "*.pem",
    "--exclude",
    "deploy/**",
  ]);
  assertEquals(withBase.code, 0, withBase.stderr);
  assertEquals((await contents(out2)).remove, ["app/old.ts"]);
});

Deno.test("bundle create refuses a symbolic link with its path and the two ways out, and with --follow-links packs a target inside the folder only", async () => {
  await using dir = await tempDir();
  const release = join(dir.path, "release");
  await tree(release, {
    "app/main.ts": "main\n",
    "shared/util.ts": "util\n",
    "../outside/secret.txt": "outside\n",
  });
  await Deno.symlink("main.ts", join(release, "app/current.ts"));
  await Deno.symlink("../shared", join(release, "app/shared"));
  await Deno.symlink("../../outside", join(release, "app/outside"));
  const out = join(dir.path, "testapp-1.1.0.zip");
  const base = ["--app", "testapp", "--from", release, "--version", "1.1.0", "--out", out];

  const refused = await create(dir.path, [...base, "--json"]);
  assertEquals(refused.code, 1, refused.stderr);
  const error = JSON.parse(refused.stdout).error;
  assertEquals(error.code, "BUNDLE_SOURCE_LINK");
  assertEquals(
    error.data.links.map((l: { path: string }) => l.path).sort(),
    ["app/current.ts", "app/outside", "app/shared"],
  );
  assertMatch(error.message, /"app\/current\.ts" → "main\.ts"/);
  assertMatch(
    error.message,
    /replace each by the file it points to, or leave it out with --exclude/,
  );

  const outside = await create(dir.path, [...base, "--follow-links", "--json"]);
  assertEquals(outside.code, 1);
  const still = JSON.parse(outside.stdout).error;
  assertEquals(still.code, "BUNDLE_SOURCE_LINK");
  assertEquals(still.data.links.map((l: { path: string }) => l.path), ["app/outside"]);
  assertMatch(still.message, /outside the release folder/);
  assert(!(await exists(out)), "nothing was written");

  const made = await create(dir.path, [...base, "--follow-links", "--exclude", "app/outside"]);
  assertEquals(made.code, 0, made.stderr);
  const { manifest } = await inspect(out);
  assertEquals(Object.keys(manifest!.files).sort(), [
    "app/current.ts",
    "app/main.ts",
    "app/shared/util.ts",
    "shared/util.ts",
  ]);
  assertEquals(manifest!.files["app/current.ts"]!.sha256, manifest!.files["app/main.ts"]!.sha256);
});

Deno.test("bundle create refuses names a Windows host cannot hold or would alias, before writing anything", async () => {
  await using dir = await tempDir();
  const cases: Array<[Record<string, string>, Record<string, string>, string, RegExp]> = [
    [{ "app/aux.txt": "x" }, {}, "BUNDLE_PATH_UNSAFE", /"aux\.txt" is the Windows device name AUX/],
    [{ "app/notes.": "x" }, {}, "BUNDLE_PATH_UNSAFE", /ends with a dot/],
    [{ "app/a:b.ts": "x" }, {}, "BUNDLE_PATH_UNSAFE", /":"/],
    [{ "App/x.ts": "x", "app/y.ts": "y" }, {}, "BUNDLE_PATH_COLLISION", /"App" and "app"/],
    [{ "README.md": "x" }, { "Readme.md": "x" }, "BUNDLE_PATH_COLLISION", /remove/],
  ];
  for (const [i, [files, previous, code, message]] of cases.entries()) {
    const release = join(dir.path, `release${i}`);
    const old = join(dir.path, `previous${i}`);
    await tree(release, files);
    await Deno.mkdir(old, { recursive: true });
    await tree(old, previous);
    const out = join(dir.path, `testapp-${i}.zip`);
    const args = ["--app", "testapp", "--from", release, "--base", old, "--version", "1.1.0"];
    const result = await create(dir.path, [...args, "--out", out, "--json"]);
    assertEquals(result.code, 1, `${i}: ${result.stdout}`);
    const error = JSON.parse(result.stdout).error;
    assertEquals(error.code, code, error.message);
    assertMatch(error.message, message);
    assertMatch(error.message, /^Cannot create bundle .*Nothing was written\.$/);
    assert(!(await exists(out)), `${i}: nothing was written`);
  }
});

for (const backend of BACKENDS) {
  Deno.test(`${backend}: bundle create with a config refuses to write or remove protected paths; excluded, the bundle installs and the host keeps its files`, async () => {
    await using app = await makeApp(backend, {
      packages: {},
      files: {
        "app/main.ts": "1.0.0\n",
        "config/local.json": '{ "host": "own" }\n',
        "data/uploads/a.png": "png",
      },
      extra: { protect: ["config/local.json", "data/**"] },
    });
    await using dir = await tempDir();
    const v1 = join(dir.path, "v1");
    const v2 = join(dir.path, "v2");
    await tree(v1, { "app/main.ts": "1.0.0\n", "config/local.json": "{}\n" });
    await tree(v2, { "app/main.ts": "1.1.0\n", "data/seed.txt": "seed\n", "lockstep.json": "{}" });
    const out = join(app.dir, "updates/pending/testapp-1.1.0.zip");
    const flags = [`--allow-read=${app.dir},${dir.path}`, `--allow-write=${app.dir}`];
    const cli = (args: string[]) =>
      runCli(flags, [...args, "--config", app.configPath], { cwd: app.dir });
    const args = ["bundle", "create", "--from", v2, "--base", v1, "--version", "1.1.0"];
    const before = await treeHash(app.dir);

    const refused = await cli([...args, "--out", out, "--json"]);
    assertEquals(refused.code, 1, refused.stderr);
    const error = JSON.parse(refused.stdout).error;
    assertEquals(error.code, "BUNDLE_PROTECTED_PATH");
    assertEquals(error.data.write, ["data/seed.txt", "lockstep.json"]);
    assertEquals(error.data.remove, ["config/local.json"]);
    assertMatch(error.message, /--exclude GLOB or \.lockstepignore/);
    assertEquals(await treeHash(app.dir), before, "nothing was written");

    const excluded = ["--exclude", "config/local.json", "--exclude", "data/**"];
    const made = await cli([...args, ...excluded, "--exclude", "lockstep.json", "--out", out]);
    assertEquals(made.code, 0, made.stderr);
    assertEquals((await contents(out)).remove, []);
    const postgres = Object.values(app.dbs).map((d) => d.url).filter((u) =>
      u.startsWith("postgres")
    );
    const installed = await runCli(
      documentedFlags(app.dir, { postgres }),
      ["install", "--yes", "--config", app.configPath],
    );
    assertEquals(installed.code, 0, installed.stdout + installed.stderr);
    assertEquals(await Deno.readTextFile(join(app.dir, "app/main.ts")), "1.1.0\n");
    assertEquals(
      await Deno.readTextFile(join(app.dir, "config/local.json")),
      '{ "host": "own" }\n',
    );
    assertEquals(await Deno.readTextFile(join(app.dir, "data/uploads/a.png")), "png");
  });
}

Deno.test("bundle create --app reads no lockstep.json (none needed, no read access to it), and refuses an --app that is not the config's", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: {} });
  await using dir = await tempDir();
  const release = join(dir.path, "release");
  await tree(release, { "app/main.ts": "main\n" });
  const out = join(dir.path, "testapp-1.1.0.zip");
  const args = ["bundle", "create", "--from", release, "--version", "1.1.0", "--out", out];
  // Run in the app folder, whose lockstep.json this process may not even read.
  const flags = [`--allow-read=${dir.path}`, `--allow-write=${dir.path}`];
  const made = await runCli(flags, [...args, "--app", "testapp"], { cwd: app.dir });
  assertEquals(made.code, 0, made.stderr);
  assertMatch(made.stdout, /Wrote .*testapp 1\.1\.0, 1 file\(s\)/);
  const needs = await runCli(flags, [...args.slice(0, -1), `${out}.2`], { cwd: app.dir });
  assertEquals(needs.code, 1, "without --app it reads ./lockstep.json, which it may not");
  assertMatch(needs.stderr, /PERMISSION_DENIED/);

  const wide = [`--allow-read=${dir.path},${app.dir}`, `--allow-write=${dir.path}`];
  const other = await runCli(wide, [
    ...args.slice(0, -1),
    `${out}.3`,
    "--app",
    "shop",
    "--config",
    app.configPath,
  ]);
  assertEquals(other.code, 2, other.stderr);
  assertMatch(other.stderr, /config of app "testapp"/);
});
