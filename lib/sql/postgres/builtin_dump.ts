/**
 * lockstep's own PostgreSQL dump, for hosts where `pg_dump` may not run: a
 * gzip'ed SQL script read in one repeatable-read, read-only snapshot, every
 * managed schema together, in dependency order: schemas; types (enums,
 * composites, domains, ranges: `dump_types.ts`); functions, procedures and
 * aggregates (`dump_routines.ts`); domain constraints; sequences; tables,
 * partitioned ones before their partitions, each with its `COPY` data
 * (`dump_tables.ts`); then sequence values, constraints and indexes; foreign
 * keys, views and materialized views with their indexes; triggers and
 * row-level security (`dump_relations.ts`); `REFRESH` last.
 *
 * What it cannot carry (`dump_gaps.ts`) it names: the backup is refused,
 * naming each object and pointing to `--allow-run=pg_dump`, unless a partial
 * backup was asked for, which then lists them in `skipped`. So a backup
 * never claims more than it holds.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { explainPermission, LockstepError } from "../../errors.ts";
import { hashingSink, type Written } from "../../hashing.ts";
import { redact } from "../../redact.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { connect } from "./client.ts";
import { dumpGaps } from "./dump_gaps.ts";
import { holdTriggersAndPolicies, holdViews } from "./dump_relations.ts";
import { writeRoutines } from "./dump_routines.ts";
import { ident, type Phase, PHASES, type Script } from "./dump_script.ts";
import { writeSequences, writeTables } from "./dump_tables.ts";
import { writeTypes } from "./dump_types.ts";
import { explainDumpFailure } from "./dump_failure.ts";
import { HEADER, TRAILER } from "./script.ts";

/** What lockstep's own dump leaves out. */
export interface DumpGaps {
  /** Objects it does not carry (only with `partial`; otherwise it refuses). */
  readonly skipped: readonly string[];
}

/** Options for {@link builtInDump}. */
export interface BuiltInDumpOptions {
  /** Write the dump without the objects it cannot carry, listing them (default `false`: refuse). */
  readonly partial?: boolean;
  /** How long a read waits for a table an application session locked, in ms (default: no limit). */
  readonly lockTimeoutMs?: number;
}

/**
 * The built-in dump: one repeatable-read, read-only snapshot; the script is
 * gzip'ed on the way to `out`, and its SHA-256 taken as it is written.
 *
 * @throws {LockstepError} `BACKUP_INCOMPLETE` (objects it cannot carry, and
 * no `partial`), `DATABASE_UNREACHABLE`, `LOCK_HELD`.
 */
export async function builtInDump(
  db: DatabaseConfig,
  out: string,
  options: BuiltInDumpOptions = {},
): Promise<Written & DumpGaps> {
  const client = await connect(db, options).catch((error) => {
    throw explainPermission(error, `back up database "${db.name}"`);
  });
  const file = await Deno.open(out, { write: true, createNew: true, mode: 0o600 });
  const sink = hashingSink(file);
  const gzip = new CompressionStream("gzip");
  const piping = gzip.readable.pipeTo(sink.writable);
  const writer = gzip.writable.getWriter();
  const encoder = new TextEncoder();
  let skipped: string[] = [];
  try {
    await client.begin("isolation level repeatable read read only", async (tx) => {
      await tx.unsafe("set local search_path = pg_catalog");
      skipped = await dumpGaps(tx, db.schemas);
      if (skipped.length > 0 && options.partial !== true) throw incomplete(db, skipped);
      const held = new Map<Phase, string[]>(PHASES.map((phase) => [phase, []]));
      await writeScript(db, {
        tx,
        text: (text) => writer.write(encoder.encode(text)),
        bytes: (chunk) => writer.write(chunk),
        later: (phase, statement) => held.get(phase)!.push(statement),
      }, held);
    });
    await writer.close();
    await piping;
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    await piping.catch(() => undefined);
    throw await explainDumpFailure(db, error, options.lockTimeoutMs ?? null);
  } finally {
    await client.end({ timeout: 1 });
  }
  return { ...sink.done(), skipped };
}

async function writeScript(
  db: DatabaseConfig,
  script: Script,
  held: Map<Phase, string[]>,
): Promise<void> {
  const flush = async (phase: Phase) => {
    for (const statement of held.get(phase)!) await script.text(`${statement}\n`);
    held.set(phase, []);
  };
  await script.text(`${HEADER}\n-- database ${db.name}, ${new Date().toISOString()}\n`);
  // Routine bodies are checked when they run, not when they are made (as pg_dump does).
  await script.text("SET LOCAL check_function_bodies = false;\n");
  for (const schema of await existing(script.tx, db.schemas)) {
    await script.text(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)};\n`);
  }
  await writeTypes(script, db.schemas);
  await writeRoutines(script, db.schemas);
  await flush("afterRoutines");
  await writeSequences(script, db.schemas);
  await writeTables(script, db.schemas);
  await holdViews(script, db.schemas);
  await holdTriggersAndPolicies(script, db.schemas);
  for (const phase of PHASES) await flush(phase);
  await script.text(`${TRAILER}\n`);
}

/** The managed schemas that exist, in the configured order. */
async function existing(tx: TransactionSql, schemas: readonly string[]): Promise<string[]> {
  const rows = await tx.unsafe(
    "select nspname from pg_namespace where nspname in (select json_array_elements_text($1::text::json))",
    [JSON.stringify(schemas)],
  );
  const found = new Set(rows.map((r) => String(r.nspname)));
  return schemas.filter((schema) => found.has(schema));
}

/** The refusal of a backup that would leave objects out. */
function incomplete(db: DatabaseConfig, objects: readonly string[]): LockstepError {
  const shown = objects.slice(0, 20).join(", ") +
    (objects.length > 20 ? `, … (${objects.length} in all)` : "");
  return new LockstepError(
    "BACKUP_INCOMPLETE",
    `Cannot back up database "${db.name}" (${
      redact(db.url)
    }) with the built-in dump: it cannot carry ${objects.length} object(s) of the managed ` +
      `schemas: ${shown}. Grant --allow-run=pg_dump (with pg_dump installed) for a complete ` +
      `backup, or accept one without them with "backup --allow-partial". Nothing was written.`,
    { data: { database: db.name, objects: [...objects] } },
  );
}
