/**
 * PostgreSQL's own tools for the tests: `psql` to load a script, `pg_dump -s`
 * plus every table's rows as the text that round trips are compared on, and
 * the `PATH` that lets a CLI subprocess run `pg_dump` and `pg_restore`.
 *
 * @module
 */
import { findBin } from "./postgres.ts";

/** The environment for a CLI run that may use pg_dump and pg_restore. */
export async function pgToolsEnv(): Promise<Record<string, string>> {
  return { PATH: `${await findBin()}:${Deno.env.get("PATH") ?? ""}` };
}

/** Runs a PostgreSQL tool from the test server's installation; returns stdout. */
export async function pgTool(tool: string, args: readonly string[]): Promise<string> {
  const out = await new Deno.Command(`${await findBin()}/${tool}`, {
    args: [...args],
    env: { PGAPPNAME: "lockstep-test" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${tool} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Runs a SQL script file on `url` with psql, stopping at the first error. */
export async function psqlFile(url: string, file: string | URL): Promise<void> {
  const path = file instanceof URL ? file.pathname : file;
  await pgTool("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", path]);
}

/** `pg_dump -s` of `url`, without the lines that differ on every run (`\restrict` keys). */
export async function schemaOf(url: string): Promise<string> {
  const text = await pgTool("pg_dump", ["-s", url]);
  return text.split("\n").filter((line) => !/^\\(un)?restrict /.test(line)).join("\n");
}

/** The objects `pg_dump -s` lists (`Type name`), as its table of contents names them. */
export function objectsOf(schema: string): string[] {
  return [...schema.matchAll(/^-- Name: (.+?); Type: (.+?); Schema: /gm)]
    .map(([, name, type]) => `${type} ${name}`).sort();
}

/**
 * The schema and the data of `url` as comparable text: `pg_dump -s`, then
 * the rows of every table and materialized view in a fixed order, then each
 * sequence's value.
 */
export async function schemaAndData(
  query: (text: string) => Promise<Record<string, unknown>[]>,
  url: string,
): Promise<string> {
  const out = [await schemaOf(url)];
  const relations = await query(
    `select format('%I.%I', n.nspname, c.relname) as name, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'm', 'S')
        and c.relname not like 'lockstep\\_%' order by 1`,
  );
  for (const { name, kind } of relations) {
    const rows = kind === "S"
      ? await query(`select last_value::text, is_called from ${name}`)
      : await query(`select t::text as row from ${name} t order by 1`);
    out.push(`${name}: ${JSON.stringify(rows)}`);
  }
  return out.join("\n");
}
