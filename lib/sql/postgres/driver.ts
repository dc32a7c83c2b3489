/**
 * The PostgreSQL driver, on postgres.js (loaded by `client.ts` only when a
 * PostgreSQL database is opened), and what a PostgreSQL connection does
 * differently: a repeatable-read snapshot, a script without a transaction
 * sent statement by statement, and the session put back after a migration.
 * A statement whose connection is gone fails with `DATABASE_UNREACHABLE`, one
 * that waited past the session's `lock_timeout` with `LOCK_HELD` naming the
 * sessions holding locks (`faults.ts`); a transaction whose connection closed
 * sends nothing more on it.
 *
 * @module
 */
import { LockstepError, messageOf } from "../../errors.ts";
import { redact } from "../../redact.ts";
import type { Sql as Client } from "../../deps/postgres.ts";
import type { Connector, DatabaseConfig, OpenOptions } from "../dialect.ts";
import { type Database, type Lock, RollbackError, type Row, type Sql } from "../driver.ts";
import { splitStatements } from "../split.ts";
import { type ClientFactory, clientFactory } from "./client.ts";
import {
  ConnectionWatch,
  isConnectionLoss,
  isLockTimeout,
  lockTimedOut,
  lostConnection,
  readLockHolders,
} from "./faults.ts";

// Two-key advisory lock: "lockstep" in ASCII, split into two int4 keys.
const LOCK_KEYS = [0x6c6f636b, 0x73746570] as const;
const NO_ERROR = Symbol("no error");

/** Opening PostgreSQL databases, and what their connections do differently. */
export const postgresConnector: Connector = {
  open: openPostgres,
  async snapshot(db, fn) {
    return await db.transaction(async (tx) => {
      await tx.query("set transaction isolation level repeatable read");
      return await fn(tx);
    });
  },
  async runWithoutTransaction(sql, script) {
    // PostgreSQL runs a multi-statement query in one implicit transaction, which
    // statements such as CREATE INDEX CONCURRENTLY refuse: send them one by one.
    for (const statement of splitStatements(script)) await sql.exec(statement);
  },
  async resetSession(sql) {
    // RESET ALL returns every setting (search_path, lock_timeout…) to the session's
    // defaults, which include what lockstep sent when connecting; it leaves the role.
    await sql.exec("RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL");
  },
};

/**
 * Connects to the PostgreSQL database `db` and checks it answers.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` with the server's reason,
 * `CONFIG_INVALID` (no user in the URL, or a `passwordEnv` that is not set).
 */
export async function openPostgres(
  db: DatabaseConfig,
  options: OpenOptions = {},
): Promise<Database> {
  const { readOnly = false, onNotice, lockTimeoutMs } = options;
  if (db.passwordEnv !== undefined && db.password === undefined) {
    const granted = db.passwordMissing !== "not granted";
    throw new LockstepError(
      granted ? "CONFIG_INVALID" : "PERMISSION_DENIED",
      `Cannot connect to database "${db.name}": ` +
        (granted
          ? `its password variable ${db.passwordEnv} is not set. Set it in the environment ` +
            `lockstep runs in, or remove "passwordEnv" if the server needs no password.`
          : `lockstep may not read its password variable ${db.passwordEnv}. Grant it with ` +
            `--allow-env=${db.passwordEnv} (see the README's permission table).`),
      { data: { database: db.name, passwordEnv: db.passwordEnv } },
    );
  }
  const make = await clientFactory(db.url, {
    readOnly,
    ...(db.password === undefined ? {} : { password: db.password }),
    ...(onNotice === undefined ? {} : { onNotice }),
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
  });
  const watch = new ConnectionWatch();
  const client = make(watch.onclose);
  const display = redact(db.url);
  let found;
  try {
    found = await client.unsafe(LEDGER_WHERE, [JSON.stringify(db.schemas)]);
  } catch (error) {
    await client.end({ timeout: 0 });
    throw netNotGranted(db) ?? unreachable(db.name, display, error);
  }
  return new PostgresDatabase({
    name: db.name,
    display,
    ledgerSchema: String(found[0]?.schema ?? db.schemas[0] ?? "public"),
    lockTimeoutMs: lockTimeoutMs ?? null,
  }, { client, make, watch });
}

/**
 * Where the ledger is: the first managed schema; or, for a database whose
 * ledger an earlier lockstep made where the connection's search_path put it
 * (before it named the schema), that schema, so that it is found again.
 */
