/**
 * Issue 13, "hostile pack bundles", through the CLI with the README's flags
 * on SQLite and PostgreSQL: each is refused before the first write, with
 * its own code, the app tree, state.json and the ledger unchanged, and the
 * bundle left in pending/; `check` reports it where only the host's state
 * (not the bundle) is at fault it stays pending.
 *
 * @module
 */
import { join } from "node:path";
import { keygen } from "../mod.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { pendingRelease, treeHash, writeBundle } from "./helpers/bundles.ts";
import {
  checkCodes,
  cliOf,
  CORE,
  pendingFiles,
  pendingPack,
  REVIEWS_010,
  REVIEWS_020,
} from "./helpers/packs.ts";
import { tempDir } from "./helpers/temp.ts";

interface Hostile {
  /** What it is, for the failure message. */
  readonly what: string;
  /** The refusal's code. */
  readonly code: string;
  /** The command that must refuse it (exit 1). */
  readonly command: string[];
  /** Top-level keys merged into lockstep.json for this case. */
  readonly config?: (work: string) => Promise<Record<string, unknown>>;
  /** Puts the hostile bundle (and whatever else) in place; returns its file name in pending/. */
  build(app: TestApp, work: string): Promise<string>;
  /** What `check` says of it afterwards, when the bundle itself is at fault. */
  readonly check?: string;
}

/** A pack bundle written by hand: its manifest names `pack`, its declaration `declared`. */
async function rawPack(
  app: TestApp,
  file: string,
  pack: string,
  declared: Record<string, unknown> = {},
): Promise<string> {
  const declaration = JSON.stringify({
    format: 1,
    name: pack,
    version: "1.0.0",
    source: "local",
    requires: {},
    ...declared,
  });
  await writeBundle(join(app.dir, "updates/pending", file), {
    version: "1.0.0",
    files: { "lockstep-package.json": declaration, "mod.ts": "export {};\n" },
    manifest: { pack },
  });
  return file;
}

const NAMES = [
  "../core",
  "CON",
  "con",
  "Orders",
  "orders",
  "reports",
  "ｒeviews",
  "core",
  "testapp",
];

const CASES: readonly Hostile[] = [
  {
    what: "a pack bundle whose lockstep-package.json names another pack",
    code: "PACK_INVALID",
    command: ["pack", "install", "ratings", "--yes"],
    build: (app) => rawPack(app, "ratings-1.0.0.zip", "ratings", { name: "reviews" }),
    check: "PACK_INVALID",
  },
  {
    what: "an update of an installed pack from another source",
    code: "PACK_FOLDER_OWNED",
    command: ["update", "--yes"],
    build: async (app) => {
      await pendingPack(app.dir, {
        name: "reviews",
        version: "0.3.0",
        source: "elsewhere",
        migrations: REVIEWS_020,
      });
      return "reviews-0.3.0.zip";
    },
  },
  {
    what: "a pack folder another pack owns",
    code: "PACK_FOLDER_OWNED",
    command: ["pack", "install", "ratings", "--yes"],
    build: async (app) => {
      await Deno.mkdir(join(app.dir, "packs/ratings"), { recursive: true });
      await Deno.writeTextFile(
        join(app.dir, "packs/ratings/lockstep-package.json"),
        JSON.stringify({ format: 1, name: "stars", version: "1.0.0", source: "local" }),
      );
      await pendingPack(app.dir, { name: "ratings", version: "1.0.0" });
      return "ratings-1.0.0.zip";
    },
  },
  {
    what: "a pack folder holding files no pack install put there",
    code: "PACK_FOLDER_OWNED",
    command: ["pack", "install", "ratings", "--yes"],
    build: async (app) => {
      await Deno.mkdir(join(app.dir, "packs/ratings"), { recursive: true });
      await Deno.writeTextFile(join(app.dir, "packs/ratings/notes.txt"), "mine\n");
      await pendingPack(app.dir, { name: "ratings", version: "1.0.0" });
      return "ratings-1.0.0.zip";
    },
  },
  ...NAMES.map((name, i): Hostile => ({
    what: `a pack named ${JSON.stringify(name)}`,
    code: "PACK_NAME_INVALID",
    command: ["install", "--yes"],
    build: (app) => rawPack(app, `named-${i}.zip`, name),
    check: "PACK_NAME_INVALID",
  })),
  {
    what: "an app bundle writing into packs/",
    code: "BUNDLE_PROTECTED_PATH",
    command: ["install", "--yes"],
    build: async (app) => {
      await pendingRelease(app.dir, "1.1.0", {
        "packs/reviews/mod.ts": "export const evil = 1;\n",
      });
      return "testapp-1.1.0.zip";
    },
    check: "BUNDLE_PROTECTED_PATH",
  },
  {
    what: "a pack bundle for a name outside packs.allow",
    code: "PACK_NOT_ALLOWED",
    command: ["pack", "install", "ratings", "--yes"],
    config: () => Promise.resolve({ packs: { allow: ["reviews"] } }),
    build: async (app) => {
      await pendingPack(app.dir, { name: "ratings", version: "1.0.0" });
      return "ratings-1.0.0.zip";
    },
    check: "PACK_NOT_ALLOWED",
  },
  {
    what: "a replayed older pack version",
    code: "BUNDLE_VERSION_REFUSED",
    command: ["install", "--yes"],
    build: async (app) => {
      await pendingPack(app.dir, { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 });
      return "reviews-0.1.0.zip";
    },
    check: "BUNDLE_VERSION_REFUSED",
  },
  {
    what: "a pack bundle signed by an untrusted key",
    code: "BUNDLE_SIGNATURE_INVALID",
    command: ["install", "--yes"],
    config: async (work) => {
      const trusted = await keygen(join(work, `trusted-${crypto.randomUUID()}.key`));
      return { trust: { keys: [trusted.trustEntry] } };
    },
    build: async (app, work) => {
      const other = await keygen(join(work, `other-${crypto.randomUUID()}.key`));
      await pendingPack(app.dir, { name: "reviews", version: "0.3.0", migrations: REVIEWS_020 }, {
        signWith: other.path,
      });
      return "reviews-0.3.0.zip";
    },
    check: "BUNDLE_SIGNATURE_INVALID",
  },
];

