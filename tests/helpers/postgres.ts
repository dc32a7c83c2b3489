/**
 * A real PostgreSQL server for the tests: `LOCKSTEP_TEST_POSTGRES_URL` when
 * set (a superuser URL), otherwise a throwaway cluster started with
 * `initdb`/`pg_ctl` on a free loopback port (as the `postgres` user when the
 * tests run as root) and stopped when the test process exits.
 *
 * @module
 */
import postgres from "../../lib/deps/postgres.ts";

let server: Promise<string> | undefined;

/** The superuser URL of the test server, starting it on first use. */
export function serverUrl(): Promise<string> {
  server ??= start();
  return server;
}

/** A new, empty database on the test server, dropped when disposed. */
export interface TestDatabase extends AsyncDisposable {
  /** Its URL (superuser, no password). */
  readonly url: string;
  /** Its name. */
  readonly name: string;
  /** Runs SQL on it as the superuser, for setting up and inspecting. */
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/** Makes an empty database for one test. */
export async function freshDatabase(): Promise<TestDatabase> {
  const base = await serverUrl();
  const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = base.replace(/\/[^/]*$/, `/${name}`);
  const client = postgres(url, { max: 1, onnotice: () => {} });
  return {
    url,
    name,
    async query(text, params = []) {
      return Array.from(await client.unsafe(text, params as never[]));
    },
    async [Symbol.asyncDispose]() {
      await client.end({ timeout: 1 });
      const dropper = postgres(base, { max: 1, onnotice: () => {} });
      await dropper.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await dropper.end();
    },
  };
}

/** A cluster of one test's own, that it may stop and start again (the shared one it must not). */
export interface PrivateCluster extends AsyncDisposable {
  /** Its superuser URL (database `postgres`). */
  readonly url: string;
  /** Runs `pg_ctl stop -m MODE` (default `fast`: every session is ended, as an operator would). */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts a throwaway cluster for one test; disposing it stops it and removes its files. */
export async function privateCluster(): Promise<PrivateCluster> {
  const cluster = await newCluster("lockstep-pg-own-", "");
  return {
    url: cluster.url,
    stop: async (mode) => void await cluster.stop(mode),
    start: async () => void await cluster.start(),
    async [Symbol.asyncDispose]() {
      cluster.forget();
      await cluster.stop("immediate").catch(() => undefined);
      await Deno.remove(cluster.dir, { recursive: true });
    },
  };
}

async function start(): Promise<string> {
  const given = Deno.env.get("LOCKSTEP_TEST_POSTGRES_URL");
  if (given) return given;
  return (await newCluster("lockstep-pg-", " -c max_connections=200")).url;
}

/**
 * A cluster in a new temporary folder (owned by `postgres` when running as
 * root: `initdb` and `pg_ctl` refuse root), made with `initdb` and started on
 * a free loopback port, without durability (fsync off: a test's data need
 * not survive a crash). It is stopped when the process ends ({@link stopAtExit}).
 */
async function newCluster(prefix: string, extraOptions: string) {
  const bin = await findBin();
  const asRoot = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix });
  if (asRoot) {
    const [uid, gid] = await Promise.all([
      run(["id", "-u", "postgres"]),
      run(["id", "-g", "postgres"]),
    ]);
    await Deno.chown(dir, Number(uid), Number(gid));
  }
  const as = (cmd: string[]) => asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const data = `${dir}/data`;
  const port = freePort();
  const options = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off ` +
    `-c synchronous_commit=off -c full_page_writes=off${extraOptions}`;
  const start = () =>
    run(as([`${bin}/pg_ctl`, "-D", data, "-o", options, "-l", `${dir}/log`, "-w", "start"]));
  const stop = (mode = "fast") => run(as([`${bin}/pg_ctl`, "-D", data, "-m", mode, "-w", "stop"]));
  try {
    await run(
      as([`${bin}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
    );
    await start();
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
    throw error;
  }
  const forget = stopAtExit(as([`${bin}/pg_ctl`, "-D", data, "-m", "immediate", "stop"]), dir);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dir, start, stop, forget };
}

/**
 * Stops a cluster and removes its folder when the process ends: normally,
 * or stopped with Ctrl-C or `kill` (which then exit through "unload"); a
 * cluster disposed of before then is not stopped twice.
 */
function stopAtExit(stop: string[], dir: string): () => void {
  let done = false;
  const cleanUp = () => {
    if (done) return;
    done = true;
    const [program, ...args] = stop;
    new Deno.Command(program!, { args, stdout: "null", stderr: "null" }).outputSync();
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", cleanUp);
  exitOnSignals();
  return () => {
    done = true;
    globalThis.removeEventListener("unload", cleanUp);
  };
}

let signalsHandled = false;

/** Ctrl-C and `kill` end the process through "unload", so that its clusters are stopped. */
function exitOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  Deno.addSignalListener("SIGINT", () => Deno.exit(130));
  Deno.addSignalListener("SIGTERM", () => Deno.exit(143));
}

/** The folder of the PostgreSQL binaries the tests use (`initdb`, `pg_dump`, `psql`…). */
export async function findBin(): Promise<string> {
  const fromEnv = Deno.env.get("LOCKSTEP_TEST_PG_BIN");
  if (fromEnv) return fromEnv;
  const root = "/usr/lib/postgresql";
  const versions: string[] = [];
  for await (const entry of Deno.readDir(root)) versions.push(entry.name);
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error(`no PostgreSQL under ${root}: install "postgresql"`);
  return `${root}/${newest}/bin`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function run(cmd: string[]): Promise<string> {
  const [program, ...args] = cmd;
  const out = await new Deno.Command(program!, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}${text}`);
  }
  return text;
}

/** A TCP proxy in front of the test server, whose connections a test can cut at once. */
export interface CuttableProxy extends AsyncDisposable {
  /** `url` with the proxy's host and port. */
  readonly url: string;
  /** Closes every connection through the proxy, both ways, as a network cut would. */
  cut(): void;
}

/** Starts a proxy to the server of `url` on a free loopback port. */
export function cuttableProxy(url: string): CuttableProxy {
  const target = new URL(url);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    await from.readable.pipeTo(to.writable).catch(() => undefined);
  };
  const serving = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({
        hostname: target.hostname,
        port: Number(target.port),
      });
      open.add(client).add(server);
      pipe(client, server);
      pipe(server, client);
    }
  })().catch(() => undefined);
  const proxied = new URL(url);
  proxied.port = String((listener.addr as Deno.NetAddr).port);
  const cut = () => {
    for (const conn of open) {
      try {
        conn.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    }
    open.clear();
  };
  return {
    url: proxied.toString(),
    cut,
    async [Symbol.asyncDispose]() {
      cut();
      listener.close();
      await serving;
    },
  };
}
