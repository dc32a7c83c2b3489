/**
 * Nothing lost: while a writer process keeps committing rows into a table of
 * each database (SQLite and PostgreSQL), an update that fails (its third
 * migration, a damaged bundle, an unwritable target) keeps every row the
 * writer saw committed; a restore keeps every row but those written since
 * the backup, which its confirmation says it discards. Through the CLI with
 * the README's flags.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { fileEntry, pendingRelease, writeBundle } from "./helpers/bundles.ts";

const WRITER = new URL("./helpers/writer.ts", import.meta.url).pathname;
const SQLITE_EVENTS = "create table events (id integer primary key autoincrement, note text);\n";
const PG_EVENTS = "create table events (id serial primary key, note text);\n";

/** A running writer: the ids it saw committed, in order. */
interface Writer {
  readonly ids: number[];
  stop(): Promise<number[]>;
}

function startWriter(args: string[]): Writer {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, ...args],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const ids: number[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) ids.push(Number(line));
    }
  })();
  return {
    ids,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await reading;
      return ids;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The 1.0.0 app: `events` in each database, migrated. */
async function app100(backend: "sqlite" | "postgres"): Promise<TestApp> {
  const app = await makeApp("sqlite", {
    databases: { main: "sqlite", clients: backend },
    packages: {
      core: { database: "main", files: { "20260101000000_events.sql": SQLITE_EVENTS } },
      orders: {
        database: "clients",
        files: { "20260101000000_events.sql": backend === "postgres" ? PG_EVENTS : SQLITE_EVENTS },
      },
    },
    files: { "app/main.ts": "1.0.0\n" },
  });
  return app;
}

interface Case {
  readonly name: string;
  /** Prepares the case (with the writers running), then runs the command; returns its exit code. */
  run(app: TestApp, cli: (...args: string[]) => ReturnType<typeof runCli>): Promise<number>;
  /** Rows the writers saw committed that this case may discard (a restore's). */
  readonly discards?: boolean;
}

const CASES: Case[] = [
  {
    name: "an update whose third migration fails after two succeeded",
    async run(app, cli) {
      const files = (backend: string) => ({
        "app/main.ts": "1.1.0\n",
        "migrations/core/20260101000000_events.sql": SQLITE_EVENTS,
        "migrations/orders/20260101000000_events.sql": backend,
        "migrations/core/20260201000000_one.sql": "create table one (id integer);\n",
        "migrations/orders/20260202000000_two.sql": "create table two (id integer);\n",
        "migrations/core/20260203000000_three.sql": "insert into no_such_table values (1);\n",
      });
      const orders = await Deno.readTextFile(
        join(app.dir, "migrations/orders/20260101000000_events.sql"),
      );
      await pendingRelease(app.dir, "1.1.0", files(orders));
      const result = await cli("update", "--yes", "--json");
      const error = JSON.parse(result.stdout).error;
      assertEquals([error.code, error.data.step, error.data.databases], [
        "UPDATE_FAILED",
        "migrate",
        [],
      ]);
      return result.code;
    },
  },
  {
    name: "an update whose bundle is damaged in its last entry",
    async run(app, cli) {
      await Deno.mkdir(join(app.dir, "updates/pending"), { recursive: true });
      await writeBundle(join(app.dir, "updates/pending/testapp-1.1.0.zip"), {
        version: "1.1.0",
        files: { "app/main.ts": "1.1.0\n", "app/z.ts": "real bytes\n" },
        manifest: {
          files: {
            "app/main.ts": fileEntry("1.1.0\n"),
            "app/z.ts": fileEntry("fake bytes\n"),
          },
        },
      });
      const result = await cli("update", "--yes", "--json");
      assertEquals(JSON.parse(result.stdout).error.code, "BUNDLE_CONTENT_MISMATCH");
      return result.code;
    },
  },
  {
    name: "an update with a target that cannot be written",
    async run(app, cli) {
      await Deno.mkdir(join(app.dir, "app/new.ts"), { recursive: true });
      await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "1.1.0\n", "app/new.ts": "x\n" });
      const result = await cli("update", "--yes", "--json");
      assertEquals(JSON.parse(result.stdout).error.code, "BUNDLE_TARGET_UNWRITABLE");
      return result.code;
    },
  },
];

