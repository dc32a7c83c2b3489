/**
 * A simulated fleet on one machine: one PostgreSQL database shared by N app
 * roots (hosts), each with its own lockstep.json (`fleet.host` set, except
 * where a test wants the generated id), its own updates folder, and its own
 * `lockstep start` running the fleet client (`fleet_client.ts`) under it.
 * Every command is a real CLI subprocess with the README's flags.
 *
 * @module
 */
import { join } from "node:path";
import { CLI, type CliResult, documentedFlags, runCli } from "./cli.ts";
import { freshDatabase, type TestDatabase } from "./postgres.ts";
import { type TempDir, tempDir } from "./temp.ts";

const CLIENT = new URL("./fleet_client.ts", import.meta.url).pathname;

/** The 1.0.0 schema: the table the client writes. */
export const ITEMS_100 = "create table items (id serial primary key, name text not null);\n";

/** Release 1.1.0: one expand migration (a new column) and one contract (the old one dropped). */
export const RELEASE_110: Record<string, string> = {
  "app/main.ts": 'export const version = "1.1.0";\n',
  "migrations/core/20260201000000_add_title.sql": "-- lockstep:info add items.title\n" +
    "alter table items add column title text;\n" +
    "alter table items alter column name drop not null;\n",
  "migrations/core/20260201000001_drop_name.sql": "-- lockstep:phase contract\n" +
    "-- lockstep:info drop items.name, which 1.0.0 reads\n" +
    "alter table items drop column name;\n",
};

/** The ids of {@link RELEASE_110}'s migrations. */
export const EXPAND_ID = "core/20260201000000_add_title";
export const CONTRACT_ID = "core/20260201000001_drop_name";

/** What a client saw while it ran. */
export interface ClientLog {
  readonly version: string;
  readonly ok: number;
  readonly errors: readonly string[];
}

/** `lockstep start -- <client>` running on one host. */
export interface Running {
  /** Sends SIGTERM (start passes it on) and waits for start to exit. */
  stop(): Promise<CliResult>;
  /** Kills start with SIGKILL (it cannot deregister) and the client with it. */
  kill(): Promise<void>;
  /** Resolves when start exits on its own. */
  readonly done: Promise<CliResult>;
}

/** One host: an app root with its own lockstep. */
export interface Host {
  /** Its id (`fleet.host`), or `null` when it generates one. */
  readonly name: string;
  /** Its app root (also the config folder). */
  readonly dir: string;
  /** Runs a lockstep command on this host with the README's flags. */
  cli(...args: string[]): Promise<CliResult>;
  /** `lockstep start [--install] -- deno run -A fleet_client.ts URL ROOT`. */
  start(options?: { install?: boolean }): Running;
  /** What each client that ran on this host saw. */
  clientLogs(): Promise<ClientLog[]>;
}

/** The fleet: its hosts and the shared database. */
export interface Fleet extends AsyncDisposable {
  readonly hosts: readonly Host[];
  readonly db: TestDatabase;
  /** The registry as the database holds it. */
  registry(): Promise<Record<string, unknown>[]>;
  /** Ids and phases in the shared database's ledger. */
  ledger(): Promise<{ id: string; phase: string; host: string | null }[]>;
}

/**
 * Makes `count` hosts (`web-1`…) on one fresh database, each with the 1.0.0
 * code (`VERSION` 1.0.0 and the `items` migration); `named: false` leaves
 * `fleet.host` out of the hosts' configs so that each generates its id.
 */
export async function makeFleet(
  count: number,
  options: { staleAfterSeconds?: number; named?: boolean } = {},
): Promise<Fleet> {
  const db = await freshDatabase();
  const dirs: TempDir[] = [];
  const running = new Set<Deno.ChildProcess>();
  const hosts: Host[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const dir = await tempDir(`lockstep-fleet-${i}-`);
      dirs.push(dir);
      hosts.push(await makeHost(`web-${i}`, dir.path, db.url, running, options));
    }
  } catch (error) {
    for (const dir of dirs) await dir[Symbol.asyncDispose]();
    await db[Symbol.asyncDispose]();
    throw error;
  }
  return {
    hosts,
    db,
    registry: async () =>
      (await db.query("select to_regclass('lockstep_hosts') is not null as made"))[0]!.made
        ? await db.query(
          "select host, code_version, state, last_seen from lockstep_hosts order by host",
        )
        : [],
    ledger: async () =>
      (await db.query("select id, phase, host from lockstep_migrations order by applied_at, id"))
        .map((r) => ({
          id: String(r.id),
          phase: String(r.phase),
          host: r.host === null ? null : String(r.host),
        })),
    async [Symbol.asyncDispose]() {
      for (const child of running) {
        const clients = await childrenOf(child.pid);
        for (const pid of [child.pid, ...clients]) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // Gone already.
          }
        }
        await child.status;
      }
      for (const dir of dirs) await dir[Symbol.asyncDispose]();
      await db[Symbol.asyncDispose]();
    },
  };
}

async function makeHost(
  name: string,
  dir: string,
  url: string,
  running: Set<Deno.ChildProcess>,
  options: { staleAfterSeconds?: number; named?: boolean },
): Promise<Host> {
  const fleet = {
    ...(options.named === false ? {} : { host: name }),
    staleAfterSeconds: options.staleAfterSeconds ?? 60,
  };
  await Deno.mkdir(join(dir, "migrations/core"), { recursive: true });
  await Deno.writeTextFile(join(dir, "migrations/core/20260101000000_items.sql"), ITEMS_100);
  await Deno.writeTextFile(join(dir, "VERSION"), "1.0.0\n");
  const config = join(dir, "lockstep.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      app: "testapp",
      databases: { clients: { url } },
      packages: { core: { migrations: "migrations/core", database: "clients" } },
      fleet,
    }),
  );
  const flags = documentedFlags(dir, { postgres: [url] });
  return {
    name,
    dir,
    cli: (...args) => runCli(flags, [...args, "--config", config]),
    start(startOptions = {}) {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--quiet",
          ...flags,
          `--allow-run=${Deno.execPath()}`,
          CLI,
          "start",
          ...(startOptions.install ? ["--install"] : []),
          "--config",
          config,
          "--",
          Deno.execPath(),
          "run",
          "-A",
          "--quiet",
          CLIENT,
          url,
          dir,
        ],
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      running.add(child);
      const done = child.output().then((out) => {
        running.delete(child);
        return {
          code: out.code,
          stdout: new TextDecoder().decode(out.stdout),
          stderr: new TextDecoder().decode(out.stderr),
        };
      });
      return {
        done,
        async stop() {
          try {
            child.kill("SIGTERM");
          } catch {
            // It has exited: its output says why.
          }
          return await done;
        },
        async kill() {
          // The client is start's child (started just after start registered): find it first.
          let client: number[] = [];
          await waitFor("the client under start", async () => {
            client = await childrenOf(child.pid);
            return client.length > 0;
          }, 10_000);
          child.kill("SIGKILL");
          for (const pid of client) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch {
              // Gone already.
            }
          }
          await done;
        },
      };
    },
    async clientLogs() {
      const logs: ClientLog[] = [];
      for await (const entry of Deno.readDir(dir)) {
        if (/^client-\d+\.json$/.test(entry.name)) {
          logs.push(JSON.parse(await Deno.readTextFile(join(dir, entry.name))));
        }
      }
      return logs;
    },
  };
}

/** The pids of `pid`'s children, from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) pids.push(Number(entry.name));
    } catch {
      // It ended while we looked.
    }
  }
  return pids;
}

/** Polls `ready` every 100 ms until it is true, failing with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
