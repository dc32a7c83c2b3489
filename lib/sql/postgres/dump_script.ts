/**
 * The script the built-in PostgreSQL dump writes, as its parts share it: the
 * snapshot it reads, where statements go in dependency order (each phase is
 * written after the one before), and SQL quoting.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { quoteIdent } from "../dialect.ts";

/**
 * The phases of the script that are held back, in the order they are
 * written: types and routines go before the tables that use them (and
 * `afterRoutines` right after the routines), data before the constraints,
 * indexes and triggers that would slow it down or fire on it, views after
 * every table, `REFRESH` last.
 */
export const PHASES = [
  /** Domain defaults and constraints, range types over user functions: right after the routines. */
  "afterRoutines",
  /** Sequence values, routines over table row types, constraints (but foreign keys), indexes. */
  "afterData",
  /** Foreign keys, views, materialized views and their indexes. */
  "relations",
  /** Triggers and row-level security: nothing fires while the data goes in. */
  "triggers",
  /** `REFRESH MATERIALIZED VIEW`, once everything they read is there. */
  "refresh",
] as const;

/** A phase of the script written after all the data. */
export type Phase = typeof PHASES[number];

/** Where the script goes while it is written. */
export interface Script {
  /** The repeatable-read, read-only snapshot it is read from (`search_path` is `pg_catalog`). */
  readonly tx: TransactionSql;
  /** Appends text now (types, routines, tables and their data are written in place). */
  text(text: string): Promise<void>;
  /** Appends bytes as they are (`COPY` data). */
  bytes(chunk: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Appends a statement to a later phase. */
  later(phase: Phase, statement: string): void;
}

/** The managed schemas as the JSON parameter the catalog queries take (`$1`). */
export function schemasParam(schemas: readonly string[]): string {
  return JSON.stringify(schemas);
}

/** `n.nspname in (<the managed schemas of $1>)`. */
export const IN_SCHEMAS = "n.nspname in (select json_array_elements_text($1::text::json))";

/** Not a member of an extension (those come with `CREATE EXTENSION`, outside the schemas' dump). */
export function notInExtension(oid: string): string {
  return `not exists (select 1 from pg_depend e where e.objid = ${oid} and e.deptype = 'e')`;
}

/** Quotes an identifier. */
export const ident: (name: string) => string = quoteIdent;

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** Quotes a string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A statement as the script holds it: trimmed, ending in `;`. */
export function statement(text: string): string {
  return `${text.trim().replace(/;$/, "")};`;
}
