/**
 * The operator's side of the feed, through the simulator on both
 * transports: packs matched by `source` only (a `local` pack named like a
 * feed pack is never matched), blocked names never requested, held names
 * shown and never fetched, releases at or below the high-water mark never
 * fetched, `feed.fetch` and `--security-only`, a switch from beta to stable
 * that offers no downgrade, and `check`'s warnings from the saved feed
 * (`SECURITY_UPDATE_AVAILABLE`, `FEED_STALE`, `CLOCK_SUSPECT`), which never
 * change its exit code. Installed packs are written into state.json as
 * DESIGN.md "Packs" records them (the seam in `lib/feed/packs.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { check, feedCheck, feedFetch, feedStatus } from "../mod.ts";
import { feedSummary } from "../lib/feed/status.ts";
import { assertEquals, rejectsWith } from "./helpers/assert.ts";
import type { TestApp } from "./helpers/app.ts";
import { feedApp, feedSnapshot, TRANSPORTS } from "./helpers/feed_app.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";

const DAY = 86_400_000;

/** Records installed packs in state.json as DESIGN.md "Packs" has them. */
async function installPacks(
  app: TestApp,
  packs: Record<string, { version: string; source: string }>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const records = Object.fromEntries(
    Object.entries(packs).map(([name, p]) => [name, { ...p, highWater: p.version, enabled: true }]),
  );
  // Each pack's folder with its declaration, as `pack install` leaves it.
  for (const [name, p] of Object.entries(packs)) {
    await app.write(
      `packs/${name}/lockstep-package.json`,
      JSON.stringify({ format: 1, name, version: p.version, source: p.source, requires: {} }),
    );
  }
  await app.write(
    "updates/state.json",
    JSON.stringify({
      installed: "1.0.0",
      highWater: "1.0.0",
      history: [],
      requires: {},
      packs: records,
      ...extra,
    }),
  );
}

/** A pack entry whose bundle is an app bundle (packs land with issue 13; the feed judges entries). */
async function packEntry(sim: FeedSimulator, name: string, version: string, fields = {}) {
  return await sim.addBundle(
    { version, file: `packs/${name}-${version}.zip`, kind: "pack", name, files: { "x.ts": name } },
    fields,
  );
}

const names = (app: TestApp) =>
  Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))
    .then((e) => e.map((x) => x.name).sort()).catch(() => []);

