/**
 * The feed's rules as pure functions, each case built inline: the index
 * format (`parseIndex`), the trust rules on a parsed index (`acceptIndex`:
 * app, channel, seq, expiry at the clock floor, an `issued` in the future,
 * an untrusted clock), redirects (`redirectRefusal`), and what an index
 * offers this host (`judgeEntries`: chains, the high-water mark, packs by
 * source, `local` never matched, blocked and held names, channels).
 *
 * @module
 */
import { DEFAULT_LIMITS } from "../lib/config.ts";
import type { FeedConfig } from "../lib/feed/config.ts";
import { type FeedIndex, parseIndex } from "../lib/feed/index.ts";
import {
  feedExitCode,
  type InstalledState,
  judgeEntries,
  type JudgeRules,
} from "../lib/feed/judge.ts";
import { redirectRefusal } from "../lib/feed/http.ts";
import { type Acceptance, acceptIndex } from "../lib/feed/trust.ts";
import type { FeedState } from "../lib/state.ts";
import { assertEquals, assertMatch, throwsWith } from "./helpers/assert.ts";

const SHA = "a".repeat(64);
const DAY = 86_400_000;
const NOW = new Date("2026-11-05T00:00:00Z");

function entry(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: "app",
    name: "shop",
    version: "1.5.0",
    file: "shop-1.5.0.zip",
    sha256: SHA,
    size: 1234,
    ...fields,
  };
}

function indexText(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    format: 1,
    app: "shop",
    channel: "stable",
    seq: 42,
    issued: "2026-11-01T00:00:00Z",
    expires: "2026-11-15T00:00:00Z",
    entries: [entry()],
    ...fields,
  });
}

const parse = (text: string, limits = DEFAULT_LIMITS) =>
  parseIndex(new TextEncoder().encode(text), limits, "feed-stable.json");

Deno.test("parseIndex() reads the DESIGN's example index", () => {
  const index = parse(indexText({
    entries: [
      entry({
        upgradesFrom: ">=1.3.0 <1.5.0",
        requires: { deno: ">=2.9" },
        released: "2026-11-01T00:00:00Z",
        security: { level: "critical", below: "1.4.7", advisories: ["CVE-2026-0001"] },
        notes: "plain text\nwith a second line\tand a tab",
        database: ["core: adds an index on users.email"],
      }),
      entry({
        kind: "pack",
        name: "orders",
        version: "0.4.0",
        file: "packs/orders-0.4.0.zip",
        requires: { app: ">=1.4 <2", "pack:core-ui": "^2" },
      }),
    ],
  }));
  assertEquals([index.app, index.channel, index.seq, index.entries.length], [
    "shop",
    "stable",
    42,
    2,
  ]);
  assertEquals(index.entries[0]!.security?.level, "critical");
});

Deno.test("parseIndex() refuses what could mean two things or reach outside the feed (FEED_INVALID)", () => {
  const cases: [string, string, RegExp][] = [
    ["duplicate JSON keys", indexText().replace(`"seq":42`, `"seq":42,"seq":43`), /key seq twice/],
    [
      "a duplicate key inside an entry",
      indexText().replace(`"size":1234`, `"size":1234,"size":1`),
      /twice/,
    ],
    ["an unknown key", indexText({ extra: true }), /unknown key "extra"/],
    [
      "an unknown entry key",
      indexText({ entries: [entry({ url: "http://x" })] }),
      /unknown key "url"/,
    ],
    [
      "two entries for one release with different hashes",
      indexText({ entries: [entry(), entry({ sha256: "b".repeat(64), file: "other.zip" })] }),
      /two entries give app "shop" 1.5.0/,
    ],
    [
      "two releases in files of one name",
      indexText({ entries: [entry(), entry({ version: "1.6.0", file: "x/shop-1.5.0.zip" })] }),
      /would both be "shop-1.5.0.zip"/,
    ],
    [
      "control characters in notes",
      indexText({ entries: [entry({ notes: "ok\u001b[2Jgone" })] }),
      /control character/,
    ],
    [
      "a bidirectional override in notes",
      indexText({ entries: [entry({ notes: "a\u202eb" })] }),
      /control character/,
    ],
    [
      "a control character in a database line",
      indexText({ entries: [entry({ database: ["x\u0007"] })] }),
      /control/,
    ],
    ["an HTML error page", "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", /HTML page/],
    ["not UTF-8", "\xff\xfe", /not JSON|UTF-8/],
    [
      "an app release of another app",
      indexText({ entries: [entry({ name: "other" })] }),
      /app release of "other"/,
    ],
    [
      "a version that is not semver",
      indexText({ entries: [entry({ version: "1.5" })] }),
      /not a semantic version/,
    ],
    [
      "an expiry before the issue",
      indexText({ expires: "2026-10-01T00:00:00Z" }),
      /expires .* before/,
    ],
    ["a channel that is not a name", indexText({ channel: "../x" }), /not a channel name/],
    ["format 2", indexText({ format: 2 }), /format 2/],
  ];
  for (const [what, text, message] of cases) {
    const error = throwsWith(() => parse(text), "FEED_INVALID");
    assertMatch(error.message, message, what);
    assertMatch(
      error.message,
      /^Cannot accept feed "feed-stable.json": .*The feed saved before is kept/,
    );
  }
});

