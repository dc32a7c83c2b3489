/**
 * Packs from the update feed, end to end through the CLI with the README's
 * flags: a feed (a mirror folder) offers a real pack bundle; `pack install
 * NAME` with nothing in `pending/` fetches it from the index `feed check`
 * accepted and installs it; the pack's next release comes through `feed
 * check` → `feed fetch` → `update`. A pack the feed does not offer is still
 * `PACK_NOT_FOUND`, with nothing changed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createBundle } from "../mod.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";
import { CORE, REVIEWS_010, REVIEWS_020, writePackRelease } from "./helpers/packs.ts";
import { tempDir } from "./helpers/temp.ts";

/** Packs `reviews` at `version` into the feed's folder and adds its entry to the next index. */
async function offerPack(
  sim: FeedSimulator,
  version: string,
  migrations: Record<string, string>,
): Promise<void> {
  await using work = await tempDir();
  const from = await writePackRelease(work.path, {
    name: "reviews",
    version,
    source: sim.app,
    migrations,
    requires: { app: ">=1.0.0 <2" },
  });
  const file = `packs/reviews-${version}.zip`;
  await Deno.mkdir(join(sim.dir, "packs"), { recursive: true });
  await createBundle({
    from,
    app: sim.app,
    version,
    pack: "reviews",
    out: join(sim.dir, file),
    ...(version === "0.1.0" ? {} : { upgradesFrom: "^0.1.0" }),
  });
  const bytes = await Deno.readFile(join(sim.dir, file));
  sim.entries.push({
    kind: "pack",
    name: "reviews",
    version,
    file,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
    requires: { app: ">=1.0.0 <2" },
    notes: `reviews ${version}`,
    database: [`reviews ${version}: its tables`],
  });
}

for (const backend of BACKENDS) {
  Deno.test(`packs from the feed: pack install fetches a pack the feed offers, feed fetch and update bring its next release (${backend})`, async () => {
    await using sim = await FeedSimulator.create();
    await offerPack(sim, "0.1.0", REVIEWS_010);
    await sim.publish();
    await using app = await makeApp(backend, {
      packages: { core: { files: CORE } },
      files: { "app/main.ts": "console.log('1.0.0');\n" },
      extra: { feed: { url: sim.dir, keys: [sim.key.trust] } },
    });
    const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
    const flags = [...documentedFlags(app.dir, { postgres }), `--allow-read=${sim.dir}`];
    const cli = (...args: string[]) => runCli(flags, [...args, "--config", app.configPath]);
    assertEquals((await cli("migrate", "--yes")).code, 0);
    // A pack not installed is offered, not an update: feed check exits 0 and lists it.
    const offered = await cli("feed", "check", "--json");
    assertEquals(offered.code, 0, offered.stderr);
    assertEquals(
      JSON.parse(offered.stdout).entries.map((e: { name: string; state: string }) =>
        `${e.name}: ${e.state}`
      ),
      ["reviews: not-installed"],
    );

    // A pack the feed does not offer: nothing is fetched, nothing changes.
    const unknown = await cli("pack", "install", "ratings", "--yes", "--json");
    assertEquals(unknown.code, 1);
    assertEquals(JSON.parse(unknown.stdout).error.code, "PACK_NOT_FOUND");

    const installed = await cli("pack", "install", "reviews", "--yes");
    assertEquals(installed.code, 0, installed.stderr);
    const list = JSON.parse((await cli("pack", "list", "--json")).stdout);
    const reviews = list.packs.find((p: { name: string }) => p.name === "reviews");
    assertEquals([reviews.version, reviews.source, reviews.enabled], ["0.1.0", sim.app, true]);
    assert((await app.dbs.main!.tables()).includes("reviews"));
    assertEquals((await cli("check")).code, 0);

    // Its next release: the feed offers it, feed fetch takes it, update installs it.
    sim.seq++;
    await offerPack(sim, "0.2.0", REVIEWS_020);
    await sim.publish();
    assertEquals((await cli("feed", "check")).code, 7);
    const fetched = await cli("feed", "fetch", "reviews", "--json");
    assertEquals(fetched.code, 0, fetched.stderr);
    assertEquals(
      JSON.parse(fetched.stdout).bundles.map((b: { file: string }) => b.file),
      ["reviews-0.2.0.zip"],
    );
    assertEquals((await cli("check")).code, 3);
    assertEquals((await cli("update", "--yes")).code, 0);
    const after = JSON.parse((await cli("pack", "list", "--json")).stdout);
    assertEquals(after.packs.find((p: { name: string }) => p.name === "reviews").version, "0.2.0");
    assertEquals((await cli("check")).code, 0);
  });
}
