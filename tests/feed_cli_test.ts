/**
 * The feed through the command line, as real subprocesses with exactly the
 * README's flags: a release published with `bundle create --sign`, `feed
 * build` and `feed sign`, then on the host `feed check` (exit 7) → `feed
 * fetch` → `update` → `check` (exit 0, `check --json` holding the feed per
 * its schema) → `feed check` (exit 0), over HTTP on loopback and from a
 * mirror folder, on SQLite and PostgreSQL. And what only processes show: two
 * `feed fetch` at once (the second exits 6), a SIGKILL in the middle of a
 * download (the partial file is gone by the next run), a full disk, and
 * memory that stays flat while endless data is refused.
 *
 * @module
 */
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { feedCheck, feedFetch } from "../mod.ts";
import { assert, assertEquals, assertMatch, rejectsWith } from "./helpers/assert.ts";
import { type Backend, BACKENDS, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli, spawnCli } from "./helpers/cli.ts";
import { feedApp, TRANSPORTS } from "./helpers/feed_app.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";
import { IS_ROOT, smallDisk } from "./helpers/system.ts";
import { tempDir } from "./helpers/temp.ts";

const schema = JSON.parse(
  await Deno.readTextFile(new URL("../schema/check.schema.json", import.meta.url)),
);
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** The README's flags for a feed command: the app, and the feed's host or its mirror folder. */
function feedFlags(app: TestApp, feed: string): string[] {
  return feed.startsWith("http://")
    ? [`--allow-read=${app.dir}`, `--allow-write=${app.dir}`, `--allow-net=${new URL(feed).host}`]
    : [`--allow-read=${app.dir},${feed}`, `--allow-write=${app.dir}`];
}

/** Publishes 1.1.0 (code and a migration) as a publisher does, through the CLI, into `sim.dir`. */
async function publishWithCli(sim: FeedSimulator, releaseKey: string): Promise<void> {
  await using work = await tempDir();
  const release = join(work.path, "release");
  await Deno.mkdir(join(release, "app"), { recursive: true });
  await Deno.mkdir(join(release, "migrations/core"), { recursive: true });
  await Deno.writeTextFile(join(release, "app/main.ts"), "console.log('1.1.0');\n");
  await Deno.writeTextFile(
    join(release, "migrations/core/20260601000000_orders.sql"),
    "create table orders (id integer primary key, total integer);\n",
  );
  const bundles = join(work.path, "bundles");
  await Deno.mkdir(bundles);
  const notes = join(work.path, "notes.txt");
  await Deno.writeTextFile(notes, "Orders arrive.\nA second line.\n");
  // Each with the README's flags for it.
  const steps: [string[], string[]][] = [
    [
      ["bundle", "create", "--from", release, "--version", "1.1.0", "--app", "testapp"]
        .concat(["--upgrades-from", ">=1.0.0 <1.1.0", "--notes", notes])
        .concat(["--sign", releaseKey, "--out", join(bundles, "testapp-1.1.0.zip")]),
      [`--allow-read=${release},${notes},${releaseKey},${bundles}`, `--allow-write=${bundles}`],
    ],
    [
      ["feed", "build", "--from", bundles, "--seq", "7", "--expires", "14d", "--out", sim.dir],
      [`--allow-read=${bundles},${sim.dir}`, `--allow-write=${sim.dir}`],
    ],
    [
      ["feed", "sign", "--index", join(sim.dir, "feed-stable.json"), "--key", sim.key.file],
      [`--allow-read=${sim.dir},${sim.key.file}`, `--allow-write=${sim.dir}`],
    ],
  ];
  for (const [args, flags] of steps) {
    const result = await runCli(flags, args);
    assertEquals(result.code, 0, `${args.slice(0, 2).join(" ")}: ${result.stdout}${result.stderr}`);
  }
}