Deno.test("parseIndex() refuses an entry file that is absolute, has a scheme, .., a backslash or %2e%2e", () => {
  const files = [
    "/etc/shop-1.5.0.zip",
    "https://evil.example/shop-1.5.0.zip",
    "file:///etc/shop.zip",
    "../shop-1.5.0.zip",
    "packs/../../shop-1.5.0.zip",
    "packs\\shop-1.5.0.zip",
    "%2e%2e/shop-1.5.0.zip",
    "packs/%2E%2E/shop.zip",
    "./shop-1.5.0.zip",
    "packs//shop-1.5.0.zip",
    ".hidden.zip",
    "shop-1.5.0.tar",
    "C:/shop.zip",
  ];
  for (const file of files) {
    const error = throwsWith(
      () => parse(indexText({ entries: [entry({ file })] })),
      "FEED_INVALID",
    );
    assertEquals(error.data.file, file);
  }
});

Deno.test("parseIndex() refuses 100,001 entries and notes over the limit (FEED_TOO_LARGE)", () => {
  const many = Array.from(
    { length: 100_001 },
    (_, i) => entry({ version: `1.${i}.0`, file: `s-${i}.zip` }),
  );
  const error = throwsWith(() => parse(indexText({ entries: many })), "FEED_TOO_LARGE");
  assertEquals(error.data.limit, "feedEntries");
  const notes = throwsWith(
    () => parse(indexText({ entries: [entry({ notes: "x".repeat(4097) })] })),
    "FEED_TOO_LARGE",
  );
  assertEquals(notes.data.limit, "feedNotesBytes");
});

const FEED: FeedConfig = {
  url: "https://updates.example/shop/",
  channel: "stable",
  keys: [],
  fetch: "security",
  block: [],
  hold: [],
  timeoutSeconds: 60,
  maxAgeDays: 30,
  minValidDays: 0,
  clock: "trusted",
};

function accept(index: FeedIndex, rules: Partial<Acceptance> = {}, sha256 = SHA) {
  return acceptIndex(index, { sha256, key: "feed1", where: "feed-stable.json" }, {
    app: "shop",
    feed: FEED,
    channel: "stable",
    saved: undefined,
    now: NOW,
    allowExpired: false,
    source: FEED.url,
    ...rules,
  });
}

const saved = (seq: number, floor: string, sha256 = SHA): FeedState => ({
  channels: {
    stable: {
      seq,
      sha256,
      issued: floor,
      expires: "2026-11-15T00:00:00Z",
      key: "feed1",
      checked: floor,
      source: FEED.url,
    },
  },
  clockFloor: floor,
});

Deno.test("acceptIndex() keeps seq monotonic per channel: lower is refused, equal must be the same bytes", () => {
  const index = parse(indexText());
  const first = accept(index);
  assertEquals([first.record.seq, first.state.clockFloor], [42, "2026-11-01T00:00:00Z"]);
  assertEquals(accept(index, { saved: first.state }).record.seq, 42, "the same bytes again");
  throwsWith(() => accept(index, { saved: saved(43, "2026-11-01T00:00:00Z") }), "FEED_ROLLBACK");
  const other = throwsWith(
    () => accept(index, { saved: first.state }, "c".repeat(64)),
    "FEED_ROLLBACK",
  );
  assertMatch(other.message, /bytes differ/);
  const beta = accept(parse(indexText({ channel: "beta", seq: 1 })), {
    channel: "beta",
    saved: first.state,
  });
  assertEquals(Object.keys(beta.state.channels).sort(), ["beta", "stable"], "channels apart");
  throwsWith(() => accept(parse(indexText({ app: "other", entries: [] }))), "FEED_WRONG_APP");
  throwsWith(() => accept(parse(indexText({ channel: "beta" }))), "FEED_INVALID");
});

