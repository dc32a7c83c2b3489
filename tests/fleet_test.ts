/**
 * Fleets: several app roots (hosts) on one PostgreSQL database, each with its
 * own lockstep, rolling from 1.0.0 to 1.1.0 (one expand and one contract
 * migration) with `start --install`, while a client under each host's
 * `start` keeps writing and reading the way its code does and counts every
 * query that fails. Through the CLI with the README's flags.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { pendingRelease } from "./helpers/bundles.ts";
import {
  CONTRACT_ID,
  EXPAND_ID,
  type Fleet,
  type Host,
  makeFleet,
  RELEASE_110,
  type Running,
  waitFor,
} from "./helpers/fleet.ts";

/** 1.0.0 migrated once (no backup: the test counts the release's backups), clients running. */
async function rollOut100(fleet: Fleet): Promise<Running[]> {
  const first = await fleet.hosts[0]!.cli("migrate", "--yes", "--no-backup");
  assertEquals(first.code, 0, first.stderr);
  const running = fleet.hosts.map((host) => host.start());
  await waitFor("every host registered as running 1.0.0", async () => {
    const rows = await fleet.registry();
    return rows.length === fleet.hosts.length &&
      rows.every((r) => r.state === "running" && r.code_version === "1.0.0");
  });
  for (const host of fleet.hosts) await pendingRelease(host.dir, "1.1.0", RELEASE_110);
  return running;
}

async function checkJson(host: Host): Promise<{ exitCode: number; codes: string[] }> {
  const result = await host.cli("check", "--json");
  const report = JSON.parse(result.stdout);
  return {
    exitCode: result.code,
    codes: report.problems.map((p: { code: string }) => p.code),
  };
}

