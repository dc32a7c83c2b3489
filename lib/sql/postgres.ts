/**
 * The PostgreSQL driver, on postgres.js, loaded only when a `postgres://`
 * database is configured. Every client option is passed explicitly so that
 * postgres.js reads no environment variable but `PGAPPNAME`.
 *
 * @module
 */
import { LockstepError, messageOf } from "../errors.ts";
import { redact } from "../redact.ts";
import { type Database, type Lock, RollbackError, type Row, type Sql } from "./driver.ts";
import type { Options, Sql as Client } from "../deps/postgres.ts";

/** Options for {@link openPostgres}. */
export interface PostgresOptions {
  /** The password (from `passwordEnv`); never part of the URL. */
  password?: string;
  /** Open a read-only session (`default_transaction_read_only`), default `false`. */
  readOnly?: boolean;
  /** Receives server notices (default: dropped). */
  onNotice?: (message: string) => void;
}

// Two-key advisory lock: "lockstep" in ASCII, split into two int4 keys.
const LOCK_KEYS = [0x6c6f636b, 0x73746570] as const;
const CONNECT_TIMEOUT_SECONDS = 10;
const NO_ERROR = Symbol("no error");

/**
 * Connects to the PostgreSQL database at `url` and checks it answers.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` with the server's reason.
 */
export async function openPostgres(
  name: string,
  url: string,
  options: PostgresOptions = {},
): Promise<Database> {
  const { default: postgres } = await import("../deps/postgres.ts");
  const make = (onclose?: () => void) =>
    postgres({ ...clientOptions(url, options), ...(onclose ? { onclose } : {}) } as Options<never>);
  const client = make();
  const display = redact(url);
  try {
    await client`select 1`;
  } catch (error) {
    await client.end({ timeout: 0 });
    throw unreachable(name, display, error);
  }
  return new PostgresDatabase(name, display, client, make);
}

/** Builds postgres.js options from the URL, leaving nothing to its environment defaults. */
export function clientOptions(url: string, options: PostgresOptions) {
  const parsed = new URL(url);
  const host = decodeURIComponent(parsed.hostname) || "localhost";
  const sslmode = parsed.searchParams.get("sslmode");
  const ssl = sslmode === null || sslmode === "disable" ? false : sslmode as "require";
  const user = decodeURIComponent(parsed.username);
  if (user === "") {
    throw new LockstepError(
      "CONFIG_INVALID",
      `Cannot connect to "${redact(url)}": the URL names no user (postgres://USER@HOST/DB)`,
    );
  }
  return {
    host,
    port: parsed.port === "" ? 5432 : Number(parsed.port),
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
    username: user,
    // A function, so that an empty password does not fall back to PGPASSWORD.
    password: () => options.password ?? "",
    ssl,
    sslnegotiation: null,
    max: 1,
    idle_timeout: 0,
    connect_timeout: CONNECT_TIMEOUT_SECONDS,
    max_lifetime: 0,
    max_pipeline: 100,
    backoff: (attempt: number) => Math.min(0.1 * 2 ** attempt, 2),
    keep_alive: 60,
    prepare: false,
    debug: false,
    fetch_types: false,
    publications: "alltables",
    // Truthy so that postgres.js does not read PGTARGETSESSIONATTRS. "read-only" matches the
    // read-only session asked for below; "primary" refuses a hot standby. PostgreSQL 14+
    // reports both facts at connect, so neither costs a query.
    target_session_attrs: options.readOnly ? "read-only" : "primary",
    onnotice: (notice: { message?: string }) => options.onNotice?.(notice.message ?? ""),
    connection: {
      application_name: "lockstep",
      ...(options.readOnly ? { default_transaction_read_only: true } : {}),
    },
  } as const;
}

class PostgresDatabase implements Database {
  readonly dialect = "postgres" as const;
  readonly #client: Client;
  readonly #makeClient: (onclose?: () => void) => Client;
  #lockClient: Client | undefined;

  constructor(
    readonly name: string,
    readonly display: string,
    client: Client,
    makeClient: (onclose?: () => void) => Client,
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

function unreachable(name: string, display: string, error: unknown): unknown {
  if (error instanceof Deno.errors.NotCapable) return error;
  return new LockstepError(
    "DATABASE_UNREACHABLE",
    `Cannot connect to database "${name}" (${display}): ${redact(messageOf(error))}`,
    { cause: error, data: { database: name } },
  );
}