const LEDGER_WHERE = `
select n.nspname as schema from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relname = 'lockstep_migrations' and c.relkind = 'r'
   and (n.nspname in (select json_array_elements_text($1::text::json))
        or n.nspname = any(pg_catalog.current_schemas(false)))
 order by n.nspname = ($1::text::json->>0) desc,
          array_position(pg_catalog.current_schemas(false), n.nspname::text)
 limit 1`;

/** What a connection is, for messages and lockstep's own statements. */
interface Identity {
  readonly name: string;
  readonly display: string;
  readonly ledgerSchema: string;
  /** The session's lock_timeout as sent when connecting, or `null` (the server's). */
  readonly lockTimeoutMs: number | null;
}

class PostgresDatabase implements Database {
  readonly dialect = "postgres" as const;
  readonly name: string;
  readonly display: string;
  readonly ledgerSchema: string;
  readonly #lockTimeoutMs: number | null;
  #client: Client;
  readonly #makeClient: ClientFactory;
  readonly #watch: ConnectionWatch;
  #lockClient: Client | undefined;

  constructor(
    identity: Identity,
    parts: { client: Client; make: ClientFactory; watch: ConnectionWatch },
  ) {
    this.name = identity.name;
    this.display = identity.display;
    this.ledgerSchema = identity.ledgerSchema;
    this.#lockTimeoutMs = identity.lockTimeoutMs;
    this.#client = parts.client;
    this.#makeClient = parts.make;
    this.#watch = parts.watch;
  }

  async query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return await this.#explained(() => queryOn(this.#client, text, params)) as T[];
  }

  async exec(text: string): Promise<void> {
    await this.#explained(() => this.#client.unsafe(text).simple());
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    // postgres.js's begin() pins one connection: if it drops mid-transaction the
    // remaining statements fail instead of running, reconnected, outside it.
    let original: unknown = NO_ERROR;
    let settled!: () => void;
    const fnSettled = new Promise<void>((resolve) => (settled = resolve));
    const closes = this.#watch.closes;
    const gone = () => this.#watch.closes !== closes;
    // Nothing more is sent on a pinned connection that closed (see client.ts).
    const pinned = <R>(run: () => Promise<R>) =>
      this.#explained(() => {
        if (!gone()) return run();
        const closed = { code: "CONNECTION_CLOSED", message: "it closed during the transaction" };
        return Promise.reject(lostConnection(this.name, this.display, closed));
      });
    try {
      return await this.#client.begin(async (client) => {
        const tx: Sql = {
          dialect: "postgres",
          ledgerSchema: this.ledgerSchema,
          query: async <R extends Row = Row>(text: string, params: readonly unknown[] = []) =>
            await pinned(() => queryOn(client as unknown as Client, text, params)) as R[],
          exec: async (text: string) => {
            await pinned(() => client.unsafe(text).simple());
          },
        };
        try {
          return await fn(tx);
        } catch (error) {
          original = error;
          throw error;
        } finally {
          settled();
        }
      }) as T;
    } catch (error) {
      if (gone() || isConnectionLoss(error)) {
        // begin() fails with CONNECTION_CLOSED the moment the socket closes: let `fn` see its
        // own statement fail first, so that its failure path runs before this one.
        await settledWithin(fnSettled, 2000);
        // postgres.js may leave the ROLLBACK it tried on the closed socket queued for the
        // next connection (see client.ts): what follows gets a fresh client.
        this.#renew();
        const first = original === NO_ERROR ? error : original;
        if (first instanceof LockstepError && first.data.connectionLost === true) throw first;
        throw lostConnection(this.name, this.display, first);
      }
      // A statement after the failing one meets the aborted transaction (25P02): begin()
      // then throws the first failure, which is the one to explain.
      if (isAborted(original)) throw await this.#explain(error);
      // begin() rolls back and rethrows; a failed rollback replaces the error: keep both.
      if (original !== NO_ERROR && error !== original) throw new RollbackError(original, error);
      throw error;
    }
  }

  /** Replaces the client whose connection was lost under a transaction. */
  #renew(): void {
    const old = this.#client;
    this.#client = this.#makeClient(this.#watch.onclose);
    old.end({ timeout: 0 }).catch(() => undefined);
  }

  /**
   * Runs a statement, turning a lost connection into `DATABASE_UNREACHABLE`
   * and a lock wait past `lock_timeout` into `LOCK_HELD` with the sessions
   * holding locks (read on a connection of their own: this one may be in an
   * aborted transaction).
   */
  async #explained<R>(run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw await this.#explain(error);
    }
  }

  async #explain(error: unknown): Promise<unknown> {
    if (error instanceof LockstepError) return error;
    if (isConnectionLoss(error)) return lostConnection(this.name, this.display, error);
    if (isLockTimeout(error)) {
      return lockTimedOut(this.name, this.#lockTimeoutMs, await this.#lockHolders(), error);
    }
    return error;
  }

  async #lockHolders() {
    const client = this.#makeClient();
    try {
      return await readLockHolders(client);
    } finally {
      await client.end({ timeout: 1 });
    }
  }

  async lock(timeoutMs: number): Promise<Lock> {
    // A dedicated connection holds the session lock; if it closes, the lock is gone.
    let lost = false;
    let released = false;
    const client = this.#makeClient(() => (lost = true));
    const deadline = Date.now() + timeoutMs;
    let delay = 25;
    try {
      for (;;) {
        const [row] = await client`select pg_try_advisory_lock(${LOCK_KEYS[0]}, ${
          LOCK_KEYS[1]
        }) as ok`;
        if (row?.ok === true) break;
        if (Date.now() >= deadline) {
          throw new LockstepError(
            "LOCK_HELD",
            `Cannot lock database "${this.name}" (${this.display}): another lockstep process ` +
              `holds the migration lock. Waited ${timeoutMs} ms; retry later or raise --lock-timeout.`,
            { data: { database: this.name, waitedMs: timeoutMs } },
          );
        }
        const jittered = delay / 2 + Math.random() * delay;
        await new Promise((r) =>
          setTimeout(r, Math.min(jittered, Math.max(0, deadline - Date.now())))
        );
        delay = Math.min(delay * 2, 1000);
      }
    } catch (error) {
      await client.end({ timeout: 0 });
      if (error instanceof LockstepError) throw error;
      throw unreachable(this.name, this.display, error);
    }
    this.#lockClient = client;
    const name = this.name;
    return {
      exclusive: true,
      assertHeld() {
        if (lost || released) {
          throw new LockstepError(
            "LOCK_LOST",
            `Cannot go on migrating database "${name}": the connection holding the lock closed. ` +
              `Nothing more was applied; run migrate again.`,
            {
              data: {
                database: name,
                reason: "the connection holding the migration lock closed, so nothing more runs",
              },
            },
          );
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        this.#lockClient = undefined;
        await client.end({ timeout: 1 });
      },
    };
  }

  async close(): Promise<void> {
    await this.#lockClient?.end({ timeout: 1 });
    await this.#client.end({ timeout: 1 });
  }
}