Deno.test("acceptIndex() judges expiry at the later of the clock and the floor; an issue in the future is CLOCK_SUSPECT", () => {
  const index = parse(indexText());
  const late = new Date(Date.parse("2026-11-15T00:00:00Z") + 1000);
  throwsWith(() => accept(index, { now: late }), "FEED_EXPIRED");
  assertEquals(accept(index, { now: late, allowExpired: true }).expired, true);
  const grace = { ...FEED, minValidDays: 30 };
  assertEquals(accept(index, { now: late, feed: grace }).expired, false, "minValidDays");
  // The clock set back a year: an old index that its wrong clock would accept is expired at the floor.
  const yearAgo = new Date(NOW.getTime() - 365 * DAY);
  const old = parse(
    indexText({ channel: "beta", issued: "2025-11-01T00:00:00Z", expires: "2025-11-20T00:00:00Z" }),
  );
  const floor = saved(42, "2026-11-01T00:00:00Z");
  const frozen = throwsWith(
    () => accept(old, { now: yearAgo, channel: "beta", saved: floor }),
    "FEED_EXPIRED",
  );
  assertMatch(frozen.message, /behind it/);
  // The clock far ahead: a fresh index looks expired; refused, never accepted.
  throwsWith(() => accept(index, { now: new Date(NOW.getTime() + 3650 * DAY) }), "FEED_EXPIRED");
  const future = parse(
    indexText({ issued: "2026-11-07T00:00:00Z", expires: "2026-11-20T00:00:00Z" }),
  );
  throwsWith(() => accept(future), "CLOCK_SUSPECT");
  const untrusted = { ...FEED, clock: "untrusted" as const };
  assertEquals(accept(future, { feed: untrusted }).state.clockFloor, "2026-11-07T00:00:00Z");
  assertEquals(accept(index, { now: late, feed: untrusted }).expired, false);
  throwsWith(
    () => accept(index, { feed: untrusted, saved: saved(43, "2026-11-01T00:00:00Z") }),
    "FEED_ROLLBACK",
  );
});

Deno.test("redirectRefusal() allows the feed's own origin only, at most 3 times", () => {
  const base = new URL("https://updates.example/shop/");
  const from = new URL("https://updates.example/shop/feed-stable.json");
  assertEquals(redirectRefusal(base, "/mirror/feed-stable.json", from, 0), undefined);
  assertMatch(
    redirectRefusal(base, "http://updates.example/shop/feed-stable.json", from, 0)!,
    /http:\/\/updates/,
  );
  assertMatch(redirectRefusal(base, "https://evil.example/x", from, 0)!, /evil/);
  assertMatch(redirectRefusal(base, "https://updates.example:8443/x", from, 0)!, /8443/);
  assertMatch(redirectRefusal(base, "https://u:p@updates.example/x", from, 0)!, /credentials/);
  assertMatch(redirectRefusal(base, "/x", from, 3)!, /more than 3/);
  assertMatch(redirectRefusal(base, null, from, 0)!, /without a Location/);
});

const RULES: JudgeRules = { block: [], hold: [], versions: { deno: "2.9.6", lockstep: "0.1.0" } };
const HERE: InstalledState = { version: "1.4.0", highWater: "1.4.0", packs: [] };

function judged(entries: Record<string, unknown>[], installed = HERE, rules = RULES) {
  const index = parse(indexText({ entries }));
  const statuses = judgeEntries(index, installed, rules);
  return {
    states: statuses.map((s) => `${s.kind} ${s.name} ${s.offered}: ${s.state}`),
    exit: feedExitCode(statuses),
    statuses,
  };
}

