/**
 * The SQL script a PostgreSQL restore replays (lockstep's built-in dump, or
 * `pg_restore -f -` output): its start and end markers, reading it line by
 * line (gunzip'ed on the way), and running it statement by statement with
 * `COPY … FROM stdin` data streamed in.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { isComplete } from "../split.ts";

/** The first line of the built-in dump. */
export const HEADER = "-- lockstep dump format 1";
/** The last line of a complete built-in dump. */
export const TRAILER = "-- lockstep dump complete";

/** The lines of a stream (without their `\n`), gunzip'ed first when asked. */
export async function* lines(
  stream: ReadableStream<Uint8Array>,
  gunzip: boolean,
): AsyncGenerator<string> {
  const source = gunzip
    ? stream.pipeThrough<Uint8Array>(new DecompressionStream("gzip") as never)
    : stream;
  const text = source.pipeThrough(new TextDecoderStream("utf-8", { fatal: true }));
  let rest = "";
  for await (const chunk of text) {
    rest += chunk;
    let newline: number;
    let start = 0;
    while ((newline = rest.indexOf("\n", start)) !== -1) {
      yield rest.slice(start, newline);
      start = newline + 1;
    }
    rest = rest.slice(start);
  }
  if (rest !== "") yield rest;
}

/**
 * Runs a dump script: statements end at a top-level `;` at the end of a line;
 * `COPY … FROM stdin;` streams the lines up to `\.`; psql's `\restrict` and
 * `\unrestrict` (newer pg_dump output) are skipped; any other meta-command is
 * refused. `CREATE SCHEMA` of a kept schema is skipped.
 */
export async function runScript(
  tx: TransactionSql,
  source: AsyncGenerator<string>,
  schemas: readonly string[],
): Promise<void> {
  let statement = "";
  for await (const line of source) {
    // Blank lines and comments between statements.
    if (statement === "" && (line.trim() === "" || line.trimStart().startsWith("--"))) continue;
    if (statement === "" && /^\\(un)?restrict\b/.test(line)) continue;
    if (statement === "" && line.startsWith("\\")) {
      throw new Error(`the dump holds a psql command lockstep does not run: ${line.slice(0, 40)}`);
    }
    statement += `${line}\n`;
    if (!line.trimEnd().endsWith(";") || !isComplete(statement)) continue;
    const text = statement.trim();
    statement = "";
    if (/^COPY\s.+\sFROM\s+stdin;$/is.test(text)) {
      await copyIn(tx, text.slice(0, -1), source);
      continue;
    }
    // The schemas were kept (with their owners and grants): do not make them again.
    const create = /^CREATE SCHEMA ("?)([^";\s]+)\1;$/i.exec(text);
    if (create && schemas.includes(create[2]!)) continue;
    await tx.unsafe(text);
  }
  if (statement.trim() !== "" && !/^(\s*--[^\n]*\n)*\s*$/.test(statement)) {
    throw new Error("the dump ends in the middle of a statement");
  }
}

async function copyIn(
  tx: TransactionSql,
  command: string,
  source: AsyncGenerator<string>,
): Promise<void> {
  const writable = await tx.unsafe(command).writable();
  const encoder = new TextEncoder();
  let batch = "";
  const flush = async () => {
    if (batch === "") return;
    const chunk = encoder.encode(batch);
    batch = "";
    if (!writable.write(chunk)) {
      await new Promise<void>((resolve) => writable.once("drain", () => resolve()));
    }
  };
  // next() by hand: breaking out of a for-await would close the shared generator.
  let ended = false;
  for (let next = await source.next(); !next.done; next = await source.next()) {
    if (next.value === "\\.") {
      ended = true;
      break;
    }
    batch += `${next.value}\n`;
    if (batch.length > 256 * 1024) await flush();
  }
  await flush();
  if (!ended) throw new Error("the dump ends in the middle of COPY data");
  await new Promise<void>((resolve, reject) => {
    writable.once("error", reject);
    writable.once("finish", () => resolve());
    writable.end();
  });
}
