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

async function start(): Promise<string> {
  const given = Deno.env.get("LOCKSTEP_TEST_POSTGRES_URL");
  if (given) return given;
  const bin = await findBin();
  const asRoot = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "lockstep-pg-" });
  if (asRoot) {
    const [uid, gid] = await Promise.all([
      run(["id", "-u", "postgres"]),
      run(["id", "-g", "postgres"]),
    ]);
    await Deno.chown(dir, Number(uid), Number(gid));
  }
  const as = (cmd: string[]) => asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const data = `${dir}/data`;
  await run(
    as([`${bin}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
  );
  const port = freePort();
  const options = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off ` +
    `-c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  await run(as([`${bin}/pg_ctl`, "-D", data, "-o", options, "-l", `${dir}/log`, "-w", "start"]));
  globalThis.addEventListener("unload", () => {
    const [program, ...args] = as([`${bin}/pg_ctl`, "-D", data, "-m", "immediate", "stop"]);
    new Deno.Command(program!, {
      args,
      stdout: "null",
      stderr: "null",
    }).outputSync();
    Deno.removeSync(dir, { recursive: true });
  });
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
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
