/**
 * postgres.js, pinned. Loaded with a dynamic `import()` only when a
 * `postgres://` database is configured, so SQLite-only use never fetches it.
 *
 * @module
 */
export { default } from "npm:postgres@3.4.9";
export type { Options, PostgresError, Sql, TransactionSql } from "npm:postgres@3.4.9";
