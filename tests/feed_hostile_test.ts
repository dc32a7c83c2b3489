/**
 * Hostile feeds, published by the simulator into a folder and onto a
 * loopback HTTP server with fault modes. Every case starts from a good index
 * already accepted (seq 5, offering 1.1.0), then meets one attack; each must
 * refuse with its code, keep the feed saved before (the index, its
 * signature and state.json's record), leave no new file in `pending/`, and
 * (over HTTP) ask for no more than the case allows.
 *
 * @module
 */
import { join } from "node:path";
import { feedCheck, type FeedCheckOptions, feedFetch } from "../mod.ts";
import { assert, assertEquals, rejectsWith } from "./helpers/assert.ts";
import type { TestApp } from "./helpers/app.ts";
import { feedApp, feedSnapshot, type Transport, TRANSPORTS } from "./helpers/feed_app.ts";
import { type Fault, FeedSimulator } from "./helpers/feed_sim.ts";

const DAY = 86_400_000;
const INDEX = "/feed-stable.json";
const SIG = "/feed-stable.sig";
const BUNDLE = "/testapp-1.2.0.zip";

/** What a case may use. */
interface Ctx {
  readonly sim: FeedSimulator;
  readonly app: TestApp;
  readonly transport: Transport;
  /** feedCheck on the app's config as it is now. */
  check(options?: FeedCheckOptions): Promise<unknown>;
  /** feedFetch of the app on the app's config as it is now. */
  fetch(): Promise<unknown>;
}

interface Case {
  readonly name: string;
  readonly code: string;
  readonly only?: Transport;
  /** Publishes the attack (and accepts an index whose entry is the attack, for downloads). */
  readonly setup?: (ctx: Ctx) => Promise<void>;
  readonly run: (ctx: Ctx) => Promise<unknown>;
  /** Over HTTP: the paths `run` may request, in order. */
  readonly requests?: readonly string[];
}

/** Publishes seq 6 offering a 1.2.0 entry built by `bundle` and `entry`, and accepts it. */
async function hostileRelease(
  ctx: Ctx,
  bundle: Record<string, unknown> = {},
  entry: Record<string, unknown> = {},
): Promise<void> {
  ctx.sim.seq = 6;
  ctx.sim.entries = [];
  await ctx.sim.addBundle({
    version: "1.2.0",
    files: { "app/main.ts": "// 1.2.0\n" },
    file: "testapp-1.2.0.zip",
    ...bundle,
  }, entry);
  await ctx.sim.publish();
  await ctx.check();
}

/** A setup that makes the server answer `path` with `fault`. */
const faulty = (path: string, fault: Fault) => ({ sim }: Ctx) => {
  sim.faults.set(path, fault);
  return Promise.resolve();
};

const republish = (ctx: Ctx, overrides: Record<string, unknown>) => {
  ctx.sim.seq = 6;
  return ctx.sim.publish({ overrides });
};

