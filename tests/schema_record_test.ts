/**
 * The drift record `migrate` writes reads again only the tables whose
 * catalog fingerprint changed since the record last matched (see
 * `recordSchema`'s `before`, read from the catalog or kept in check's hints
 * by the record before): these tests prove the record still equals a full
 * read after every kind of change, including those that change a
 * table's definition without touching its own catalog rows (a renamed
 * function, collation, type, sequence or referenced table), and that the
 * unchanged tables are indeed not read.
 */
import { check, migrate } from "../mod.ts";
import { cachePath } from "../lib/check_cache.ts";
import { readSchema, recordSchema } from "../lib/migrations/schema.ts";
import { dialectOf } from "../lib/sql/dialects.ts";
import { openDatabase } from "../lib/sql/open.ts";
import type { Sql } from "../lib/sql/driver.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { type Backend, makeApp, type TestApp } from "./helpers/app.ts";

/** Each step: one migration applied by its own `migrate` run. */
const STEPS: Record<Backend, string[]> = {
  sqlite: [
    `create table a (id integer primary key, v text default 'x');
     create table b (id integer primary key, a_id integer references a (id));
     create table c (id integer primary key, name text);
     create index c_name on c (name);
     create trigger a_touch after update on a begin update c set name = name; end;`,
    "alter table a add column w integer",
    // SQLite rewrites b's text (its foreign key) without b being named.
    "alter table a rename to a2",
    "create view v as select id from c",
    "drop trigger a_touch; create index a2_w on a2 (w)",
    "drop table b",
    "alter table c rename column name to label",
  ],
  postgres: [
    `create collation coll1 from "C";
     create function f1() returns text language sql as $$ select 'x' $$;
     create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
     create type mood as enum ('ok', 'sad');
     create table a (id integer primary key, v text default f1());
     create table b (id integer primary key, a_id integer references a (id));
     create table c (id serial primary key, name text collate coll1, m mood);
     create index c_name on c (name text_pattern_ops);
     create trigger a_touch before update on a for each row execute function touch();`,
    "alter table a add column w integer",
    // Each of these changes a definition's text, not the table's own catalog rows.
    "alter function f1() rename to f2",
    "alter table a rename to a2",
    "alter collation coll1 rename to coll2",
    "alter sequence c_id_seq rename to c_seq",
    "alter function touch() rename to touch2",
    "alter type mood rename to feeling",
    "create view v as select id from c",
    "drop table b",
  ],
};

for (const backend of ["sqlite", "postgres"] as const) {
  Deno.test(`migrate's schema record equals a full read after every kind of change (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: { core: {} } });
    const config = await app.config();
    for (const [index, body] of STEPS[backend].entries()) {
      const stamp = String(20260101000000 + index * 100);
      await app.write(`migrations/core/${stamp}_step${index}.sql`, `${body}\n`);
      const result = await migrate(await app.config(), { yes: true, backup: false });
      assertEquals(result.applied, [`core/${stamp}_step${index}`]);
      // Every other step, check compares table by table from nothing remembered (so the next
      // migrate reads the catalog per table); otherwise the next migrate takes it from the hint
      // the record before left.
      if (index % 2 === 0) await Deno.remove(cachePath(config)).catch(() => undefined);
      const report = await check(config);
      assertEquals(
        report.schema.map((s) => [s.record, s.changes]),
        [["current", []]],
        `after step ${index}: ${body}`,
      );
      await sameAsFullRead(app);
    }
  });

  Deno.test(`the record reads again only the tables whose fingerprint changed (${backend})`, async () => {
    await using app = await makeApp(backend, {
      packages: {
        core: {
          files: {
            "20260101000000_base.sql":
              "create table users (id integer primary key, email text);\n" +
              "create table orders (id integer primary key, total integer);\n",
          },
        },
      },
    });
    assertEquals(
      (await migrate(await app.config(), { yes: true, backup: false })).applied.length,
      1,
    );
    const config = await app.config();
    const db = await openDatabase(config.databases.main!);
    const schemas = config.databases.main!.schemas;
    const read: unknown[][] = [];
    await db.transaction(async (tx) => {
      const before = await dialectOf(tx).tableFingerprints(tx, schemas);
      await tx.exec("alter table orders add column note text");
      const spy: Sql = {
        ...tx,
        query: (text, params = []) => {
          read.push([...params]);
          return tx.query(text, params);
        },
      };
      await recordSchema(spy, schemas, { codeVersion: null, host: null }, before);
    }).finally(() => db.close());
    const orders = backend === "postgres" ? "public.orders" : "orders";
    assert(
      read.some((params) => params.includes(JSON.stringify([orders]))),
      `only ${orders} was read: ${JSON.stringify(read)}`,
    );
    await sameAsFullRead(app);
  });
}

/** The record's hashes are those of a full read of the live schema. */
async function sameAsFullRead(app: TestApp): Promise<void> {
  const config = await app.config();
  const db = await openDatabase(config.databases.main!);
  const live = await db.transaction((tx) => readSchema(tx, config.databases.main!.schemas))
    .finally(() => db.close());
  const recorded = await app.dbs.main!.query(
    "select table_name, hash from lockstep_schema order by table_name",
  );
  assertEquals(
    recorded.map((r) => [String(r.table_name), String(r.hash)]),
    [...live].map(([name, table]) => [name, table.hash]),
  );
}
