import { assert, assertEquals, rejectsWith } from "./helpers/assert.ts";
import { inTransaction, RollbackError } from "../lib/sql/driver.ts";
import { toSqlitePlaceholders } from "../lib/sql/sqlite/driver.ts";
import { BACKENDS, makeApp } from "./helpers/app.ts";
import { openDatabase } from "../lib/sql/open.ts";
import { LockstepError } from "../mod.ts";

Deno.test("inTransaction() commits on success and rolls back on a throw", async () => {
  const calls: string[] = [];
  const steps = {
    begin: () => Promise.resolve(void calls.push("begin")),
    commit: () => Promise.resolve(void calls.push("commit")),
    rollback: () => Promise.resolve(void calls.push("rollback")),
  };
  assertEquals(await inTransaction(steps, () => Promise.resolve(7)), 7);
  const boom = new Error("boom");
  const caught = await inTransaction(steps, () => Promise.reject(boom)).catch((e) => e);
  assertEquals(caught, boom);
  assertEquals(calls, ["begin", "commit", "begin", "rollback"]);
});

Deno.test("inTransaction() keeps both errors when the rollback fails too", async () => {
  const original = new Error("statement failed");
  const rollback = new Error("connection lost");
  const caught = await inTransaction({
    begin: () => Promise.resolve(),
    commit: () => Promise.resolve(),
    rollback: () => Promise.reject(rollback),
  }, () => Promise.reject(original)).catch((e) => e);
  assert(caught instanceof RollbackError);
  assertEquals(caught.errors, [original, rollback]);
  assertEquals(caught.cause, original);
});

Deno.test("toSqlitePlaceholders() rewrites $n outside quotes only", () => {
  assertEquals(toSqlitePlaceholders(`select $1, '$2', "$3", $10`), `select ?1, '$2', "$3", ?10`);
});

for (const backend of BACKENDS) {
  Deno.test(`a database's transaction() rolls back every statement on a throw (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: {} });
    const db = await openDatabase((await app.config()).databases.main!);
    try {
      await db.exec("create table t (id integer primary key)");
      await rejectsWith(
        db.transaction(async (tx) => {
          await tx.query("insert into t (id) values ($1)", [1]);
          throw new LockstepError("MIGRATION_FAILED", "stop");
        }),
        "MIGRATION_FAILED",
      );
      assertEquals(await db.query("select count(*) as n from t").then((r) => Number(r[0]!.n)), 0);
      await db.transaction((tx) => tx.query("insert into t (id) values ($1)", [2]));
      assertEquals(await db.query("select id from t").then((r) => r.map((x) => Number(x.id))), [2]);
    } finally {
      await db.close();
    }
  });
}
