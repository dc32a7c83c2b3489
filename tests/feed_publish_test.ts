/**
 * The publisher's tools and the `feed` section of lockstep.json: `buildFeed`
 * takes each bundle's hash, size and manifest fields, copies the bundles,
 * never changes a published file, and refuses a `seq` that does not rise;
 * `signFeed` signs what `feedCheck` then accepts; `resolveConfig` reads the
 * `feed` section strictly, with its defaults.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildFeed, keygen, resolveConfig, signFeed } from "../mod.ts";
import { assertEquals, assertMatch, rejectsWith, throwsWith } from "./helpers/assert.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { tempDir } from "./helpers/temp.ts";

Deno.test("buildFeed() indexes a folder of bundles from their manifests and copies them beside the index", async () => {
  await using dir = await tempDir();
  const from = join(dir.path, "releases");
  await Deno.mkdir(join(from, "old"), { recursive: true });
  await writeBundle(join(from, "shop-1.5.0.zip"), {
    app: "shop",
    version: "1.5.0",
    upgradesFrom: ">=1.4.0 <1.5.0",
    security: true,
    notes: "Fixes a hole.",
    manifest: { database: ["core: adds an index"], requires: { deno: ">=2.9" } },
    files: { "a.ts": "5" },
  });
  await writeBundle(join(from, "old/shop-1.4.0.zip"), {
    app: "shop",
    version: "1.4.0",
    files: { "a.ts": "4" },
  });
  await Deno.writeTextFile(join(from, ".hidden.zip"), "not a bundle, and hidden");
  const out = join(dir.path, "public");
  const now = new Date("2026-11-01T10:00:00.500Z");
  const built = await buildFeed({ from, out, seq: 43, expires: "14d", now });
  assertEquals(built.index, join(out, "feed-stable.json"));
  assertEquals(built.copied, 2);
  const { feed } = built;
  assertEquals([feed.app, feed.channel, feed.seq, feed.issued, feed.expires], [
    "shop",
    "stable",
    43,
    "2026-11-01T10:00:00Z",
    "2026-11-15T10:00:00Z",
  ]);
  const bytes = await Deno.readFile(join(out, "shop-1.5.0.zip"));
  assertEquals(feed.entries.map((e) => [e.name, e.version, e.file]), [
    ["shop", "1.4.0", "old/shop-1.4.0.zip"],
    ["shop", "1.5.0", "shop-1.5.0.zip"],
  ]);
  assertEquals(feed.entries[1], {
    kind: "app",
    name: "shop",
    version: "1.5.0",
    file: "shop-1.5.0.zip",
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
    upgradesFrom: ">=1.4.0 <1.5.0",
    requires: { deno: ">=2.9" },
    released: "2026-11-01T00:00:00Z",
    security: { level: "critical", below: "1.5.0", advisories: [] },
    notes: "Fixes a hole.",
    database: ["core: adds an index"],
  });
  const key = await keygen(join(dir.path, "feed.key"), { keyId: "feed1" });
  const signed = await signFeed(built.index, key.path);
  assertEquals([signed.key, signed.seq, signed.signature], [
    "feed1",
    43,
    join(out, "feed-stable.sig"),
  ]);

  const again = await rejectsWith(
    buildFeed({ from, out, seq: 43, expires: "14d" }),
    "FEED_ROLLBACK",
  );
  assertMatch(again.message, /--seq 44/);
  const next = await buildFeed({ from, out, seq: 44, expires: "2w", channel: "stable" });
  assertEquals(next.copied, 0, "identical bundles stay");
  await Deno.stat(join(out, "feed-stable.sig")).then(
    () => Promise.reject(new Error("the old signature must go with the index it signed")),
    () => undefined,
  );
  await writeBundle(join(from, "shop-1.5.0.zip"), {
    app: "shop",
    version: "1.5.0",
    files: { "a.ts": "changed" },
  });
  await rejectsWith(buildFeed({ from, out, seq: 45, expires: "1d" }), "FEED_INVALID");
});

Deno.test("buildFeed() refuses bundles of two apps, an empty folder and a bad duration", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "empty"));
  await rejectsWith(
    buildFeed({ from: join(dir.path, "empty"), out: join(dir.path, "o"), seq: 1, expires: "1d" }),
    "FEED_INVALID",
  );
  await writeBundle(join(dir.path, "a-1.0.0.zip"), { app: "a", version: "1.0.0" });
  await writeBundle(join(dir.path, "b-1.0.0.zip"), { app: "b", version: "1.0.0" });
  const two = await rejectsWith(
    buildFeed({ from: dir.path, out: join(dir.path, "o"), seq: 1, expires: "1d" }),
    "FEED_INVALID",
  );
  assertMatch(two.message, /several apps \(a, b\)/);
  for (const expires of ["14", "0d", "1y", "-1d"]) {
    await rejectsWith(
      buildFeed({ from: dir.path, out: join(dir.path, "o"), seq: 1, expires }),
      "USAGE",
    );
  }
  await rejectsWith(signFeed(join(dir.path, "a-1.0.0.zip"), "k"), "USAGE");
});

const KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const resolve = (feed: unknown, extra: Record<string, unknown> = {}) =>
  resolveConfig("/srv/shop/lockstep.json", JSON.stringify({ app: "shop", feed, ...extra }));

Deno.test("resolveConfig() reads the feed section with its defaults, and refuses what is wrong in it", () => {
  assertEquals(resolve(undefined).feed, null);
  assertEquals(resolve({ url: "https://updates.example.com/shop", keys: [`feed1:${KEY}`] }).feed, {
    url: "https://updates.example.com/shop/",
    channel: "stable",
    keys: [`feed1:${KEY}`],
    fetch: "security",
    block: [],
    hold: [],
    timeoutSeconds: 60,
    maxAgeDays: 30,
    minValidDays: 0,
    clock: "trusted",
  });
  assertEquals(
    resolve({ url: "mirror" }, { trust: { keys: [`r:${KEY}`] } }).feed?.url,
    "/srv/shop/mirror",
  );
  assertEquals(
    resolve({ url: "file:///media/usb/shop" }, { trust: { keys: [`r:${KEY}`] } }).feed?.url,
    "/media/usb/shop",
  );
  const cases: [unknown, RegExp][] = [
    [
      { url: "https://x/", keys: [`f:${KEY}`], fetsh: "all" },
      /unknown key "fetsh".*did you mean "fetch"/,
    ],
    [{ url: "https://u:p@x/", keys: [`f:${KEY}`] }, /must not hold credentials/],
    [{ url: "https://x/?token=1", keys: [`f:${KEY}`] }, /query/],
    [{ url: "ftp://x/", keys: [`f:${KEY}`] }, /http\(s\):\/\/ URL or a folder/],
    [{ url: "https://x/" }, /needs a key/],
    [{ url: "https://x/", keys: ["f:AAAA"] }, /"feed.keys" entry 1/],
    [{ url: "https://x/", keys: [`f:${KEY}`], fetch: "some" }, /"feed.fetch"/],
    [{ url: "https://x/", keys: [`f:${KEY}`], clock: "wrong" }, /"feed.clock"/],
    [{ url: "https://x/", keys: [`f:${KEY}`], channel: "Beta/1" }, /"feed.channel"/],
    [{ url: "https://x/", keys: [`f:${KEY}`], timeoutSeconds: 0 }, /"feed.timeoutSeconds"/],
  ];
  for (const [feed, message] of cases) {
    assertMatch(throwsWith(() => resolve(feed), "CONFIG_INVALID").message, message);
  }
  assertEquals(resolve(undefined, { limits: { feedEntries: 5 } }).limits.feedEntries, 5);
});
