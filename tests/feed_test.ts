/**
 * The update feed's happy paths, in process, on both transports (HTTP on a
 * loopback server and a mirror folder): `feedCheck` accepts and keeps a
 * signed index and says what applies, `feedFetch` fills `pending/`, `check`
 * sees the bundle (and the feed's warnings, offline), and the server saw
 * only plain GETs with no query, cookies or host identification.
 *
 * @module
 */
import { join } from "node:path";
import { backup, check, feedCheck, feedFetch, feedStatus, restore } from "../mod.ts";
import { assert, assertEquals, rejectsWith } from "./helpers/assert.ts";
import { feedApp, TRANSPORTS } from "./helpers/feed_app.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";

const RELEASE = { "app/main.ts": "console.log('1.1.0');\n" };

for (const transport of TRANSPORTS) {
  Deno.test(`feed: check accepts a signed index, fetch puts the bundle in pending/, check sees it (${transport})`, async () => {
    await using sim = await FeedSimulator.create();
    await sim.addBundle({ version: "1.1.0", upgradesFrom: ">=1.0.0 <1.1.0", files: RELEASE });
    await sim.publish();
    await using app = await feedApp(sim, transport);
    const config = await app.config();

    const result = await feedCheck(config);
    assertEquals([result.exitCode, result.seq, result.accepted, result.key], [
      7,
      1,
      "new",
      "feed1",
    ]);
    assertEquals(result.entries.map((s) => [s.name, s.installed, s.offered, s.state]), [
      ["testapp", "1.0.0", "1.1.0", "update"],
    ]);
    const saved = JSON.parse(await Deno.readTextFile(join(app.dir, "updates/state.json"))).feed;
    assertEquals(saved.channels.stable.seq, 1);
    assertEquals(saved.clockFloor, sim.index().issued);

    const fetched = await feedFetch(config, { names: ["testapp"] });
    assertEquals(fetched.bundles.map((b) => [b.file, b.outcome]), [[
      "testapp-1.1.0.zip",
      "fetched",
    ]]);
    assertEquals(
      (await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))).map((e) => e.name),
      ["testapp-1.1.0.zip"],
    );
    const again = await feedFetch(config, { names: ["testapp"] });
    assertEquals(again.bundles.map((b) => b.outcome), ["pending"], "never downloaded twice");

    const report = await check(config);
    assertEquals(report.exitCode, 3);
    assertEquals(report.feed?.seq, 1);
    assertEquals(report.feed?.stale, null);
    assertEquals(report.problems.map((p) => p.code), ["BUNDLES_PENDING"]);

    const status = await feedStatus(config);
    assertEquals([status.saved?.seq, status.stale, status.exitCode], [1, null, 7]);
    if (transport === "http") {
      assertEquals(sim.paths(), [
        "/feed-stable.json",
        "/feed-stable.sig",
        "/testapp-1.1.0.zip",
      ]);
      for (const request of sim.requests) {
        assertEquals(request.method, "GET");
        assert(!request.path.includes("?"), "no query");
        assertEquals(request.headers["accept-encoding"], "identity");
        assertEquals(request.headers["user-agent"], "lockstep");
        assertEquals(request.headers.cookie, undefined);
        assertEquals(
          Object.keys(request.headers).sort(),
          ["accept", "accept-encoding", "accept-language", "host", "user-agent"],
          "nothing that identifies the host or what it runs",
        );
      }
    }
  });
}

Deno.test("feed: a same-origin redirect is followed, and a feed with only feed.json is read", async () => {
  await using sim = await FeedSimulator.create();
  await sim.addBundle({ version: "1.1.0", files: RELEASE });
  await sim.publish({ name: "feed" });
  await Deno.mkdir(join(sim.dir, "v2"));
  await Deno.copyFile(join(sim.dir, "feed.json"), join(sim.dir, "v2/feed.json"));
  sim.faults.set("/feed.json", { kind: "redirect", location: "/v2/feed.json", status: 301 });
  await using app = await feedApp(sim, "http");
  const result = await feedCheck(await app.config());
  assertEquals([result.exitCode, result.seq], [7, 1]);
  assertEquals(sim.paths(), ["/feed-stable.json", "/feed.json", "/v2/feed.json", "/feed.sig"]);
});

Deno.test("feed: --allow-expired accepts an expired index (kept, marked) and fetch may use it; the seq rule still holds", async () => {
  await using sim = await FeedSimulator.create();
  await sim.addBundle({ version: "1.1.0", files: RELEASE });
  sim.issued = new Date(Date.now() - 30 * 86_400_000);
  await sim.publish();
  await using app = await feedApp(sim, "folder");
  const config = await app.config();
  await rejectsWith(feedCheck(config), "FEED_EXPIRED");
  const looked = await feedCheck(config, { allowExpired: true });
  assertEquals([looked.expired, looked.exitCode], [true, 7]);
  assertEquals((await feedStatus(config)).saved?.expiredAccepted, true);
  assertEquals((await feedFetch(config, { names: ["testapp"] })).bundles.length, 1);
  await sim.publish({ overrides: { seq: 0 } });
  await rejectsWith(feedCheck(config, { allowExpired: true }), "FEED_ROLLBACK");
});

Deno.test("feed: the record in state.json never goes back, even when a restore writes an older state.json", async () => {
  await using sim = await FeedSimulator.create();
  await sim.publish();
  await using app = await feedApp(sim, "folder");
  const config = await app.config();
  await feedCheck(config);
  const taken = await backup(config, { label: "seq-1" });
  sim.seq = 2;
  await sim.publish();
  await feedCheck(config);
  await restore(config, taken.id, { backup: false, maintenance: false });
  const state = JSON.parse(await Deno.readTextFile(join(app.dir, "updates/state.json")));
  assertEquals(state.feed.channels.stable.seq, 2, "a restored state.json cannot reopen a rollback");
  sim.seq = 1;
  await sim.publish();
  await rejectsWith(feedCheck(config), "FEED_ROLLBACK");
});