/** Backups on every host's disk that hold the shared database, with the code version. */
async function sharedBackups(fleet: Fleet): Promise<string[]> {
  const found: string[] = [];
  for (const host of fleet.hosts) {
    const folder = join(host.dir, "updates/backups");
    try {
      for await (const entry of Deno.readDir(folder)) {
        const manifest = JSON.parse(
          await Deno.readTextFile(join(folder, entry.name, "backup.json")),
        );
        if (manifest.databases.some((d: { name: string }) => d.name === "clients")) {
          found.push(`${host.name}:${manifest.codeVersion}`);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return found;
}

/** `waiting`, failing at once with its output when one of `running` exits first. */
async function whileRunning(running: readonly Running[], waiting: Promise<void>): Promise<void> {
  await Promise.race([
    waiting,
    ...running.map((r) =>
      r.done.then((out) => {
        throw new Error(`start exited early (${out.code}): ${out.stderr}${out.stdout}`);
      })
    ),
  ]);
}

async function registered(fleet: Fleet, host: string): Promise<Record<string, unknown>> {
  return (await fleet.registry()).find((r) => r.host === host) ?? {};
}

async function stopAll(fleet: Fleet, running: readonly Running[]): Promise<void> {
  for (const [i, r] of running.entries()) {
    const out = await r.stop();
    assertEquals(out.code, 0, `${fleet.hosts[i]!.name}: ${out.stderr}`);
  }
}

async function assertNoClientErrors(fleet: Fleet): Promise<string> {
  const counts: string[] = [];
  for (const host of fleet.hosts) {
    for (const log of await host.clientLogs()) {
      assertEquals(log.errors, [], `${host.name} ${log.version}: queries failed`);
      assert(log.ok > 0, `${host.name} ${log.version}: the client ran no query`);
      counts.push(`${host.name} ${log.version}: ${log.ok} ok`);
    }
  }
  return counts.join(", ");
}

Deno.test("fleet: three hosts roll to 1.1.0; the contract migration waits for the last 1.0.0 host, then runs once; the shared database is backed up once; no client query fails", async () => {
  await using fleet = await makeFleet(3);
  const [web1, web2, web3] = fleet.hosts as [Host, Host, Host];
  const running = await rollOut100(fleet);

  // web-1 first, alone: it installs 1.1.0 and applies the expand migration only.
  await running[0]!.stop();
  running[0] = web1.start({ install: true });
  await waitFor("web-1 running 1.1.0", async () => {
    const row = await registered(fleet, "web-1");
    return row.state === "running" && row.code_version === "1.1.0";
  });
  let ledger = await fleet.ledger();
  assertEquals(ledger.map((r) => r.id).filter((id) => id !== "core/20260101000000_items"), [
    EXPAND_ID,
  ]);
  assertEquals(ledger.find((r) => r.id === EXPAND_ID)?.host, "web-1");
  // The new code may run (its expand migration is in); the old code may too, warned.
  assertEquals(await checkJson(web1), { exitCode: 0, codes: ["CONTRACT_WAITING"] });
  const old = await checkJson(web2);
  assertEquals(old.exitCode, 3, "1.1.0 waits in pending/ on web-2");
  assert(old.codes.includes("NEWER_RELEASE_EXPANDED"), old.codes.join());
  assert(!old.codes.includes("DATABASE_AHEAD"), old.codes.join());
  const status = await web1.cli("status");
  assert(status.stdout.includes(CONTRACT_ID) && status.stdout.includes("web-2"), status.stdout);

  // web-2 and web-3 together: whichever migrates last with the other on 1.1.0 runs the contract.
  await Promise.all([running[1]!.stop(), running[2]!.stop()]);
  running[1] = web2.start({ install: true });
  running[2] = web3.start({ install: true });
  await waitFor("every host running 1.1.0", async () => {
    const rows = await fleet.registry();
    return rows.every((r) => r.state === "running" && r.code_version === "1.1.0");
  });
  await waitFor(
    "the contract migration applied",
    async () => (await fleet.ledger()).some((r) => r.id === CONTRACT_ID),
  );
  ledger = await fleet.ledger();
  assertEquals(ledger.filter((r) => r.id === CONTRACT_ID).length, 1);
  const applied = await fleet.db.query(
    "select migration, host from lockstep_events where kind = 'applied' and migration = $1",
    [CONTRACT_ID],
  );
  assertEquals(applied.length, 1, "the contract migration ran exactly once");
  const columns = await fleet.db.query(
    "select column_name from information_schema.columns where table_name = 'items' order by 1",
  );
  assertEquals(columns.map((c) => c.column_name), ["id", "title"]);

  // One backup of the shared database for the release, on the host that migrated first.
  assertEquals(await sharedBackups(fleet), ["web-1:1.1.0"]);
  const events = await fleet.db.query(
    "select host, code_version from lockstep_events where kind = 'backup'",
  );
  assertEquals(events.map((e) => `${e.host}:${e.code_version}`), ["web-1:1.1.0"]);

  for (const host of fleet.hosts) assertEquals(await checkJson(host), { exitCode: 0, codes: [] });
  await stopAll(fleet, running);
  const counts = await assertNoClientErrors(fleet);
  // deno-lint-ignore no-console
  console.log(`client queries: ${counts}`);
  assertEquals((await fleet.registry()).map((r) => r.state), ["stopped", "stopped", "stopped"]);
});

Deno.test("fleet: ten hosts roll to 1.1.0 in two concurrent waves; each migration runs once, one backup, no client query fails", async () => {
  await using fleet = await makeFleet(10);
  const running = await rollOut100(fleet);
  const started = performance.now();
  for (const wave of [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]) {
    await Promise.all(wave.map((i) => running[i]!.stop()));
    for (const i of wave) running[i] = fleet.hosts[i]!.start({ install: true });
    await whileRunning(
      wave.map((i) => running[i]!),
      waitFor("the wave running 1.1.0", async () => {
        const rows = await fleet.registry();
        return wave.every((i) => {
          const row = rows.find((r) => r.host === fleet.hosts[i]!.name);
          return row?.state === "running" && row.code_version === "1.1.0";
        });
      }, 120_000),
    );
    const contract = (await fleet.ledger()).some((r) => r.id === CONTRACT_ID);
    // After the first wave five hosts still run 1.0.0: the contract migration waits for them.
    assertEquals(contract, wave[0] === 5, `contract applied after the wave from ${wave[0]}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const applied = await fleet.db.query(
    "select migration, count(*)::int as n from lockstep_events where kind = 'applied' " +
      "group by migration order by migration",
  );
  assertEquals(applied.map((r) => `${r.migration}:${r.n}`), [
    "core/20260101000000_items:1",
    `${EXPAND_ID}:1`,
    `${CONTRACT_ID}:1`,
  ]);
  assertEquals((await sharedBackups(fleet)).length, 1);
  for (const host of fleet.hosts) assertEquals(await checkJson(host), { exitCode: 0, codes: [] });
  await stopAll(fleet, running);
  await assertNoClientErrors(fleet);
  // deno-lint-ignore no-console
  console.log(`10 hosts rolled in ${seconds} s`);
});

Deno.test("fleet: a host that stopped without leaving holds contract migrations only until it is stale, and the report says so", async () => {
  await using fleet = await makeFleet(2, { staleAfterSeconds: 3, named: false });
  const [web1, web2] = fleet.hosts as [Host, Host];
  const running = await rollOut100(fleet);
  const ids = (await fleet.registry()).map((r) => String(r.host));
  assert(ids.every((id) => id.startsWith("host-")), `generated ids: ${ids}`);
  // web-2 dies: no SIGTERM, so it never says it stopped.
  await running[1]!.kill();
  const [, web2Id] = await Promise.all(
    fleet.hosts.map(async (h) =>
      JSON.parse(await Deno.readTextFile(join(h.dir, "updates/state.json"))).hostId
    ),
  );
  const update = await web1.cli("update", "--yes");
  assertEquals(update.code, 0, update.stderr);
  assert((await fleet.ledger()).every((r) => r.id !== CONTRACT_ID), "held while web-2 is fresh");
  await waitFor("web-2 stale", async () => {
    const report = JSON.parse((await web1.cli("report", "--json")).stdout);
    return report.fleet.hosts.some((h: { host: string; stale: boolean }) =>
      h.host === web2Id && h.stale
    );
  }, 20_000);
  const report = JSON.parse((await web1.cli("report", "--json")).stdout);
  const finding = report.findings.find((f: { code: string }) => f.code === "FLEET_HOST_STALE");
  assert(finding?.description.includes(web2Id), JSON.stringify(report.findings));
  const page = join(web1.dir, "report.html");
  assertEquals((await web1.cli("report", "--html", page)).code, 0);
  const html = await Deno.readTextFile(page);
  assert(
    html.includes(`id="fleet"`) && html.includes(`${web2Id}</td>`),
    "the page's fleet section",
  );
  assert(html.includes("stale: not counted"), "the page says web-2 is not counted");
  assertEquals((await checkJson(web1)).exitCode, 4, "the contract migration may run now");
  const migrate = await web1.cli("migrate", "--yes");
  assertEquals(migrate.code, 0, migrate.stderr);
  assert((await fleet.ledger()).some((r) => r.id === CONTRACT_ID));
  // web-2 comes back on 1.0.0: the database is ahead of it, until it installs 1.1.0.
  assertEquals((await checkJson(web2)).exitCode, 5);
  const back = web2.start({ install: true });
  await waitFor("web-2 running 1.1.0", async () => {
    const row = await registered(fleet, web2Id);
    return row.state === "running" && row.code_version === "1.1.0";
  });
  await back.stop();
  await running[0]!.stop();
});

Deno.test("fleet: a host whose update is refused changes nothing: the shared database, the registry and the other host are untouched, and the report shows it on 1.0.0", async () => {
  await using fleet = await makeFleet(2);
  const [web1, web2] = fleet.hosts as [Host, Host];
  const running = await rollOut100(fleet);
  // On web-2 only, a folder stands where 1.1.0 writes a file.
  await Deno.mkdir(join(web2.dir, "app/main.ts"), { recursive: true });
  const stable = async () => {
    const state = JSON.parse((await web1.cli("status", "--json")).stdout);
    return { ...state, fleet: null };
  };
  const before = { ledger: await fleet.ledger(), web1: await stable() };
  const result = await web2.cli("update", "--yes", "--json");
  assertEquals(result.code, 1);
  assertEquals(JSON.parse(result.stdout).error.code, "BUNDLE_TARGET_UNWRITABLE");
  assertEquals(await fleet.ledger(), before.ledger);
  assertEquals(await stable(), before.web1);
  assertEquals((await registered(fleet, "web-2")).code_version, "1.0.0");
  assertEquals(await sharedBackups(fleet), []);
  // web-1 goes on: it migrates the expand half, and the contract waits for web-2.
  assertEquals((await web1.cli("update", "--yes")).code, 0);
  const report = JSON.parse((await web1.cli("report", "--json")).stdout);
  const web2Row = report.fleet.hosts.find((h: { host: string }) => h.host === "web-2");
  assertEquals([web2Row.codeVersion, web2Row.state], ["1.0.0", "running"]);
  assert(report.findings.some((f: { code: string }) => f.code === "CONTRACT_WAITING"));
  await stopAll(fleet, running);
  await assertNoClientErrors(fleet);
});

Deno.test("fleet: an update that fails after committing expand migrations keeps the shared database (the old code runs on it), rolls back its own code, and loses no other host's write", async () => {
  await using fleet = await makeFleet(2);
  const [web1] = fleet.hosts as [Host, Host];
  const running = await rollOut100(fleet);
  // 1.1.0 again, with a third migration that fails; outside a transaction, so the expand
  // migration before it has committed.
  await Deno.remove(join(web1.dir, "updates/pending/testapp-1.1.0.zip"));
  await pendingRelease(web1.dir, "1.1.0", {
    ...RELEASE_110,
    "migrations/core/20260201000000_b_broken.sql": "-- lockstep:no-transaction\nselect 1/0;\n",
  });
  const result = await web1.cli("update", "--yes", "--json");
  assertEquals(result.code, 1, result.stdout);
  const error = JSON.parse(result.stdout).error;
  assertEquals(error.code, "UPDATE_FAILED");
  assert(error.message.includes(`shared database "clients" was kept`), error.message);
  assertEquals(error.data.databases, []);
  assertEquals(await Deno.readTextFile(join(web1.dir, "VERSION")), "1.0.0\n");
  assert((await fleet.ledger()).some((r) => r.id === EXPAND_ID), "the expand migration stays");
  assertEquals((await registered(fleet, "web-1")).code_version, "1.0.0");
  const restored = await fleet.db.query("select 1 from lockstep_events where kind = 'restored'");
  assertEquals(restored.length, 0);
  await stopAll(fleet, running);
  await assertNoClientErrors(fleet);
});
