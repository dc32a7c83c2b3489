/**
 * The hostile-bundle harness: each case builds its own fixture in a fresh
 * app, and `install()` must refuse it with its own error code before the
 * first write, the app root byte-for-byte unchanged, the bundle still in
 * pending/, and (unless only installing can find it) `check` reporting it.
 * Key files and other scratch go to the case's own temp folder, removed
 * even when an assertion fails.
 *
 * @module
 */
import { assert, assertEquals } from "./assert.ts";
import { makeApp, type TestApp } from "./app.ts";
import { type BundleSpec, treeHash, writeBundle, writeZip } from "./bundles.ts";
import { tempDir } from "./temp.ts";
import { check, install, keygen } from "../../mod.ts";

/** The app's files before every case. */
export const BASE_FILES = {
  "app/main.ts": "console.log('1.0.0');\n",
  "app/old.ts": "export const old = true;\n",
  "config/local.json": '{ "secret": "keep me" }\n',
};
/** A well-formed bundle that would install over {@link BASE_FILES}. */
export const GOOD = {
  version: "1.1.0",
  upgradesFrom: ">=1.0.0 <1.1.0",
  files: { "app/main.ts": "console.log('1.1.0');\n" },
};

/** Whether `path` exists (a link counts; it is not followed). */
export async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, (e) => {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  });
}

/** One hostile case. */
export interface Case {
  /** Builds the hostile zip at `path`; `work` is the case's scratch folder (keys). */
  build(path: string, app: TestApp, work: string): Promise<unknown>;
  code: string;
  extra?: Record<string, unknown>;
  setup?(app: TestApp, work: string): Promise<void>;
  file?: string;
  /** False for what only installing finds: check never reads the payload. */
  checkSees?: false;
}

/** Registers the test that `install()` refuses `c`. */
export function hostile(name: string, c: Case): void {
  Deno.test(`install() refuses ${name} with ${c.code}, before the first write`, async () => {
    await using work = await tempDir();
    await using app = await makeApp("sqlite", {
      packages: {},
      files: BASE_FILES,
      ...(c.extra ? { extra: c.extra } : {}),
    });
    await c.setup?.(app, work.path);
    const pending = `${app.dir}/updates/pending`;
    await Deno.mkdir(pending, { recursive: true });
    const zip = `${pending}/${c.file ?? "testapp-1.1.0.zip"}`;
    await c.build(zip, app, work.path);
    const before = await treeHash(app.dir, ["updates"]);
    const result = await install(await app.config());
    assertEquals(result.installed, []);
    assertEquals(result.refused.map((r) => r.code), [c.code], JSON.stringify(result.refused));
    assertEquals(await treeHash(app.dir, ["updates"]), before, "the app root is unchanged");
    assert(await exists(zip), "the bundle stays in pending/");
    assert(
      !(await exists(`${app.dir}/updates/.lockstep/journal`)),
      "no journal or staging is left",
    );
    if (c.checkSees === false) return;
    const report = await check(await app.config());
    assert(
      report.bundles.some((b) => b.problem?.code === c.code),
      "check reports it with the reason",
    );
  });
}

/** Builds {@link GOOD} with `spec` over it. */
export const bundle = (spec: Partial<BundleSpec>) => (path: string) =>
  writeBundle(path, { ...GOOD, ...spec });

/** A zip of a minimal manifest and `names` (each holding "x"). */
export const zipOf = (names: string[]) => (path: string) =>
  writeZip(path, [
    {
      name: "bundle.json",
      data: JSON.stringify({ format: 1, app: "testapp", version: "1.1.0", files: {}, remove: [] }),
    },
    ...names.map((name) => ({ name, data: "x" })),
  ]);

/** A key made in `work` (never in the shared temp folder), with its trust.keys entry. */
export async function trusted(
  work: string,
  name = "trusted",
): Promise<{ keyFile: string; entry: string }> {
  const keyFile = `${work}/${crypto.randomUUID()}-${name}.key`;
  const made = await keygen(keyFile);
  return { keyFile, entry: made.trustEntry };
}

/** Turns on trust.requireSignature with `keys`. */
export async function requireSignatures(app: TestApp, keys: string[]): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(app.configPath));
  await Deno.writeTextFile(
    app.configPath,
    JSON.stringify({ ...config, trust: { keys, requireSignature: true } }),
  );
}
