/**
 * postgres.js clients, built from the URL with every option passed
 * explicitly, so that postgres.js reads no environment variable but
 * `PGAPPNAME`. The one place that loads postgres.js: a dynamic `import()`,
 * run the first time a PostgreSQL database is opened, dumped or restored.
 *
 * postgres.js 3.4.9 has a bug that crashes the process when a connection
 * dies under a transaction: the transaction's `ROLLBACK` is written, on the
 * next turn of the event loop, to the socket that has been set to `null`
 * (`TypeError: Cannot read properties of null (reading 'write')` from
 * `nextWrite` in its `connection.js`). The transaction itself has already
 * failed with `CONNECTION_CLOSED` by then, so nothing waits for that write:
 * {@link clientFactory} installs, once, a global `error` listener that
 * prevents exactly that error from ending the process (any other uncaught
 * error still does), so the command's failure path runs instead of a stack
 * trace.
 *
 * @module
 */
import type { Options, Sql as Client } from "../../deps/postgres.ts";
import { LockstepError } from "../../errors.ts";
import { redact } from "../../redact.ts";
import type { DatabaseConfig } from "../dialect.ts";

/** What a client needs beside the URL. */
export interface ClientSettings {
  /** The password (from `passwordEnv`); never part of the URL. */
  password?: string;
  /** Open a read-only session (`default_transaction_read_only`), default `false`. */
  readOnly?: boolean;
  /** Receives server notices (default: dropped). */
  onNotice?: (message: string) => void;
  /**
   * The session's `lock_timeout`, in ms: how long a statement waits for a
   * lock another session holds (default: the server's setting). `RESET ALL`
   * returns to it, as it is sent when connecting.
   */
  lockTimeoutMs?: number;
}

/** Makes clients of one database; `onclose` is called when that client's connection closes. */
export type ClientFactory = (onclose?: () => void) => Client;

const CONNECT_TIMEOUT_SECONDS = 10;

/**
 * Loads postgres.js (once) and returns a factory of clients for `url`.
 *
 * @throws {LockstepError} `CONFIG_INVALID` when the URL names no user.
 */
export async function clientFactory(
  url: string,
  settings: ClientSettings = {},
): Promise<ClientFactory> {
  const options = clientOptions(url, settings);
  const { default: postgres } = await import("../../deps/postgres.ts");
  survivePostgresJsNullSocket();
  return (onclose) => postgres({ ...options, ...(onclose ? { onclose } : {}) } as Options<never>);
}

/** Builds postgres.js options from the URL, leaving nothing to its environment defaults. */
export function clientOptions(url: string, settings: ClientSettings) {
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
    password: () => settings.password ?? "",
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
    target_session_attrs: settings.readOnly ? "read-only" : "primary",
    onnotice: (notice: { message?: string }) => settings.onNotice?.(notice.message ?? ""),
    connection: {
      application_name: "lockstep",
      ...(settings.readOnly ? { default_transaction_read_only: true } : {}),
      ...(settings.lockTimeoutMs === undefined
        ? {}
        : { lock_timeout: Math.max(1, Math.round(settings.lockTimeoutMs)) }),
    },
  } as const;
}

/**
 * One client of `db` for a dump or a restore (notices dropped): postgres.js
 * can hang a pooled connection after a COPY, so each gets its own and ends it.
 */
export async function connect(
  db: DatabaseConfig,
  options: { lockTimeoutMs?: number | undefined } = {},
): Promise<Client> {
  const make = await clientFactory(db.url, {
    ...(db.password === undefined ? {} : { password: db.password }),
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
  });
  return make();
}

let surviving = false;

/** The listener of the module documentation, installed once. */
function survivePostgresJsNullSocket(): void {
  if (surviving) return;
  surviving = true;
  globalThis.addEventListener("error", (event) => {
    const error = event.error;
    if (
      error instanceof TypeError && /reading 'write'/.test(error.message) &&
      /nextWrite/.test(error.stack ?? "") && /postgres/.test(error.stack ?? "")
    ) event.preventDefault();
  });
}