const INDEX_CASES: readonly Case[] = [
  {
    name: "rollback: a lower seq",
    code: "FEED_ROLLBACK",
    setup: (ctx) => ctx.sim.publish({ overrides: { seq: 4 } }).then(() => {}),
    run: (ctx) => ctx.check(),
    requests: [INDEX, SIG],
  },
  {
    name: "rollback: the same seq with other bytes",
    code: "FEED_ROLLBACK",
    setup: (ctx) => ctx.sim.publish({ overrides: { entries: [] } }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "freeze: the valid index replayed after it expired",
    code: "FEED_EXPIRED",
    run: (ctx) => ctx.check({ now: new Date(ctx.sim.issued.getTime() + 15 * DAY) }),
  },
  {
    name: "freeze: the clock far ahead",
    code: "FEED_EXPIRED",
    setup: (ctx) => republish(ctx, {}).then(() => {}),
    run: (ctx) => ctx.check({ now: new Date(Date.now() + 3650 * DAY) }),
  },
  {
    name: "freeze: the clock set back a year, an old index of another channel",
    code: "FEED_EXPIRED",
    setup: async ({ sim }) => {
      sim.channel = "beta";
      const old = new Date(sim.issued.getTime() - 365 * DAY);
      await sim.publish({
        overrides: {
          issued: old.toISOString(),
          expires: new Date(old.getTime() + 14 * DAY).toISOString(),
        },
      });
      sim.channel = "stable";
    },
    run: (ctx) => ctx.check({ channel: "beta", now: new Date(Date.now() - 364 * DAY) }),
    requests: ["/feed-beta.json", "/feed-beta.sig"],
  },
  {
    name: "freeze: issued in the future",
    code: "CLOCK_SUSPECT",
    setup: (ctx) =>
      republish(ctx, {
        issued: new Date(Date.now() + 2 * DAY).toISOString(),
        expires: new Date(Date.now() + 20 * DAY).toISOString(),
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "a critical flag on an expired index",
    code: "FEED_EXPIRED",
    setup: (ctx) =>
      republish(ctx, {
        issued: new Date(Date.now() - 20 * DAY).toISOString(),
        expires: new Date(Date.now() - DAY).toISOString(),
        entries: ctx.sim.entries.map((e) => ({ ...e, security: { level: "critical" } })),
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "endless data: a huge index",
    code: "FEED_TOO_LARGE",
    setup: async ({ sim, transport }) => {
      if (transport === "http") sim.faults.set(INDEX, { kind: "endless" });
      else {
        using file = await Deno.open(join(sim.dir, "feed-stable.json"), {
          write: true,
          truncate: true,
        });
        await file.truncate(5 * 1024 ** 3); // sparse: 5 GiB of zeros
      }
    },
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "endless data: a Content-Length over the limit",
    code: "FEED_TOO_LARGE",
    only: "http",
    setup: faulty(INDEX, { kind: "content-length", value: 2 ** 40, endless: true }),
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "endless data: a gzip bomb",
    code: "FEED_UNREACHABLE",
    only: "http",
    setup: faulty(INDEX, { kind: "gzip-bomb" }),
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "slow retrieval: one byte every 200 ms",
    code: "FEED_TIMEOUT",
    only: "http",
    setup: faulty(INDEX, { kind: "drip", everyMs: 200 }),
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "slow retrieval: headers that never finish",
    code: "FEED_TIMEOUT",
    only: "http",
    setup: faulty(INDEX, { kind: "stall-headers" }),
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "a redirect to another host",
    code: "FEED_REDIRECT_REFUSED",
    only: "http",
    setup: async ({ sim }) => {
      const port = new URL(await sim.serve()).port;
      sim.faults.set(INDEX, {
        kind: "redirect",
        location: `http://localhost:${port}/feed-stable.json`,
      });
    },
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "more than 3 redirects on the feed's own origin",
    code: "FEED_REDIRECT_REFUSED",
    only: "http",
    setup: ({ sim }) => {
      for (const [from, to] of [[INDEX, "/a"], ["/a", "/b"], ["/b", "/c"], ["/c", INDEX]]) {
        sim.faults.set(from!, { kind: "redirect", location: to! });
      }
      return Promise.resolve();
    },
    run: (ctx) => ctx.check(),
    requests: [INDEX, "/a", "/b", "/c"],
  },
  {
    name: "a redirect from https to http",
    code: "FEED_REDIRECT_REFUSED",
    only: "http",
    run: async (ctx) => {
      const config = await ctx.app.config();
      const https = { ...config, feed: { ...config.feed!, url: "https://updates.example/shop/" } };
      const fetch = (() =>
        Promise.resolve(
          new Response(null, {
            status: 301,
            headers: { location: "http://updates.example/shop/feed-stable.json" },
          }),
        )) as unknown as typeof globalThis.fetch;
      return await feedCheck(https, { fetch });
    },
    requests: [],
  },
  {
    name: "an entry file with ..",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, { entries: [{ ...ctx.sim.entries[0], file: "../testapp-1.1.0.zip" }] }).then(
        () => {},
      ),
    run: (ctx) => ctx.check(),
    requests: [INDEX, SIG],
  },
  {
    name: "an entry file with a scheme",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, { entries: [{ ...ctx.sim.entries[0], file: "http://evil.example/t.zip" }] })
        .then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "an entry file with %2e%2e",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, { entries: [{ ...ctx.sim.entries[0], file: "%2e%2e/t.zip" }] }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "an entry file that is absolute or has a backslash",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, {
        entries: [{ ...ctx.sim.entries[0], file: "/etc/t.zip" }, {
          ...ctx.sim.entries[0],
          file: "a\\b.zip",
        }],
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "an index signed by an untrusted key",
    code: "FEED_SIGNATURE_INVALID",
    setup: async (ctx) => {
      ctx.sim.seq = 6;
      await ctx.sim.publish({ signWith: (await ctx.sim.otherKey("stranger")).file });
    },
    run: (ctx) => ctx.check(),
  },
  {
    name: "an index signed by a removed key",
    code: "FEED_SIGNATURE_INVALID",
    setup: async (ctx) => {
      const next = await ctx.sim.otherKey("feed2");
      const text = await Deno.readTextFile(join(ctx.app.dir, "lockstep.json"));
      const config = JSON.parse(text);
      config.feed.keys = [next.trust];
      await Deno.writeTextFile(join(ctx.app.dir, "lockstep.json"), JSON.stringify(config));
      await republish(ctx, {});
    },
    run: (ctx) => ctx.check(),
  },
  {
    name: "a signature over other bytes",
    code: "FEED_SIGNATURE_INVALID",
    setup: async (ctx) => {
      const sig = await Deno.readTextFile(join(ctx.sim.dir, "feed-stable.sig"));
      await republish(ctx, {});
      await Deno.writeTextFile(join(ctx.sim.dir, "feed-stable.sig"), sig);
    },
    run: (ctx) => ctx.check(),
  },
  {
    name: "a missing signature (a half-copied mirror)",
    code: "FEED_SIGNATURE_INVALID",
    setup: async (ctx) => {
      ctx.sim.seq = 6;
      await ctx.sim.publish({ signature: null });
    },
    run: (ctx) => ctx.check(),
    requests: [INDEX, SIG],
  },
  {
    name: "a feed for another app",
    code: "FEED_WRONG_APP",
    setup: (ctx) => republish(ctx, { app: "otherapp", entries: [] }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "a feed for another channel",
    code: "FEED_INVALID",
    setup: (ctx) => republish(ctx, { channel: "beta" }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "an HTML error page instead of the index",
    code: "FEED_INVALID",
    setup: async ({ sim, transport }) => {
      const page = "<!DOCTYPE html><html><body><h1>Welcome to the hotel wifi</h1></body></html>";
      if (transport === "http") {
        sim.faults.set(INDEX, {
          kind: "body",
          body: page,
          headers: { "content-type": "text/html" },
        });
      } else await Deno.writeTextFile(join(sim.dir, "feed-stable.json"), page);
    },
    run: (ctx) => ctx.check(),
  },
  {
    name: "a server error",
    code: "FEED_UNREACHABLE",
    only: "http",
    setup: faulty(INDEX, { kind: "status", status: 502, body: "<html>Bad gateway</html>" }),
    run: (ctx) => ctx.check(),
    requests: [INDEX],
  },
  {
    name: "duplicate JSON keys",
    code: "FEED_INVALID",
    setup: async (ctx) => {
      const text = JSON.stringify(ctx.sim.index({ seq: 6 })).replace(`"seq":6`, `"seq":6,"seq":7`);
      await ctx.sim.publish({ text });
    },
    run: (ctx) => ctx.check(),
  },
  {
    name: "two entries with the same name and version and different hashes",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, {
        entries: [ctx.sim.entries[0], {
          ...ctx.sim.entries[0],
          sha256: "0".repeat(64),
          file: "x/t.zip",
        }],
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "100,001 entries",
    code: "FEED_TOO_LARGE",
    setup: (ctx) =>
      republish(ctx, {
        entries: Array.from(
          { length: 100_001 },
          (_, i) => ({ ...ctx.sim.entries[0], version: `2.${i}.0`, file: `t-${i}.zip` }),
        ),
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
  {
    name: "control characters in notes",
    code: "FEED_INVALID",
    setup: (ctx) =>
      republish(ctx, {
        entries: [{ ...ctx.sim.entries[0], notes: "fixed\u001b]8;;http://evil\u0007click" }],
      }).then(() => {}),
    run: (ctx) => ctx.check(),
  },
];

const DOWNLOAD_CASES: readonly Case[] = [
  {
    name: "mix-and-match: an entry's hash from one release, the file from another",
    code: "FEED_DOWNLOAD_MISMATCH",
    setup: async (ctx) => {
      const first = ctx.sim.entries[0]!;
      await hostileRelease(ctx, {}, { sha256: first.sha256, size: first.size });
    },
    run: (ctx) => ctx.fetch(),
    requests: [BUNDLE],
  },
  ...[["version", { manifest: { version: "1.3.0" } }], ["app", { app: "otherapp" }]].map((
    [what, bundle],
  ) => ({
    name: `mix-and-match: a good file whose own manifest names another ${what}`,
    code: "FEED_DOWNLOAD_MISMATCH",
    setup: (ctx: Ctx) => hostileRelease(ctx, bundle as Record<string, unknown>),
    run: (ctx: Ctx) => ctx.fetch(),
    requests: [BUNDLE],
  })),
  {
    name: "a wrong hash",
    code: "FEED_DOWNLOAD_MISMATCH",
    setup: (ctx) => hostileRelease(ctx, {}, { sha256: "f".repeat(64) }),
    run: (ctx) => ctx.fetch(),
  },
  ...[-1, 1].map((delta) => ({
    name: `a size off by ${delta} byte`,
    code: "FEED_DOWNLOAD_MISMATCH",
    setup: async (ctx: Ctx) => {
      await hostileRelease(ctx);
      const entry = ctx.sim.entries[0]!;
      await republish(ctx, {
        seq: 7,
        entries: [{ ...entry, size: (entry.size as number) + delta }],
      });
      await ctx.check();
    },
    run: (ctx: Ctx) => ctx.fetch(),
  })),
  {
    name: "endless data: a bundle longer than its size",
    code: "FEED_DOWNLOAD_MISMATCH",
    only: "http",
    setup: async (ctx) => {
      await hostileRelease(ctx);
      ctx.sim.faults.set(BUNDLE, { kind: "endless" });
    },
    run: (ctx) => ctx.fetch(),
    requests: [BUNDLE],
  },
  {
    name: "endless data: a lying Content-Length",
    code: "FEED_DOWNLOAD_MISMATCH",
    only: "http",
    setup: async (ctx) => {
      await hostileRelease(ctx);
      ctx.sim.faults.set(BUNDLE, { kind: "content-length", value: 100, endless: true });
    },
    run: (ctx) => ctx.fetch(),
  },
  {
    name: "endless data: a gzip bomb for a bundle",
    code: "FEED_UNREACHABLE",
    only: "http",
    setup: async (ctx) => {
      await hostileRelease(ctx);
      ctx.sim.faults.set(BUNDLE, { kind: "gzip-bomb" });
    },
    run: (ctx) => ctx.fetch(),
  },
  {
    name: "slow retrieval of a bundle",
    code: "FEED_TIMEOUT",
    only: "http",
    setup: async (ctx) => {
      await hostileRelease(ctx);
      ctx.sim.faults.set(BUNDLE, { kind: "drip", everyMs: 200 });
    },
    run: (ctx) => ctx.fetch(),
  },
];

for (const transport of TRANSPORTS) {
  for (const c of [...INDEX_CASES, ...DOWNLOAD_CASES]) {
    if (c.only !== undefined && c.only !== transport) continue;
    Deno.test(`feed refuses ${c.name} with ${c.code}, keeps the saved feed, adds nothing to pending/ (${transport})`, async () => {
      await using sim = await FeedSimulator.create();
      sim.seq = 5;
      await sim.addBundle({ version: "1.1.0", files: { "app/main.ts": "// 1.1.0\n" } });
      await sim.publish();
      await using app = await feedApp(sim, transport);
      const ctx: Ctx = {
        sim,
        app,
        transport,
        check: async (options = {}) => feedCheck(await app.config(), options),
        fetch: async () => feedFetch(await app.config(), { names: ["testapp"] }),
      };
      assertEquals((await feedCheck(await app.config())).seq, 5);
      await c.setup?.(ctx);
      const before = await feedSnapshot(app);
      const asked = sim.requests.length;
      const started = performance.now();
      await rejectsWith(c.run(ctx), c.code);
      assert(
        performance.now() - started < 8000,
        `${c.name} took ${performance.now() - started} ms`,
      );
      assertEquals(await feedSnapshot(app), before, "the saved feed and pending/ are as before");
      const partials = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))
        .catch(() => []);
      assertEquals(partials.map((e) => e.name), [], "no partial file is left");
      if (transport === "http" && c.requests !== undefined) {
        assertEquals(sim.paths().slice(asked), [...c.requests], "the requests made");
      }
    });
  }
}