for (const backend of BACKENDS) {
  for (const transport of TRANSPORTS) {
    Deno.test(`cli: publish, then feed check → feed fetch → update → check with the README's flags (${transport}, ${backend})`, async () => {
      await using sim = await FeedSimulator.create();
      const releaseKey = await sim.otherKey("release");
      await publishWithCli(sim, releaseKey.file);
      await using app = await feedApp(sim, transport, {
        backend,
        extra: { trust: { keys: [releaseKey.trust] } },
      });
      const feed = transport === "http" ? await sim.serve() : sim.dir;
      const db = backend === "postgres" ? [app.dbs.main!.url] : [];
      const cli = (flags: string[], ...args: string[]) =>
        runCli(flags, [...args, "--config", app.configPath]);
      const gate = documentedFlags(app.dir, { write: false, postgres: db });

      const checked = await cli(feedFlags(app, feed), "feed", "check");
      assertEquals(checked.code, 7, checked.stdout + checked.stderr);
      assertMatch(checked.stdout, /testapp 1\.0\.0 → 1\.1\.0/);
      assertMatch(checked.stdout, /\| Orders arrive\.\n\s+\| A second line\./);
      const unattended = await cli(feedFlags(app, feed), "feed", "fetch", "--json");
      assertEquals(unattended.code, 0, unattended.stdout + unattended.stderr);
      assertEquals(
        JSON.parse(unattended.stdout).bundles,
        [],
        "feed.fetch: security takes no plain release",
      );
      const named = await cli(feedFlags(app, feed), "feed", "fetch", "testapp");
      assertEquals(named.code, 0, named.stdout + named.stderr);
      assertMatch(named.stdout, /Fetched testapp-1\.1\.0\.zip/);
      assertEquals((await cli(gate, "check")).code, 3);
      const updated = await cli(documentedFlags(app.dir, { postgres: db }), "update", "--yes");
      assertEquals(updated.code, 0, updated.stdout + updated.stderr);
      assertEquals(await app.dbs.main!.tables().then((t) => t.includes("orders")), true);

      const report = await cli(gate, "check", "--json");
      assertEquals(report.code, 0, report.stdout + report.stderr);
      assert(validate(JSON.parse(report.stdout)), JSON.stringify(validate.errors));
      const json = JSON.parse(report.stdout);
      assertEquals([json.feed.seq, json.feed.stale, json.feed.updates], [7, null, []]);
      assertEquals((await cli(feedFlags(app, feed), "feed", "check")).code, 0, "nothing new");
      const status = await cli(gate, "feed", "status", "--json");
      assertEquals(JSON.parse(status.stdout).saved.seq, 7);
      if (transport === "http") {
        assertEquals(sim.paths(), [
          "/feed-stable.json",
          "/feed-stable.sig",
          "/testapp-1.1.0.zip",
          "/feed-stable.json",
          "/feed-stable.sig",
        ]);
      }
    });
  }
}

/** An app whose feed offers 1.1.0, served one byte every 200 ms; checked already. */
async function slowDownload(sim: FeedSimulator, backend: Backend = "sqlite"): Promise<TestApp> {
  await sim.addBundle({ version: "1.1.0", files: { "app/main.ts": "x".repeat(4000) } });
  await sim.publish();
  const app = await feedApp(sim, "http", { backend, feed: { timeoutSeconds: 30, fetch: "all" } });
  await feedCheck(await app.config());
  sim.faults.set("/testapp-1.1.0.zip", { kind: "drip", everyMs: 200 });
  return app;
}

/** Waits until `pending/` holds a hidden partial download; returns its name. */
async function partialAppears(app: TestApp): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const names = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))
      .then((e) => e.map((x) => x.name)).catch(() => [] as string[]);
    const partial = names.find((n) => n.startsWith(".feed-"));
    if (partial !== undefined) return partial;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("no partial download appeared");
}

Deno.test("cli: two feed fetch at once: the second exits 6 (LOCK_HELD)", async () => {
  await using sim = await FeedSimulator.create();
  await using app = await slowDownload(sim);
  const flags = feedFlags(app, await sim.serve());
  const first = spawnCli(flags, ["feed", "fetch", "--config", app.configPath]);
  try {
    await partialAppears(app);
    const second = await runCli(flags, ["feed", "fetch", "--config", app.configPath]);
    assertEquals(second.code, 6, second.stdout + second.stderr);
    assertMatch(second.stderr, /LOCK_HELD/);
  } finally {
    first.kill("SIGKILL");
    await first.output();
  }
});