for (const transport of TRANSPORTS) {
  Deno.test(`feed: a local pack named like a feed pack is never matched; a pack from this feed is (${transport})`, async () => {
    await using sim = await FeedSimulator.create();
    await packEntry(sim, "orders", "0.4.0");
    await packEntry(sim, "billing", "2.1.0");
    await sim.publish();
    await using app = await feedApp(sim, transport, { feed: { fetch: "all" } });
    await installPacks(app, {
      orders: { version: "0.3.0", source: "local" },
      billing: { version: "2.0.0", source: "testapp" },
    });
    const config = await app.config();
    const result = await feedCheck(config);
    assertEquals(result.entries.map((s) => `${s.name}: ${s.state}`), [
      "orders: other-source",
      "billing: update",
    ]);
    assertEquals(result.exitCode, 7);
    const before = await feedSnapshot(app);
    const asked = sim.requests.length;
    const error = await rejectsWith(feedFetch(config, { names: ["orders"] }), "FEED_ENTRY_REFUSED");
    assertEquals(String(error.data.reason).includes("local"), true, error.message);
    assertEquals(await feedSnapshot(app), before);
    // A pack entry whose file is an app bundle: its own manifest names no pack.
    await rejectsWith(feedFetch(config, { names: ["billing"] }), "FEED_DOWNLOAD_MISMATCH");
    assertEquals(await feedSnapshot(app), before);
    if (transport === "http") {
      assertEquals(
        sim.paths().slice(asked),
        ["/packs/billing-2.1.0.zip"],
        "orders never requested",
      );
    }
  });

  Deno.test(`feed: a blocked pack is never requested; a held pack is shown and never fetched (${transport})`, async () => {
    await using sim = await FeedSimulator.create();
    await packEntry(sim, "legacy", "2.0.0", { security: { level: "critical" } });
    await packEntry(sim, "reports", "1.1.0", { security: { level: "critical" } });
    await sim.publish();
    await using app = await feedApp(sim, transport, {
      feed: { fetch: "all", block: ["legacy"], hold: ["reports"] },
    });
    await installPacks(app, {
      legacy: { version: "1.0.0", source: "testapp" },
      reports: { version: "1.0.0", source: "testapp" },
    });
    const config = await app.config();
    const result = await feedCheck(config);
    assertEquals(result.entries.map((s) => `${s.name}: ${s.state}`), ["reports: held"]);
    assertEquals(result.exitCode, 0, "held and blocked names never give 7 or 8");
    const asked = sim.requests.length;
    assertEquals((await feedFetch(config)).bundles, [], "feed.fetch all takes nothing held");
    const before = await feedSnapshot(app);
    await rejectsWith(feedFetch(config, { names: ["reports"] }), "FEED_ENTRY_REFUSED");
    await rejectsWith(feedFetch(config, { names: ["legacy"] }), "FEED_ENTRY_REFUSED");
    assertEquals(await feedSnapshot(app), before);
    assertEquals(sim.paths().slice(asked), [], "nothing of legacy or reports was requested");
    const report = await check(config);
    assertEquals(report.problems.map((p) => p.code), [], "no security warning for held or blocked");
  });

  Deno.test(`feed: a release at or below the high-water mark is never fetched (${transport})`, async () => {
    await using sim = await FeedSimulator.create();
    await sim.addBundle({ version: "1.1.0", files: { "a.ts": "1" } });
    await sim.addBundle({ version: "1.2.0", files: { "a.ts": "2" } });
    await sim.publish();
    await using app = await feedApp(sim, transport, { feed: { fetch: "all" } });
    // Restored to 1.0.0 after 1.2.0 had been installed.
    await installPacks(app, {}, { highWater: "1.2.0" });
    const config = await app.config();
    const result = await feedCheck(config);
    assertEquals(result.entries.map((s) => s.state), ["below-high-water", "below-high-water"]);
    assertEquals(result.exitCode, 0);
    const before = await feedSnapshot(app);
    const asked = sim.requests.length;
    await rejectsWith(feedFetch(config, { names: ["testapp"] }), "BUNDLE_VERSION_REFUSED");
    assertEquals((await feedFetch(config)).bundles, []);
    assertEquals(await feedSnapshot(app), before);
    assertEquals(sim.paths().slice(asked), []);
  });

  Deno.test(`feed: switching from beta to stable never allows a downgrade (${transport})`, async () => {
    await using sim = await FeedSimulator.create();
    sim.channel = "beta";
    sim.seq = 40;
    await sim.addBundle({ version: "1.2.0-beta.1", files: { "a.ts": "b" } });
    await sim.publish();
    sim.channel = "stable";
    sim.seq = 3;
    sim.entries = [];
    await sim.addBundle({ version: "1.1.0", files: { "a.ts": "1" } });
    await sim.addBundle({ version: "1.1.1", files: { "a.ts": "1.1" } }, {
      security: { level: "critical" },
    });
    await sim.publish();
    await using app = await feedApp(sim, transport, { feed: { channel: "beta", fetch: "all" } });
    assertEquals((await feedCheck(await app.config())).exitCode, 7);
    assertEquals((await feedFetch(await app.config())).bundles.map((b) => b.version), [
      "1.2.0-beta.1",
    ]);
    // The beta is installed (as update would): then the host follows stable.
    await app.write("VERSION", "1.2.0-beta.1\n");
    await Deno.remove(join(app.dir, "updates/pending/testapp-1.2.0-beta.1.zip"));
    const config = JSON.parse(await Deno.readTextFile(app.configPath));
    config.feed.channel = "stable";
    await Deno.writeTextFile(app.configPath, JSON.stringify(config));
    const stable = await feedCheck(await app.config());
    assertEquals(stable.seq, 3, "seq is per channel: 3 after beta's 40 is no rollback");
    assertEquals(stable.entries.map((s) => `${s.offered}: ${s.state}`), [
      "1.1.0: older",
      "1.1.1: older",
    ]);
    assertEquals(stable.exitCode, 0, "a critical flag below the installed beta is not for it");
    await rejectsWith(
      feedFetch(await app.config(), { names: ["testapp"] }),
      "BUNDLE_VERSION_REFUSED",
    );
    assertEquals(await names(app), []);
  });
}

