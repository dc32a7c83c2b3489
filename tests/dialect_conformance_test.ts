/**
 * The dialect conformance suite: the same cases, run against every database
 * lockstep supports (`BACKENDS`), through the dialect's own interface — as
 * golang-migrate's `database/testing` `Test(t, d)` is called for every
 * driver. Each case gets a fresh, empty database; real SQLite files and the
 * real PostgreSQL server, no mocks. A new dialect passes these first.
 */
import { join } from "node:path";
import { assert, assertEquals, rejectsWith } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { tempDir } from "./helpers/temp.ts";
import { LockstepError } from "../mod.ts";
import { hashFile } from "../lib/hashing.ts";
import { readEvents, readRows } from "../lib/migrations/ledger.ts";
import { diffSchema, readSchema } from "../lib/migrations/schema.ts";
import {
  type DatabaseConfig,
  LEDGER_TABLES,
  ledgerTable,
  type MigrationRecord,
  type SqlDialect,
} from "../lib/sql/dialect.ts";
import { dialectForUrl, dialectOf, DIALECTS } from "../lib/sql/dialects.ts";
import type { Database } from "../lib/sql/driver.ts";
import { openDatabase } from "../lib/sql/open.ts";

/** What each case gets: a fresh, empty database of one backend, open. */
interface Subject {
  readonly dialect: SqlDialect;
  readonly config: DatabaseConfig;
  readonly db: Database;
  readonly app: TestApp;
}

/** The cases every dialect must pass, by name. */
const CASES: readonly [string, (subject: Subject) => void | Promise<void>][] = [
  ["its URL is read by it alone, and reads back as configured", urls],
  ["transaction() commits, and rolls back every statement on a throw", transactions],
  ["the ledger DDL is idempotent, and hasLedger() detects the ledger", ledger],
  ["recordMigration() writes the row, the package version and the event", migrationRows],
  ["readTables() names an added column and an added index, and reads alike twice", schema],
  ["snapshot() reads on a read-only connection", readOnlySnapshot],
  ["runWithoutTransaction() runs several statements, keeping those before a failure", script],
  ["backup() then restore() brings rows back and drops what was added since", roundTrip],
  ["checkArtifact() accepts a good artifact and names what is wrong with a damaged one", check],
  ["files() lists the files the database lives in (none for a server)", files],
  ["ledger statements name ledgerSchema; resetSession() puts the session back", session],
  [
    "trialRestore() restores an artifact into a scratch copy, removed after, and names a bad one",
    trial,
  ],
];

for (const backend of BACKENDS) {
  for (const [name, run] of CASES) {
    Deno.test(`dialect conformance (${backend}): ${name}`, async () => {
      await using app = await makeApp(backend, { packages: {} });
      const config = (await app.config()).databases.main!;
      const db = await openDatabase(config);
      try {
        await run({ dialect: dialectOf(config), config, db, app });
      } finally {
        await db.close();
      }
    });
  }
}

Deno.test("dialectOf() finds a dialect by name or by anything with a dialect; URLs pick theirs", () => {
  for (const dialect of DIALECTS) {
    assertEquals(dialectOf(dialect.name), dialect);
    assertEquals(dialectOf({ dialect: dialect.name }), dialect);
  }
  assertEquals(dialectForUrl("sqlite:data/shop.db")?.name, "sqlite");
  assertEquals(dialectForUrl("postgres://shop@127.0.0.1/shop")?.name, "postgres");
  assertEquals(dialectForUrl("postgresql://shop@127.0.0.1/shop")?.name, "postgres");
  assertEquals(dialectForUrl("mysql://shop@127.0.0.1/shop"), undefined);
  let caught: unknown;
  try {
    dialectOf("mysql" as never);
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof TypeError);
});

async function count(db: Database, table: string): Promise<number> {
  return Number((await db.query(`select count(*) as n from ${table}`))[0]!.n);
}

async function ids(db: Database, table: string): Promise<number[]> {
  return (await db.query(`select id from ${table} order by id`)).map((r) => Number(r.id));
}

/** The error `promise` rejects with, or `undefined` when it resolves. */
function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error) => error);
}

function urls({ dialect, config, app }: Subject): void {
  assertEquals(DIALECTS.filter((d) => d.matches(config.url)), [dialect]);
  const parsed = dialect.parseUrl(config.url, app.dir, (problem) => {
    throw new Error(problem);
  });
  assertEquals(parsed.url, config.url);
  assertEquals(dialect.managedSchemas(undefined), config.schemas);
}