Deno.test("cli: SIGKILL in the middle of a download: check passes the partial over, the next fetch removes it", async () => {
  await using sim = await FeedSimulator.create();
  await using app = await slowDownload(sim);
  const flags = feedFlags(app, await sim.serve());
  const first = spawnCli(flags, ["feed", "fetch", "--config", app.configPath]);
  const partial = await partialAppears(app);
  first.kill("SIGKILL");
  assertEquals((await first.output()).signal, "SIGKILL");
  const check = await runCli(documentedFlags(app.dir, { write: false }), [
    "check",
    "--config",
    app.configPath,
  ]);
  assertEquals(check.code, 0, "a partial download is no pending bundle: " + check.stdout);
  sim.faults.delete("/testapp-1.1.0.zip");
  const again = await runCli(flags, ["feed", "fetch", "--config", app.configPath]);
  assertEquals(again.code, 0, again.stdout + again.stderr);
  assertMatch(again.stdout, /Removed 1 partial download/);
  const names = (await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))).map((e) =>
    e.name
  );
  assertEquals(names, ["testapp-1.1.0.zip"], `${partial} is gone`);
});

Deno.test({
  name: "feed fetch on a full disk: DISK_FULL, the partial file removed, pending/ as it was",
  ignore: !IS_ROOT,
  async fn() {
    await using disk = await smallDisk(1024);
    await using sim = await FeedSimulator.create();
    const noise = crypto.getRandomValues(new Uint8Array(65536));
    const big = new Uint8Array(2 * 1024 * 1024).map((_, i) => noise[i % 65536]! ^ (i >> 16));
    await sim.addBundle({
      version: "1.1.0",
      files: { "app/big.bin": big },
      entryOptions: { "app/big.bin": { level: 0 } },
    });
    await sim.publish();
    await using app = await feedApp(sim, "folder", { extra: { pending: disk.path } });
    await feedCheck(await app.config());
    await rejectsWith(feedFetch(await app.config(), { names: ["testapp"] }), "DISK_FULL");
    assertEquals(await Array.fromAsync(Deno.readDir(disk.path)), [], "nothing is left in pending/");
  },
});

/** Peak resident memory (VmHWM, MB) of a CLI run, read from /proc while it runs. */
async function peakMegabytes(
  flags: string[],
  args: string[],
): Promise<{ code: number; peak: number }> {
  const child = spawnCli(flags, args);
  let peak = 0;
  const sample = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kb / 1024);
    } catch { /* the process has ended */ }
  }, 20);
  const { code } = await child.output();
  clearInterval(sample);
  return { code, peak };
}

Deno.test({
  name:
    "cli: endless data keeps memory flat: an endless index, and bundles streaming 16 and 256 MiB past their size",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using sim = await FeedSimulator.create();
    const entry = await sim.addBundle({ version: "1.1.0", files: { "a.ts": "1" } });
    entry.size = 16 * 1024 * 1024;
    await sim.publish();
    await using app = await feedApp(sim, "http", { feed: { timeoutSeconds: 60 } });
    const flags = feedFlags(app, await sim.serve());
    const config = ["--config", app.configPath];
    const baseline = await peakMegabytes(flags, ["feed", "status", ...config]);
    sim.faults.set("/feed-stable.json", { kind: "endless" });
    const index = await peakMegabytes(flags, ["feed", "check", "--json", ...config]);
    sim.faults.delete("/feed-stable.json");
    sim.faults.set("/testapp-1.1.0.zip", { kind: "endless" });
    const bundles: number[] = [];
    for (const [seq, mib] of [[2, 16], [3, 256]] as const) {
      entry.size = mib * 1024 * 1024;
      sim.seq = seq;
      await sim.publish();
      assertEquals((await runCli(flags, ["feed", "check", ...config])).code, 7);
      const run = await peakMegabytes(flags, ["feed", "fetch", "testapp", ...config]);
      assertEquals(run.code, 1, "refused: longer than its size");
      bundles.push(run.peak);
    }
    assertEquals(index.code, 1);
    const figures = `peak RSS: feed status ${baseline.peak.toFixed(0)} MB; feed check of an ` +
      `endless index ${index.peak.toFixed(0)} MB; feed fetch of an endless bundle cut at 16 MiB ` +
      `${bundles[0]!.toFixed(0)} MB, at 256 MiB ${bundles[1]!.toFixed(0)} MB`;
    // deno-lint-ignore no-console
    console.log(figures);
    assert(index.peak < baseline.peak + 40, figures);
    assert(bundles[1]! < bundles[0]! + 40, `16 times the data, about the same memory: ${figures}`);
    assert(bundles[1]! < 200, figures);
  },
});
