/**
 * Where a TypeScript migration failed: the file and line of the migration
 * that threw, or that made the `ctx.sql` call that failed, so that
 * `MIGRATION_FAILED` reads "… (at migrations/core/20260101_x.ts:12)".
 *
 * Errors thrown in the migration, or by `ctx.files`, carry that line in
 * their stack (V8's async stack traces). A database error does not: the
 * driver makes it when the server answers, far from the call. So `ctx.sql`
 * is wrapped ({@link tracedSql}) to note the caller's stack with each call,
 * kept beside the error it may fail with.
 *
 * @module
 */
import { dirname, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { messageOf } from "../errors.ts";
import { alreadyExistsAdvice } from "../problems.ts";
import { redact } from "../redact.ts";
import type { Sql } from "../sql/driver.ts";

/** The stack of the `ctx.sql` call each database error came from. */
const origins = new WeakMap<object, string>();

/** `sql` whose failures remember where in the migration the call was made. */
export function tracedSql(sql: Sql): Sql {
  const traced = <T>(call: () => Promise<T>): Promise<T> => {
    const origin = new Error("ctx.sql call");
    return call().catch((error: unknown) => {
      if (typeof error === "object" && error !== null && !origins.has(error)) {
        origins.set(error, origin.stack ?? "");
      }
      throw error;
    });
  };
  return {
    dialect: sql.dialect,
    ledgerSchema: sql.ledgerSchema,
    query: (text, params) => traced(() => sql.query(text, params)),
    exec: (text) => traced(() => sql.exec(text)),
  };
}

/**
 * `file:line` of the first frame of the migration at `path` in `error`'s
 * stack, its `cause`s, or the `ctx.sql` call it came from; shown relative
 * to `base`. `undefined` when none is found.
 */
export function migrationLine(error: unknown, path: string, base: string): string | undefined {
  const href = pathToFileURL(path).href;
  const frame = new RegExp(`${escape(href)}:(\\d+):\\d+`);
  const seen = new Set<unknown>();
  for (let at: unknown = error; typeof at === "object" && at !== null; at = cause(at)) {
    if (seen.has(at)) break;
    seen.add(at);
    for (const stack of [(at as { stack?: unknown }).stack, origins.get(at)]) {
      const line = typeof stack === "string" ? frame.exec(stack)?.[1] : undefined;
      if (line !== undefined) return `${relative(base, path) || path}:${line}`;
    }
  }
  return undefined;
}

/**
 * How a failed migration's error reads: its message (credentials masked),
 * with the migration's file and line when it is a TypeScript one; and the
 * advice for the run's message (`""`, or how to adopt a database that
 * already has what the migration creates).
 */
export function explainFailure(
  error: unknown,
  migration: { readonly kind: "sql" | "ts"; readonly path: string },
  configFile: string,
): { reason: string; advice: string } {
  const message = redact(messageOf(error)).replace(/\.$/, "");
  const at = migration.kind === "ts"
    ? migrationLine(error, migration.path, dirname(configFile))
    : undefined;
  const reason = at === undefined ? message : `${message} (at ${at})`;
  const advice = alreadyExistsAdvice(reason);
  return { reason, advice: advice === "" ? "" : ` ${advice}` };
}

function cause(error: object): unknown {
  return (error as { cause?: unknown }).cause;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