async function transactions({ db }: Subject): Promise<void> {
  await db.exec("create table t (id integer primary key)");
  await rejectsWith(
    db.transaction(async (tx) => {
      await tx.query("insert into t (id) values ($1)", [1]);
      throw new LockstepError("MIGRATION_FAILED", "stop");
    }),
    "MIGRATION_FAILED",
  );
  // A statement that fails takes the earlier ones of its transaction with it.
  const failed = await failure(db.transaction(async (tx) => {
    await tx.query("insert into t (id) values ($1)", [1]);
    await tx.query("insert into t (id) values ($1)", [1]);
  }));
  assert(failed instanceof Error);
  assertEquals(await count(db, "t"), 0);
  await db.transaction((tx) => tx.query("insert into t (id) values ($1)", [2]));
  assertEquals(await ids(db, "t"), [2]);
}

async function ledger({ dialect, db }: Subject): Promise<void> {
  assertEquals(await dialect.hasLedger(db), false);
  await db.transaction((tx) => tx.exec(dialect.ledgerDdl));
  await db.transaction((tx) => tx.exec(dialect.ledgerDdl));
  assertEquals(await dialect.hasLedger(db), true);
  assertEquals(await dialect.hasLedgerTable(db, "lockstep_hosts"), false, "fleets only");
  await db.exec(dialect.hostsDdlIn(db.ledgerSchema));
  await db.exec(dialect.hostsDdlIn(db.ledgerSchema));
  for (const table of LEDGER_TABLES) assertEquals(await count(db, table), 0);
}

async function migrationRows({ dialect, db }: Subject): Promise<void> {
  await db.transaction((tx) => tx.exec(dialect.ledgerDdl));
  const record = (
    id: string,
    appliedAt: string,
    phase: MigrationRecord["phase"] = "expand",
  ): MigrationRecord => ({
    id,
    package: "core",
    checksum: `v1:${id.length}`,
    appliedAt,
    durationMs: 12,
    action: "applied",
    phase,
    codeVersion: "1.0.0",
    host: "host-1",
    message: `applied ${id}`,
  });
  const first = record("core/20260101000000_users", "2026-01-01T00:00:00.000Z");
  const second = record("core/20260201000000_orders", "2026-02-01T00:00:00.000Z", "contract");
  await db.transaction((tx) => dialect.recordMigration(tx, first));
  await db.transaction((tx) => dialect.recordMigration(tx, second));
  const { message: _, ...row } = first;
  const rows = await readRows(db, "main");
  assertEquals(rows[0], { ...row, database: "main" });
  assertEquals(rows.map((r) => r.phase), ["expand", "contract"]);
  assertEquals(
    (await db.query("select package, version from lockstep_packages")).map((r) => ({ ...r })),
    [{ package: "core", version: second.id }],
  );
  assertEquals(await readEvents(db), [
    { at: first.appliedAt, kind: "applied", migration: first.id, message: first.message },
    { at: second.appliedAt, kind: "applied", migration: second.id, message: second.message },
  ]);
}

async function schema({ dialect, config, db }: Subject): Promise<void> {
  await db.transaction((tx) => tx.exec(dialect.ledgerDdl));
  await db.exec("create table users (id integer primary key, email text not null)");
  const read = () => dialect.snapshot(db, (sql) => readSchema(sql, config.schemas));
  const before = await read();
  assertEquals(await read(), before);
  const names = [...before.keys()];
  const users = names[0] ?? "";
  assert(names.length === 1 && users.endsWith("users"), `ledger tables left out: ${names}`);
  const items = await dialect.snapshot(db, (sql) => dialect.readTables(sql, config.schemas));
  assertEquals(Object.keys(items.get(users)!.column).sort(), ["email", "id"]);

  await db.exec("alter table users add column nickname text");
  await db.exec("create index users_email on users (email)");
  const after = await read();
  assertEquals(await read(), after);
  const changes = diffSchema(before, after)
    .map(({ table, kind, name, change }) => ({ table, kind, name, change }));
  assertEquals(changes, [
    { table: users, kind: "column", name: "nickname", change: "added" },
    { table: users, kind: "index", name: "users_email", change: "added" },
  ]);
}

async function readOnlySnapshot({ dialect, config, db }: Subject): Promise<void> {
  await db.transaction((tx) => tx.exec(dialect.ledgerDdl));
  const readOnly = await openDatabase(config, { readOnly: true });
  try {
    assertEquals(await dialect.snapshot(readOnly, (sql) => dialect.hasLedger(sql)), true);
  } finally {
    await readOnly.close();
  }
}

