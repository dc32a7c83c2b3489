/**
 * Checking a PostgreSQL backup artifact without a database: the built-in
 * dump must decompress and end with its trailer; a custom-format one must
 * start with pg_dump's signature (and is listed by `pg_restore -l` when that
 * may be run).
 *
 * @module
 */
import { messageOf } from "../../errors.ts";
import type { PostgresFormat } from "./dump.ts";
import { lines, TRAILER } from "./script.ts";
import { pgToolAllowed } from "./tools.ts";

/** Why the dump at `path` is unusable, or `undefined`. */
export async function checkDump(path: string, format: PostgresFormat): Promise<string | undefined> {
  if (format === "pg_dump") return await checkArchive(path);
  let last = "";
  try {
    for await (const line of lines((await Deno.open(path)).readable, true)) last = line;
  } catch (error) {
    return `it does not decompress (${messageOf(error)})`;
  }
  return last === TRAILER ? undefined : "it is cut short (no end marker)";
}

async function checkArchive(path: string): Promise<string | undefined> {
  const file = await Deno.open(path, { read: true });
  const head = new Uint8Array(5);
  const n = await file.read(head);
  file.close();
  if (n !== 5 || new TextDecoder().decode(head) !== "PGDMP") {
    return "it is not a pg_dump custom-format archive";
  }
  if (!pgToolAllowed("pg_restore")) return undefined;
  const out = await new Deno.Command("pg_restore", {
    args: ["-l", path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output().catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (out && !out.success) {
    return `pg_restore cannot read it: ${new TextDecoder().decode(out.stderr).trim()}`;
  }
  return undefined;
}