for (const backend of BACKENDS) {
  for (const c of CASES) {
    Deno.test(`nothing lost (${backend}): ${c.name} keeps every row a writer committed`, async () => {
      await using app = await app100(backend);
      const postgres = backend === "postgres" ? [app.dbs.clients!.url] : [];
      const cli = (...args: string[]) =>
        runCli(documentedFlags(app.dir, { postgres }), [...args, "--config", app.configPath]);
      assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
      const main = startWriter(["sqlite", join(app.dir, "data/main.db"), "events"]);
      const clients = backend === "postgres"
        ? startWriter(["postgres", app.dbs.clients!.url, "events"])
        : startWriter(["sqlite", join(app.dir, "data/clients.db"), "events"]);
      await sleep(300);
      const code = await c.run(app, cli);
      await sleep(300);
      const wroteMain = await main.stop();
      const wroteClients = await clients.stop();
      assertEquals(code, 1);
      for (const [db, wrote] of [["main", wroteMain], ["clients", wroteClients]] as const) {
        assert(wrote.length > 20, `the ${db} writer kept writing (${wrote.length} rows)`);
        const rows = await app.dbs[db]!.query("select id from events");
        const present = new Set(rows.map((r) => Number(r.id)));
        const lost = wrote.filter((id) => !present.has(id));
        // deno-lint-ignore no-console
        console.log(
          `  ${db}: the writer committed ${wrote.length} rows; ${wrote.length - lost.length} kept`,
        );
        assertEquals(lost, [], `rows the ${db} writer saw committed are gone`);
      }
    });
  }

  Deno.test(`nothing lost (${backend}): a restore keeps every row but those written since the backup, as it says`, async () => {
    await using app = await app100(backend);
    const postgres = backend === "postgres" ? [app.dbs.clients!.url] : [];
    const cli = (...args: string[]) =>
      runCli(documentedFlags(app.dir, { postgres }), [...args, "--config", app.configPath]);
    assertEquals((await cli("migrate", "--yes", "--no-backup")).code, 0);
    const main = startWriter(["sqlite", join(app.dir, "data/main.db"), "events"]);
    const clients = backend === "postgres"
      ? startWriter(["postgres", app.dbs.clients!.url, "events"])
      : startWriter(["sqlite", join(app.dir, "data/clients.db"), "events"]);
    await sleep(300);
    const before = { main: main.ids.length, clients: clients.ids.length };
    const made = await cli("backup", "--json");
    assertEquals(made.code, 0, made.stderr);
    const id = JSON.parse(made.stdout).id;
    await sleep(300);
    const restored = await cli("restore", id, "--yes", "--json");
    assertEquals(restored.code, 0, restored.stdout);
    const after = { main: main.ids.length, clients: clients.ids.length };
    await sleep(300);
    const wrote = { main: await main.stop(), clients: await clients.stop() };
    for (const db of ["main", "clients"] as const) {
      const rows = await app.dbs[db]!.query("select id from events");
      const present = new Set(rows.map((r) => Number(r.id)));
      // Committed before the backup began, and after the restore finished: all kept.
      const sure = [...wrote[db].slice(0, before[db]), ...wrote[db].slice(after[db])];
      assertEquals(
        sure.filter((i) => !present.has(i)),
        [],
        `${db}: a row outside the window is gone`,
      );
      const discarded = wrote[db].filter((i) => !present.has(i)).length;
      // deno-lint-ignore no-console
      console.log(
        `  ${db}: the writer committed ${wrote[db].length} rows; ${
          wrote[db].length - discarded
        } kept, ${discarded} written between the backup and the restore discarded`,
      );
    }
    // The present was backed up first: the discarded rows are in that backup.
    const backups = JSON.parse((await cli("backups", "--json")).stdout).backups;
    assert(backups.some((b: { label: string }) => b.label === "before-restore"));
  });
}