Deno.test("judgeEntries() chains releases from the installed version and flags security for this version", () => {
  const { states, exit, statuses } = judged([
    entry({ version: "1.3.0", file: "a.zip" }),
    entry({ version: "1.4.0", file: "b.zip" }),
    entry({ version: "1.5.0", file: "c.zip", upgradesFrom: ">=1.4.0 <1.5.0" }),
    entry({
      version: "1.6.0",
      file: "d.zip",
      upgradesFrom: ">=1.5.0 <1.6.0",
      security: { level: "critical", below: "1.5.5" },
    }),
    entry({ version: "1.7.0", file: "e.zip", upgradesFrom: ">=1.0.0 <1.2.0" }),
    entry({ version: "1.8.0", file: "f.zip", requires: { deno: ">=3" } }),
  ]);
  assertEquals(states, [
    "app shop 1.3.0: older",
    "app shop 1.4.0: installed",
    "app shop 1.5.0: update",
    "app shop 1.6.0: update",
    "app shop 1.7.0: not-applicable",
    "app shop 1.8.0: not-applicable",
  ]);
  assertEquals([statuses[3]!.security?.applies, exit], [true, 8]);
  const patched = judged([
    entry({ version: "1.6.0", security: { level: "critical", below: "1.3.0" } }),
  ]);
  assertEquals(
    [patched.statuses[0]!.security?.applies, patched.exit],
    [false, 7],
    "not for this version",
  );
});

Deno.test("judgeEntries(): a release at or below the high-water mark is never offered", () => {
  const restored = { version: "1.0.0", highWater: "1.2.0", packs: [] };
  const { states, exit } = judged([
    entry({ version: "1.1.0", file: "a.zip" }),
    entry({ version: "1.2.0", file: "b.zip" }),
  ], restored);
  assertEquals(states, ["app shop 1.1.0: below-high-water", "app shop 1.2.0: below-high-water"]);
  assertEquals(exit, 0);
});

Deno.test("judgeEntries(): a feed entry updates only a pack whose source is that feed; local never matched", () => {
  const packs = [
    { name: "orders", version: "0.3.0", highWater: "0.3.0", source: "local" },
    { name: "reports", version: "1.0.0", highWater: "1.0.0", source: "other-vendor" },
    { name: "billing", version: "2.0.0", highWater: "2.0.0", source: "shop" },
  ];
  const pack = (name: string, version: string) =>
    entry({ kind: "pack", name, version, file: `packs/${name}-${version}.zip` });
  const { states, exit } = judged(
    [
      pack("orders", "0.4.0"),
      pack("reports", "1.1.0"),
      pack("billing", "2.1.0"),
      pack("fresh", "1.0.0"),
    ],
    { ...HERE, packs },
  );
  assertEquals(states, [
    "pack orders 0.4.0: other-source",
    "pack reports 1.1.0: other-source",
    "pack billing 2.1.0: update",
    "pack fresh 1.0.0: not-installed",
  ]);
  assertEquals(exit, 7);
  const localOnly = judged([pack("orders", "0.4.0")], { ...HERE, packs });
  assertEquals(localOnly.exit, 0, "a local pack named like a feed pack is no update");
});

Deno.test("judgeEntries(): blocked names are never looked at; held ones are shown and do not count", () => {
  const pack = (name: string) =>
    entry({
      kind: "pack",
      name,
      version: "2.0.0",
      file: `${name}.zip`,
      security: { level: "critical" },
    });
  const packs = ["legacy", "reports"].map((name) => ({
    name,
    version: "1.0.0",
    highWater: null,
    source: "shop",
  }));
  const { states, exit } = judged([pack("legacy"), pack("reports")], { ...HERE, packs }, {
    ...RULES,
    block: ["legacy"],
    hold: ["reports"],
  });
  assertEquals(states, ["pack reports 2.0.0: held"]);
  assertEquals(exit, 0, "held and blocked names are excluded from 7 and 8");
});

Deno.test("judgeEntries(): switching from beta to stable never offers a downgrade", () => {
  const onBeta = { version: "1.6.0-beta.2", highWater: "1.6.0-beta.2", packs: [] };
  const stable = judged([
    entry({ version: "1.5.0", file: "a.zip" }),
    entry({ version: "1.5.1", file: "b.zip", security: { level: "critical" } }),
    entry({ version: "1.6.0", file: "c.zip" }),
  ], onBeta);
  assertEquals(stable.states, [
    "app shop 1.5.0: older",
    "app shop 1.5.1: older",
    "app shop 1.6.0: update",
  ]);
  assertEquals(stable.exit, 7, "the critical 1.5.1 is below what is installed: not for it");
});
