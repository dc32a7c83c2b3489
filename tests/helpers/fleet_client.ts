/**
 * The application of the fleet tests: runs under `lockstep start` on one
 * host, reads the code version of its app root once (the code it runs), and
 * until SIGTERM keeps writing and reading `items` the way that version's code
 * does (1.0.0 uses `name`; 1.1.0 `title`, which its expand migration added),
 * counting every query that fails. On SIGTERM it writes what it saw to
 * `<root>/client-<pid>.json`. Run as `deno run -A fleet_client.ts URL ROOT`.
 *
 * @module
 */
import postgres from "../../lib/deps/postgres.ts";

const [url, root] = Deno.args as [string, string];
const version = (await Deno.readTextFile(`${root}/VERSION`)).trim();
const column = version === "1.0.0" ? "name" : "title";
const sql = postgres(url, { max: 1, onnotice: () => {} });
let stopping = false;
Deno.addSignalListener("SIGTERM", () => (stopping = true));
let ok = 0;
const errors: string[] = [];
// An orphan (its `start` killed) ends too: a test that fails never leaves clients behind.
while (!stopping && Deno.ppid !== 1) {
  try {
    await sql.unsafe(`insert into items (${column}) values ($1)`, [`${version} ${ok}`]);
    await sql.unsafe(`select ${column} from items order by id desc limit 5`);
    ok++;
  } catch (error) {
    errors.push((error as Error).message);
  }
  await new Promise((resolve) => setTimeout(resolve, 15));
}
await sql.end({ timeout: 1 });
await Deno.writeTextFile(
  `${root}/client-${Deno.pid}.json`,
  JSON.stringify({ version, ok, errors }),
);
