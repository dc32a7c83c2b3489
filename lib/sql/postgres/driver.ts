/**
 * The PostgreSQL driver, on postgres.js (loaded by `client.ts` only when a
 * PostgreSQL database is opened), and what a PostgreSQL connection does
 * differently: a repeatable-read snapshot, and a script without a
 * transaction sent statement by statement.
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
  const { readOnly = false, onNotice } = options;
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
  });
  const client = make();
  const display = redact(db.url);
  try {
    await client`select 1`;
  } catch (error) {
    await client.end({ timeout: 0 });
    throw netNotGranted(db) ?? unreachable(db.name, display, error);
  }
  return new PostgresDatabase(db.name, display, client, make);
}

class PostgresDatabase implements Database {
  readonly dialect = "postgres" as const;
  readonly #client: Client;
  readonly #makeClient: ClientFactory;
  #lockClient: Client | undefined;

  constructor(
    readonly name: string,
    readonly display: string,
    client: Client,
    makeClient: ClientFactory,
  ) {
    this.#client = client;
    this.#makeClient = makeClient;
  }

  async query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return await queryOn(this.#client, text, params) as T[];
  }

  async exec(text: string): Promise<void> {
    await this.#client.unsafe(text).simple();
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    // postgres.js's begin() pins one connection: if it drops mid-transaction the
    // remaining statements fail instead of running, reconnected, outside it.
    let original: unknown = NO_ERROR;
    try {
      return await this.#client.begin(async (client) => {
        const tx: Sql = {
          dialect: "postgres",
          query: async <R extends Row = Row>(text: string, params: readonly unknown[] = []) =>
            await queryOn(client as unknown as Client, text, params) as R[],
          exec: async (text: string) => {
            await client.unsafe(text).simple();
          },
        };
        try {
          return await fn(tx);
        } catch (error) {
          original = error;
          throw error;
        }
      }) as T;
    } catch (error) {
      // begin() rolls back and rethrows; a failed rollback replaces the error: keep both.
      if (original !== NO_ERROR && error !== original) throw new RollbackError(original, error);
      throw error;
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
            { data: { database: name } },
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

function unreachable(name: string, display: string, error: unknown): unknown {
  if (error instanceof Deno.errors.NotCapable) return error;
  return new LockstepError(
    "DATABASE_UNREACHABLE",
    `Cannot connect to database "${name}" (${display}): ${redact(messageOf(error))}`,
    { cause: error, data: { database: name } },
  );
}
