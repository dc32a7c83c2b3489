/**
 * The report's data in every state `check` knows, on SQLite and PostgreSQL,
 * through the CLI with the README's flags, validated against
 * schema/report.schema.json.
 *
 * @module
 */
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { FeedSimulator } from "./helpers/feed_sim.ts";
import { CORE, pendingPack, REVIEWS_010 } from "./helpers/packs.ts";
import { feedCheck } from "../mod.ts";

const schema = JSON.parse(
  await Deno.readTextFile(new URL("../schema/report.schema.json", import.meta.url)),
);
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

const MIGRATIONS = {
  "20260101000000_users.sql": "create table users (id integer primary key, email text);\n",
  "20260201000000_orders.sql": "create table orders (id integer primary key, total integer);\n",
};

for (const backend of BACKENDS) {
  Deno.test(`report --json matches schema/report.schema.json in every state (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: { files: MIGRATIONS } } });
    const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
    const cli = (args: string[], write = false) =>
      runCli(documentedFlags(app.dir, { write, postgres }), [...args, "--config", app.configPath]);
    // deno-lint-ignore no-explicit-any
    const report = async (state: string, exitCode: number): Promise<any> => {
      const result = await cli(["report", "--json"]);
      assertEquals(result.code, 0, result.stderr);
      const data = JSON.parse(result.stdout);
      assert(
        validate(JSON.parse(result.stdout)),
        `${state}: ${JSON.stringify(validate.errors, null, 2)}`,
      );
      assertEquals(data.verdict.exitCode, exitCode, state);
      return data;
    };
    const findings = (data: { findings: { level: string; code: string }[] }) =>
      data.findings.filter((f) => f.level !== "good").map((f) => f.code);

    const fresh = await report("migrations pending", 4);
    assertEquals(fresh.verdict.state, "migrations pending");
    assertEquals(fresh.databases[0].pending.map((p: { id: string }) => p.id), [
      "core/20260101000000_users",
      "core/20260201000000_orders",
    ]);
    const pendingFinding = fresh.findings.find((f: { code: string }) =>
      f.code === "MIGRATIONS_PENDING"
    );
    assertEquals(pendingFinding.command, "lockstep migrate");
    assertEquals(findings(fresh), ["MIGRATIONS_PENDING", "NO_BACKUP"]);

    assertEquals((await cli(["migrate", "--yes"], true)).code, 0);
    const ok = await report("ok", 0);
    assertEquals(ok.verdict.state, "may run");
    assertEquals(findings(ok), []);
    assert(ok.findings.some((f: { code: string }) => f.code === "OK_BACKUP"));
    assert(ok.safety.events.some((e: { action: string }) => e.action === "applied"));

    const pending = join(app.dir, "updates/pending");
    await Deno.mkdir(pending, { recursive: true });
    await writeBundle(join(pending, "testapp-1.1.0.zip"), {
      version: "1.1.0",
      security: true,
      notes: "Fixes a hole",
      files: { "app/main.ts": "2\n" },
      manifest: { database: ["core: adds an index"] },
    });
    await Deno.writeTextFile(join(pending, "testapp-1.2.0.zip"), "garbage");
    const waiting = await report("bundles pending with a corrupt one", 3);
    const [good, bad] = waiting.waiting.bundles;
    assertEquals([good.version, good.security, good.applies, good.database], [
      "1.1.0",
      true,
      true,
      ["core: adds an index"],
    ]);
    assertEquals(bad.problem.code, "BUNDLE_CORRUPT");
    const update = waiting.findings[0];
    assertEquals([update.level, update.code, update.command], [
      "critical",
      "BUNDLES_PENDING",
      "lockstep update",
    ]);
    await Deno.remove(pending, { recursive: true });

    assertEquals((await cli(["maintenance", "on", "--message", "Back soon"], true)).code, 0);
    const maintenance = await report("maintenance on", 0);
    assertEquals([maintenance.verdict.maintenance.on, maintenance.verdict.maintenance.message], [
      true,
      "Back soon",
    ]);
    assertEquals(
      maintenance.findings.find((f: { code: string }) => f.code === "MAINTENANCE_ON").command,
      "lockstep maintenance off",
    );
    assertEquals((await cli(["maintenance", "off"], true)).code, 0);

    await app.dbs.main!.query("alter table users add column nickname text");
    const drift = await report("blocked by drift", 5);
    assertEquals(drift.verdict.state, "blocked");
    const changes = drift.databases[0].schema.drift;
    assertEquals(changes.map((c: { name: string; change: string }) => [c.name, c.change]), [
      ["nickname", "added"],
    ]);
    assertEquals(
      drift.findings.find((f: { code: string }) => f.code === "SCHEMA_DRIFT").command,
      "lockstep migrate --accept-drift",
    );
    await app.dbs.main!.query("alter table users drop column nickname");

    await app.remove("migrations/core/20260201000000_orders.sql");
    const ahead = await report("blocked by a database ahead", 5);
    assertEquals(ahead.databases[0].ahead, ["core/20260201000000_orders"]);
    assertEquals(findings(ahead)[0], "DATABASE_AHEAD");
  });
}

Deno.test("report --html writes one self-contained page; the text summary says what to run", async () => {
  await using app = await makeApp("sqlite", { packages: { core: { files: MIGRATIONS } } });
  const cli = (args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
  const page = join(app.dir, "report.html");
  const result = await cli(["report", "--html", page]);
  assertEquals(result.code, 0, result.stderr);
  assertMatch(result.stdout, /testapp: migrations pending \(check exit 4\)/);
  assertMatch(result.stdout, /\[attention\] Database migrations are pending: lockstep migrate/);
  const html = await Deno.readTextFile(page);
  assertMatch(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/,
  );
  assert(!/<script|<link|src="http|href="http/i.test(html), "nothing external, no script");
});

for (const backend of BACKENDS) {
  Deno.test(`report shows packs with an unmet requirement and a stale feed with a critical update, matching the schema, on the page (${backend})`, async () => {
    await using sim = await FeedSimulator.create();
    await sim.addBundle({ version: "1.1.0", files: { "app/main.ts": "2\n" } }, {
      security: { level: "critical", advisories: ["CVE-2026-0001"] },
      notes: `Fixes <script>alert("x")</script> a hole`,
      database: ["core: adds an index"],
    });
    sim.lifetimeMs = 3000;
    await sim.publish();
    await using app = await makeApp(backend, {
      packages: { core: { files: CORE } },
      files: { "app/main.ts": "1\n" },
      extra: { feed: { url: sim.dir, keys: [sim.key.trust] } },
    });
    const postgres = backend === "postgres" ? [app.dbs.main!.url] : [];
    const cli = (args: string[]) =>
      runCli(documentedFlags(app.dir, { postgres }), [...args, "--config", app.configPath]);
    assertEquals((await cli(["migrate", "--yes"])).code, 0);
    await pendingPack(app.dir, {
      name: "reviews",
      version: "0.1.0",
      migrations: REVIEWS_010,
      requires: { app: ">=1.0.0 <1.0.5" },
    });
    assertEquals((await cli(["pack", "install", "reviews", "--yes"])).code, 0);
    assertEquals((await feedCheck(await app.config())).exitCode, 8);
    // The code changed by hand past what the pack supports; the saved index expires.
    await app.write("VERSION", "1.0.5\n");
    await new Promise((resolve) => setTimeout(resolve, 3500));

    const result = await cli(["report", "--json"]);
    assertEquals(result.code, 0, result.stderr);
    // deno-lint-ignore no-explicit-any
    const data: any = JSON.parse(result.stdout);
    assert(validate(JSON.parse(result.stdout)), JSON.stringify(validate.errors, null, 2));
    assertEquals(data.verdict.exitCode, 5);
    const [pack] = data.installed.packs;
    assertEquals([pack.name, pack.version, pack.enabled], ["reviews", "0.1.0", true]);
    assertMatch(pack.unmet.join(), /app/);
    assertEquals(pack.history[0].action, "install");
    const feed = data.waiting.feed;
    assertMatch(feed.stale, /expired/);
    const [offer] = feed.offers;
    assertEquals([offer.offered, offer.state, offer.security.level, offer.security.applies], [
      "1.1.0",
      "update",
      "critical",
      true,
    ]);
    const level = (code: string) => data.findings.find((f: { code: string }) => f.code === code);
    assertEquals(level("PACK_REQUIREMENT_UNMET")?.level, "critical");
    assertEquals(level("SECURITY_UPDATE_AVAILABLE")?.command, "lockstep feed fetch");
    assertEquals(level("FEED_STALE")?.command, "lockstep feed check");

    const page = join(app.dir, "report.html");
    assertEquals((await cli(["report", "--html", page])).code, 0);
    const html = await Deno.readTextFile(page);
    assert(!html.includes("<script>"), "the feed's notes are escaped");
    assert(html.includes("&#60;script&#62;alert"), "and shown as text");
    assert(html.includes("critical security") && html.includes("CVE-2026-0001"));
    assert(html.includes("UNMET: app"), "the pack's unmet requirement");
  });
}
