/**
 * The report page in a real browser (Debian's `chromium`, headless, driven
 * with puppeteer-core): opened from the file `report --html` writes and from
 * `reportHandler()` behind `maintenance()` on a loopback port. The tests
 * assert what a person sees, that no request leaves the page, and that
 * hostile text from a bundle renders as text and runs nothing. A screenshot
 * of each state is saved in the test's temp folder (and kept when
 * `LOCKSTEP_SCREENSHOTS` names a folder).
 *
 * @module
 */
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp, type TestApp } from "./helpers/app.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { loadConfig, maintenance, maintenanceOn, reportHandler } from "../mod.ts";

const CHROMIUM = Deno.env.get("LOCKSTEP_TEST_CHROMIUM") ?? "/usr/bin/chromium";
const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

const HOSTILE_NOTES = `Fixes a hole.
<script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
<a href="javascript:window.pwned = 3">click</a>`;

/** A migrated app whose users table was changed by hand, with a hostile security bundle waiting. */
async function driftedApp(): Promise<TestApp> {
  const app = await makeApp("sqlite", {
    packages: {
      core: {
        files: { "20260101000000_users.sql": "create table users (id integer, email text);\n" },
      },
    },
  });
  const cli = (...args: string[]) =>
    runCli(documentedFlags(app.dir), [...args, "--config", app.configPath]);
  assertEquals((await cli("migrate", "--yes")).code, 0);
  await app.dbs.main!.query("alter table users add column nickname text");
  await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
  await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0.zip"), {
    version: "1.1.0",
    security: true,
    notes: HOSTILE_NOTES,
    files: { "app/main.ts": "2\n" },
    manifest: { database: ["core: <b>bold</b> adds an index"] },
  });
  return app;
}

/** A headless browser that records every request a page makes. */
async function browse(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

async function openPage(browser: Browser): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("dialog", (dialog) => dialog.dismiss());
  return { page, requests };
}

async function screenshot(page: Page, app: TestApp, name: string): Promise<void> {
  const path = join(app.dir, `${name}.png`) as `${string}.png`;
  await page.screenshot({ path, fullPage: true });
  const keep = Deno.env.get("LOCKSTEP_SCREENSHOTS");
  if (keep) await Deno.copyFile(path, join(keep, `${name}.png`));
}

/** What a person reads in `selector` (its rendered text). */
const text = (page: Page, selector: string): Promise<string> =>
  page.$eval(selector, (element) => (element as unknown as { innerText: string }).innerText);

Deno.test({
  name:
    "the report page from `report --html`: verdict, security badge, drift, commands; hostile notes are text; nothing loads",
  ignore: !haveChromium,
  async fn() {
    await using app = await driftedApp();
    const file = join(app.dir, "report.html");
    const written = await runCli(documentedFlags(app.dir), [
      "report",
      "--html",
      file,
      "--config",
      app.configPath,
    ]);
    assertEquals(written.code, 0, written.stderr);
    await browse(async (browser) => {
      const { page, requests } = await openPage(browser);
      const url = `file://${file}`;
      await page.goto(url, { waitUntil: "load" });
      assertMatch(await text(page, "#verdict h2"), /^Blocked$/);
      const row = "tr[data-file='testapp-1.1.0.zip']";
      assertEquals(await text(page, `${row} .b-security`), "SECURITY");
      assertMatch(await text(page, "[data-database='main']"), /nickname\s+added/);
      const commands = await page.$$eval("pre code", (codes) => codes.map((c) => c.textContent));
      assert(commands.includes("lockstep migrate --accept-drift"), commands.join(", "));
      assert(commands.includes("lockstep update"), commands.join(", "));
      // The hostile notes are shown as the text they are, and nothing of them ran.
      const notes = await text(page, `${row} td.notes`);
      assertMatch(notes, /<script>window\.pwned = 1<\/script>/);
      assertMatch(notes, /<img src=x onerror=/);
      assertMatch(notes, /<b>bold<\/b>/);
      assertEquals(await page.$$(`${row} td.notes img, ${row} td.notes a, ${row} td.notes b`), []);
      assertEquals(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
      assertEquals(requests, [url], "no request leaves the page");
      await screenshot(page, app, "report-blocked");
      // On a phone the page still reads: no horizontal scroll of the whole page.
      await page.setViewport({ width: 390, height: 844 });
      const wide = await page.evaluate(() =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } })
          .document.documentElement.scrollWidth
      );
      assert(wide <= 390, `the page is ${wide} px wide on a phone`);
      await screenshot(page, app, "report-phone");
    });
  },
});

Deno.test({
  name:
    "reportHandler() behind maintenance(): the admin path is refused without the token and served with it",
  ignore: !haveChromium,
  async fn() {
    await using app = await driftedApp();
    const config = await loadConfig(app.configPath);
    await maintenanceOn(config, { message: "Upgrading the shop" });
    const token = "s3cret-admin-token";
    const admin = reportHandler(config);
    const handler = maintenance(
      (request: Request) =>
        new URL(request.url).pathname === "/admin/lockstep"
          ? admin(request)
          : new Response("the shop"),
      { config, adminPaths: ["/admin/**"], adminToken: token, checkEveryMs: 0 },
    );
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      handler,
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    await browse(async (browser) => {
      const refused = await openPage(browser);
      const answer = await refused.page.goto(`${base}/admin/lockstep`);
      assertEquals(answer?.status(), 503);
      assertMatch(await text(refused.page, "body"), /Upgrading the shop/);

      const served = await openPage(browser);
      await served.page.setExtraHTTPHeaders({ authorization: `Bearer ${token}` });
      const page = await served.page.goto(`${base}/admin/lockstep`);
      assertEquals(page?.status(), 200);
      assertMatch(page!.headers()["content-security-policy"]!, /default-src 'none'/);
      assertMatch(await text(served.page, "#verdict"), /maintenance on[\s\S]*Upgrading the shop/i);
      assertEquals(served.requests, [`${base}/admin/lockstep`], "no request leaves the page");
      await screenshot(served.page, app, "report-maintenance");
    });
    const json = await fetch(`${base}/admin/lockstep`, {
      headers: { accept: "application/json", authorization: `Bearer ${token}` },
    });
    assertEquals((await json.json()).verdict.maintenance.message, "Upgrading the shop");
  },
});
