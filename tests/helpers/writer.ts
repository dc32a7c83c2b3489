/**
 * A writer process for the "nothing lost" tests: inserts one row at a time
 * into a table, prints each id once its insert committed, and stops after the
 * current insert on SIGTERM. Run as
 * `deno run -A writer.ts sqlite PATH TABLE` or `… postgres URL TABLE`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "../../lib/deps/postgres.ts";

const [kind, target, table] = Deno.args as [string, string, string];
let stopping = false;
Deno.addSignalListener("SIGTERM", () => (stopping = true));
const out = (id: number) => Deno.stdout.writeSync(new TextEncoder().encode(`${id}\n`));
const pause = () => new Promise((resolve) => setTimeout(resolve, 3));

// An insert that fails (a restore replaced the table under it) is retried: only committed ids print.
if (kind === "sqlite") {
  const db = new DatabaseSync(target);
  db.exec("PRAGMA busy_timeout = 60000");
  while (!stopping) {
    try {
      const row = db.prepare(`insert into ${table} (note) values ('w') returning id`).get();
      out(Number((row as { id: number }).id));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await pause();
  }
  db.close();
} else {
  const sql = postgres(target, { max: 1, onnotice: () => {} });
  while (!stopping) {
    try {
      const [row] = await sql.unsafe(`insert into ${table} (note) values ('w') returning id`);
      out(Number(row!.id));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await pause();
  }
  await sql.end();
}