/** What must not change: the tree (updates/ and data/ aside), state.json, the ledger. */
async function snapshot(app: TestApp): Promise<unknown> {
  return {
    tree: await treeHash(app.dir, ["updates", "data"]),
    state: await Deno.readTextFile(join(app.dir, "updates/state.json")),
    ledger: await app.dbs.main!.query("select id, checksum from lockstep_migrations order by id"),
    tables: await app.dbs.main!.tables(),
  };
}

for (const backend of BACKENDS) {
  Deno.test(`packs: hostile pack bundles are refused before the first write, the tree unchanged, the bundle left in pending/ (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: { core: { files: CORE }, orders: {}, Reports: {} },
      files: { "app/main.ts": "console.log('1.0.0');\n" },
    });
    await using work = await tempDir();
    const cli = cliOf(app);
    assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
    await pendingPack(app.dir, { name: "reviews", version: "0.2.0", migrations: REVIEWS_020 });
    assertEquals((await cli(["pack", "install", "reviews", "--yes"])).code, 0);
    const configText = await Deno.readTextFile(app.configPath);
    const byName = await cli(["pack", "install", "../core", "--yes"]);
    assertEquals(byName.code, 1);
    assertMatch(byName.stderr, /PACK_NAME_INVALID/);

    for (const c of CASES) {
      if (c.config) {
        const extra = await c.config(work.path);
        await Deno.writeTextFile(
          app.configPath,
          JSON.stringify({ ...JSON.parse(configText), ...extra }),
        );
      }
      const file = await c.build(app, work.path);
      const before = await snapshot(app);
      const result = await cli(c.command);
      const said = result.stdout + result.stderr;
      assertEquals(result.code, 1, `${c.what}: ${said}`);
      assertMatch(said, new RegExp(c.code), c.what);
      assertEquals(await snapshot(app), before, `${c.what}: something changed`);
      assert((await pendingFiles(app)).includes(file), `${c.what}: the bundle left pending/`);
      if (c.check) {
        const [, problems] = await checkCodes(cli);
        assert(problems.includes(c.check), `${c.what}: check says ${problems.join(", ")}`);
      }
      await Deno.remove(join(app.dir, "updates/pending", file));
      await Deno.remove(join(app.dir, "packs/ratings"), { recursive: true }).catch(() => {});
      await Deno.writeTextFile(app.configPath, configText);
    }
    assertEquals((await checkCodes(cli)).slice(0, 2), [0, []]);
  });
}
