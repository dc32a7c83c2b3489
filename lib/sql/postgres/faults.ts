/**
 * What can go wrong under a PostgreSQL statement that is not the statement's
 * own fault, told apart and worded: the connection is gone (the server
 * stopped, the backend was terminated, the network cut: `DATABASE_UNREACHABLE`),
 * or a lock wait ran past `lock_timeout` (`LOCK_HELD`, naming the sessions
 * that hold locks on application tables, read from `pg_locks` and
 * `pg_stat_activity` once the wait gave up). And {@link ConnectionWatch},
 * which counts a client's closed connections so that a transaction pinned to
 * one knows it is gone.
 *
 * @module
 */
import type { Sql as Client } from "../../deps/postgres.ts";
import { LockstepError, messageOf } from "../../errors.ts";
import { redact } from "../../redact.ts";
import { describeHolders, type LockHolder } from "../locks.ts";

/** postgres.js's and the socket's codes for a connection that is gone. */
const GONE = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
]);

/**
 * True when `error` means the connection is gone: a FATAL server error
 * (57P01 the server shuts down or the backend was terminated, 57P02, 57P03…),
 * a connection exception (class 08), or postgres.js or the socket saying the
 * connection closed.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (error instanceof LockstepError) return error.data.connectionLost === true;
  if (error === null || typeof error !== "object") return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  if (severity === "FATAL" || severity === "PANIC") return true;
  const text = typeof code === "string" ? code : "";
  return /^(08|57P0)/.test(text) || GONE.has(text) ||
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** True when `error` is PostgreSQL giving up a lock wait (`lock_timeout`: 55P03). */
export function isLockTimeout(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  return (error as { code?: unknown }).code === "55P03";
}

/** The error for a statement or transaction whose connection is gone. */
export function lostConnection(database: string, display: string, cause: unknown): LockstepError {
  const code = (cause as { code?: unknown } | null)?.code;
  const why = code === "CONNECTION_CLOSED" || code === "CONNECTION_DESTROYED"
    ? "the server closed it"
    : redact(messageOf(cause));
  const reason = `the connection was lost (${why})`;
  return new LockstepError(
    "DATABASE_UNREACHABLE",
    `Cannot go on with database "${database}" (${display}): ${reason}; the server rolled back ` +
      `what its open transaction held. Check that the server runs and can be reached, then ` +
      `run the command again.`,
    { cause, data: { database, reason, connectionLost: true } },
  );
}

/** The error for a statement that waited `waitedMs` (`null`: the server's lock_timeout) and gave up. */
export function lockTimedOut(
  database: string,
  waitedMs: number | null | undefined,
  holders: readonly LockHolder[],
  cause: unknown,
): LockstepError {
  const waited = waitedMs === null || waitedMs === undefined
    ? "its lock_timeout"
    : `${waitedMs} ms`;
  const reason = `a statement waited ${waited} for a lock that another session holds: ` +
    describeHolders(holders);
  return new LockstepError(
    "LOCK_HELD",
    `Cannot go on with database "${database}": ${reason}. End that session's transaction (or ` +
      `wait for it), then run the command again; --lock-timeout sets how long to wait.`,
    { cause, data: { database, waitedMs, holders, reason } },
  );
}

/** Sessions other than this one holding locks on tables outside the system schemas, strongest first. */
const HOLDERS = `
select distinct on (l.pid) l.pid, a.application_name, a.usename::text as usename, a.state,
       a.xact_start, a.query_start, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 160) as query,
       l.mode, format('%I.%I', n.nspname, c.relname) as relation
  from pg_catalog.pg_locks l
  join pg_catalog.pg_class c on c.oid = l.relation
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_stat_activity a on a.pid = l.pid
 where l.granted and l.locktype = 'relation' and l.pid <> pg_catalog.pg_backend_pid()
   and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
   and n.nspname <> 'pg_catalog' and n.nspname <> 'information_schema'
   and n.nspname not like 'pg\\_toast%'
 order by l.pid, array_position(array['AccessExclusiveLock', 'ExclusiveLock',
   'ShareRowExclusiveLock', 'ShareLock', 'ShareUpdateExclusiveLock', 'RowExclusiveLock',
   'RowShareLock', 'AccessShareLock'], l.mode::text)`;

/**
 * The sessions holding locks on application tables, as {@link LockHolder}s,
 * strongest lock first, at most 5; empty when they cannot be read.
 */
export async function readLockHolders(client: Client): Promise<LockHolder[]> {
  let rows;
  try {
    rows = await client.unsafe(HOLDERS);
  } catch (error) {
    // Best effort: the holders only make the message better. A bug is not swallowed.
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    return [];
  }
  const iso = (value: unknown) => value instanceof Date ? value.toISOString() : null;
  const rank = (mode: string) => ["AccessExclusiveLock", "ExclusiveLock"].indexOf(mode) >>> 0;
  return Array.from(rows).map((r) => ({
    pid: Number(r.pid),
    application: r.application_name ? String(r.application_name) : null,
    user: r.usename ? String(r.usename) : null,
    state: r.state ? String(r.state) : null,
    transactionStart: iso(r.xact_start),
    queryStart: iso(r.query_start),
    query: r.query ? redact(String(r.query)) : null,
    lock: { mode: String(r.mode), relation: String(r.relation) },
  })).sort((a, b) =>
    rank(a.lock.mode) - rank(b.lock.mode) ||
    (a.transactionStart ?? "~").localeCompare(b.transactionStart ?? "~")
  ).slice(0, 5);
}

/**
 * Counts the closed connections of one postgres.js client (pass
 * {@link onclose} as the client's `onclose`), so that a transaction pinned to
 * a connection can tell that it is gone and send nothing more on it.
 */
export class ConnectionWatch {
  #closes = 0;

  /** How many connections of the client have closed so far. */
  get closes(): number {
    return this.#closes;
  }

  /** The client's `onclose` option. */
  readonly onclose = (): void => {
    this.#closes++;
  };
}