async function script({ dialect, db }: Subject): Promise<void> {
  // VACUUM refuses to run inside a transaction on both databases.
  await dialect.runWithoutTransaction(
    db,
    "create table a (id integer);\ninsert into a values (1);\ninsert into a values (2);\nvacuum;",
  );
  assertEquals(await ids(db, "a"), [1, 2]);
  const failed = await failure(
    dialect.runWithoutTransaction(db, "insert into a values (3); insert into missing values (4);"),
  );
  assert(failed instanceof Error);
  assertEquals(await ids(db, "a"), [1, 2, 3]);
}

async function roundTrip({ dialect, config, db }: Subject): Promise<void> {
  await db.exec("create table items (id integer primary key, name text not null)");
  await db.exec("insert into items (id, name) values (1, 'a'), (2, 'b')");
  await using folder = await tempDir();
  const made = await dialect.backup(config, folder.path, {
    stem: "db-main",
    tool: false,
    record: (copy) => Promise.resolve(copy.name),
  });
  assertEquals(made.record, "main");
  assert(made.artifact.startsWith("db-main."), made.artifact);
  const path = join(folder.path, made.artifact);
  assertEquals(await hashFile(path), { sha256: made.sha256, size: made.size });

  await db.exec("insert into items (id, name) values (3, 'c')");
  await db.exec("delete from items where id = 1");
  await db.exec("create table added (id integer)");
  await dialect.restore(config, path, made.format);
  assertEquals(await ids(db, "items"), [1, 2]);
  const gone = await failure(db.query("select count(*) as n from added"));
  assert(gone instanceof Error, "the table added after the backup is gone");
  // Restoring the same artifact again gives the same result.
  await dialect.restore(config, path, made.format);
  assertEquals(await ids(db, "items"), [1, 2]);
}

async function check({ dialect, config, db }: Subject): Promise<void> {
  await db.exec("create table items (id integer primary key, name text not null)");
  for (let i = 0; i < 20; i++) {
    await db.query("insert into items (id, name) values ($1, $2)", [i, "x".repeat(1000)]);
  }
  await using folder = await tempDir();
  const made = await dialect.backup(config, folder.path, {
    stem: "db-main",
    tool: false,
    record: () => Promise.resolve(null),
  });
  const path = join(folder.path, made.artifact);
  assertEquals(await dialect.checkArtifact(path, made.format), undefined);
  await Deno.truncate(path, Math.floor(made.size / 2));
  const problem = await dialect.checkArtifact(path, made.format);
  assert(typeof problem === "string" && problem.length > 0, `a problem is named: ${problem}`);
}

function files({ dialect, config }: Subject): void {
  const expected = config.path === undefined
    ? []
    : ["", "-wal", "-shm", "-journal"].map((suffix) => `${config.path}${suffix}`);
  assertEquals(dialect.files(config), expected);
}

async function session({ dialect, config, db }: Subject): Promise<void> {
  assertEquals(db.ledgerSchema, config.schemas[0]);
  await db.transaction((tx) => tx.exec(dialect.ledgerDdlIn(db.ledgerSchema)));
  // What a migration may leave in the session (PostgreSQL: no schema on the search path).
  const away = dialect.name === "postgres"
    ? "select pg_catalog.set_config('search_path', '', false)"
    : "pragma foreign_keys = on";
  await db.transaction(async (tx) => {
    await tx.exec(away);
    assertEquals(await dialect.hasLedger(tx), true);
    const table = ledgerTable(tx, "lockstep_migrations");
    assertEquals(await tx.query(`select id from ${table}`), []);
    await dialect.resetSession(tx);
  });
  await db.exec(away);
  await dialect.resetSession(db);
  // Unqualified names work again: the session is as lockstep opened it.
  assertEquals(await count(db, "lockstep_migrations"), 0);
}

async function trial({ dialect, config, db, app }: Subject): Promise<void> {
  await db.exec("create table items (id integer primary key, name text not null)");
  await db.exec("insert into items (id, name) values (1, 'a')");
  await using folder = await tempDir();
  const made = await dialect.backup(config, folder.path, {
    stem: "db-main",
    tool: false,
    record: () => Promise.resolve(null),
  });
  const path = join(folder.path, made.artifact);
  const before = [...Deno.readDirSync(folder.path)].map((e) => e.name).sort();
  assertEquals(await dialect.trialRestore(config, path, made.format, folder.path), undefined);
  assertEquals([...Deno.readDirSync(folder.path)].map((e) => e.name).sort(), before);
  assertEquals(await ids(db, "items"), [1], "the live database was only read");
  await Deno.writeFile(path, new TextEncoder().encode("not an artifact"));
  const problem = await dialect.trialRestore(config, path, made.format, folder.path);
  assert(typeof problem === "string" && problem.length > 0, `a problem is named: ${problem}`);
  assertEquals([...Deno.readDirSync(folder.path)].map((e) => e.name).sort(), before);
  assert(app.dir.length > 0);
}