Deno.test("feed: feed.fetch decides what an unattended fetch takes, --security-only narrows it, a chain comes whole", async () => {
  await using sim = await FeedSimulator.create();
  await sim.addBundle({ version: "1.1.0", upgradesFrom: ">=1.0.0 <1.1.0", files: { "a.ts": "1" } });
  await sim.addBundle(
    { version: "1.2.0", upgradesFrom: ">=1.1.0 <1.2.0", files: { "a.ts": "2" } },
    {
      security: { level: "high", advisories: ["CVE-2026-0002"] },
    },
  );
  await sim.addBundle({ version: "1.3.0", upgradesFrom: ">=1.2.0 <1.3.0", files: { "a.ts": "3" } });
  await sim.publish();
  for (
    const [policy, securityOnly, expected] of [
      ["none", false, []],
      ["security", false, ["1.1.0", "1.2.0"]],
      ["all", false, ["1.1.0", "1.2.0", "1.3.0"]],
      ["all", true, ["1.1.0", "1.2.0"]],
    ] as const
  ) {
    await using app = await feedApp(sim, "folder", { feed: { fetch: policy } });
    await feedCheck(await app.config());
    const result = await feedFetch(await app.config(), { securityOnly });
    assertEquals(result.bundles.map((b) => b.version), [...expected], `${policy} ${securityOnly}`);
    assertEquals(await names(app), expected.map((v) => `testapp-${v}.zip`));
  }
});

Deno.test("check warns SECURITY_UPDATE_AVAILABLE, FEED_STALE and CLOCK_SUSPECT from the saved feed, exit code unchanged", async () => {
  await using sim = await FeedSimulator.create();
  await sim.addBundle({ version: "1.1.0", files: { "a.ts": "1" } }, {
    security: { level: "critical", advisories: ["CVE-2026-0001"] },
  });
  await sim.publish();
  await using app = await feedApp(sim, "folder");
  const config = await app.config();
  const never = await check(config);
  assertEquals([never.exitCode, never.problems.map((p) => p.code)], [0, ["FEED_STALE"]]);
  assertEquals(never.feed?.seq, null);

  assertEquals((await feedCheck(config)).exitCode, 8);
  const flagged = await check(config);
  assertEquals(flagged.exitCode, 0, "a critical flag is never a kill switch");
  assertEquals(flagged.problems.map((p) => [p.code, p.severity]), [[
    "SECURITY_UPDATE_AVAILABLE",
    "warning",
  ]]);
  assertEquals(flagged.feed?.updates, [
    { kind: "app", name: "testapp", installed: "1.0.0", offered: "1.1.0", security: "critical" },
  ]);

  const old = await feedSummary(config, new Date(Date.now() + 31 * DAY));
  assertEquals(old.problems.map((p) => p.code), ["SECURITY_UPDATE_AVAILABLE", "FEED_STALE"]);
  const behind = await feedSummary(config, new Date(Date.now() - 365 * DAY));
  assertEquals(behind.problems.map((p) => p.code), ["SECURITY_UPDATE_AVAILABLE", "CLOCK_SUSPECT"]);

  await Deno.writeTextFile(join(app.dir, "updates/feed/feed-stable.json"), "{}");
  const damaged = await check(config);
  assertEquals(
    damaged.problems.map((p) => p.code),
    ["FEED_STALE"],
    "a changed saved index vouches for nothing",
  );
  assertEquals((await feedStatus(config)).entries, []);
  await rejectsWith(feedFetch(config), "FEED_STALE");
});
