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
import { check, feedCheck, feedFetch, feedStatus } from "../mod.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
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
