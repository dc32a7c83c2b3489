/**
 * Issue 13, "a kill at each step of `pack install` and `pack remove`"
 * (SIGKILL-like exit, no clean-up, `LOCKSTEP_FAULT`): `recover` then leaves
 * the old tree or the new one, never a mix, `check` says what is left to
 * do, and the operator's next command (`pack install` or `pack remove`
 * again, or `migrate`, and `maintenance off`) ends with check 0. Every step
 * on SQLite; on PostgreSQL the steps that touch the database and one of the
 * journal's (the journal's steps do not depend on the database).
 *
 * @module
 */
import { join } from "node:path";
import { assertEquals } from "./helpers/assert.ts";
import { type Backend, type TestApp } from "./helpers/app.ts";
import { treeHash } from "./helpers/bundles.ts";
import {
  checkCodes,
  cliOf,
  packApp,
  pendingFiles,
  pendingPack,
  REVIEWS_010,
} from "./helpers/packs.ts";

interface Kill {
  /** The command killed. */
  readonly command: "install" | "remove" | "remove --purge";
  /** Where it dies. */
  readonly fault: string;
  /** The tree `recover` leaves. */
  readonly tree: "old" | "new";
  /** Also run on PostgreSQL. */
  readonly postgres?: boolean;
}

const KILLS: readonly Kill[] = [
  ...([
    ["pack-install:check", "old", true],
    ["pack-install:backup", "old"],
    ["pack-install:maintenance", "old"],
    ["staged", "old"],
    ["journaled", "old", true],
    ["moved:1", "old"],
    ["moved:3", "old"],
    ["committed", "new", true],
    ["recorded", "new"],
    ["kept", "new"],
    ["pack-install:install", "new", true],
    ["migrate:applied:1", "new", true],
    ["pack-install:migrate", "new", true],
    ["pack-install:record", "new"],
  ] as const).map(([fault, tree, postgres]) => ({
    command: "install" as const,
    fault,
    tree,
    postgres: postgres === true,
  })),
  ...([
    ["pack-remove:check", "old", true],
    ["pack-remove:backup", "old"],
    ["pack-remove:maintenance", "old"],
    ["staged", "old"],
    ["journaled", "old"],
    ["deleted:1", "old", true],
    ["deleted:3", "old"],
    ["committed", "new", true],
    ["pack-remove:remove", "new", true],
    ["pack-remove:record", "new"],
  ] as const).map(([fault, tree, postgres]) => ({
    command: "remove" as const,
    fault,
    tree,
    postgres: postgres === true,
  })),
  { command: "remove --purge", fault: "pack-remove:purge", tree: "old", postgres: true },
  { command: "remove --purge", fault: "pack-remove:remove", tree: "new", postgres: true },
];

/** The app's files (updates/ and data/ aside; folders left empty do not count). */
async function files(app: TestApp): Promise<Record<string, string>> {
  const tree = await treeHash(app.dir, ["updates", "data"]);
  return Object.fromEntries(Object.entries(tree).filter(([path]) => !path.endsWith("/")));
}

const release = { name: "reviews", version: "0.1.0", migrations: REVIEWS_010 };

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  for (const kill of KILLS) {
    if (backend === "postgres" && !kill.postgres) continue;
    Deno.test(`packs: pack ${kill.command} killed after ${kill.fault}: recover leaves the ${kill.tree} tree, and the next command ends with check 0 (${backend})`, async () => {
      await using app = await packApp(backend);
      const cli = cliOf(app);
      assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
      const without = await files(app);
      await pendingPack(app.dir, release);
      if (kill.command !== "install") {
        assertEquals((await cli(["pack", "install", "reviews", "--yes"])).code, 0);
      }
      const withPack = await files(app);
      if (kill.command === "install") {
        // The new tree, for comparison: the same install in a twin app.
        await using twin = await packApp("sqlite");
        await pendingPack(twin.dir, release);
        const done = await cliOf(twin)(["pack", "install", "reviews", "--yes"]);
        assertEquals(done.code, 0, done.stdout + done.stderr);
        for (const [path, hash] of Object.entries(await files(twin))) {
          if (path.startsWith("packs/")) withPack[path] = hash;
        }
      }
      const [oldTree, newTree] = kill.command === "install"
        ? [without, withPack]
        : [withPack, without];

      const args = kill.command === "install" ? ["pack", "install", "reviews", "--yes"] : [
        "pack",
        "remove",
        "reviews",
        "--yes",
        ...(kill.command.endsWith("--purge") ? ["--purge"] : []),
      ];
      const killed = await cli(args, { LOCKSTEP_FAULT: kill.fault });
      assertEquals(killed.code, 137, `the fault did not fire: ${killed.stdout}${killed.stderr}`);

      const recovered = await cli(["recover"]);
      assertEquals(recovered.code, 0, recovered.stdout + recovered.stderr);
      const tree = await files(app);
      assertEquals(tree, kill.tree === "old" ? oldTree : newTree, "recover left a mix");

      // The operator's next step.
      if (kill.tree === "old") {
        const again = await cli(args);
        assertEquals(again.code, 0, again.stdout + again.stderr);
      } else if (kill.command === "install") {
        assertEquals((await cli(["migrate", "--yes", "--no-backup"])).code, 0);
      }
      await cli(["maintenance", "off"]);
      const [code, problems] = await checkCodes(cli);
      assertEquals([code, problems], [0, []]);
      assertEquals(await files(app), newTree);
      const installed = kill.command === "install";
      assertEquals(await pendingFiles(app), []);
      assertEquals(
        (await app.dbs.main!.tables()).includes("reviews"),
        installed || kill.command === "remove",
      );
      assertEquals(
        await Deno.lstat(join(app.dir, "packs/reviews/mod.ts")).then(() => true, () => false),
        installed,
      );
    });
  }
}