async function queryOn(client: Client, text: string, params: readonly unknown[]): Promise<Row[]> {
  const rows = await client.unsafe(text, params as never[]);
  return Array.from(rows) as Row[];
}

/**
 * After a failed connection: `PERMISSION_DENIED` naming the exact flag when
 * `--allow-net` does not grant the URL's host and port as written (postgres.js
 * then only says "getaddrinfo EPERM"), else `undefined`.
 */
function netNotGranted(db: DatabaseConfig): LockstepError | undefined {
  const url = new URL(db.url);
  const host = `${decodeURIComponent(url.hostname) || "localhost"}:${url.port || 5432}`;
  if (Deno.permissions.querySync({ name: "net", host }).state === "granted") return undefined;
  return new LockstepError(
    "PERMISSION_DENIED",
    `Cannot connect to database "${db.name}" (${redact(db.url)}): Deno may not connect to ` +
      `"${host}". Grant it with --allow-net=${host}: the host exactly as the URL writes it ` +
      `(--allow-net=127.0.0.1:PORT does not grant "localhost", nor the reverse).`,
    { data: { database: db.name, permission: `--allow-net=${host}` } },
  );
}

/** Waits for `promise`, at most `ms`. */
async function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** PostgreSQL refusing a statement in a transaction that an earlier failure aborted. */
function isAborted(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    (error as { code?: unknown }).code === "25P02";
}

function unreachable(name: string, display: string, error: unknown): unknown {
  if (error instanceof Deno.errors.NotCapable) return error;
  return new LockstepError(
    "DATABASE_UNREACHABLE",
    `Cannot connect to database "${name}" (${display}): ${redact(messageOf(error))}`,
    { cause: error, data: { database: name } },
  );
}
