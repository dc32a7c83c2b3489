import { assertEquals } from "./helpers/assert.ts";
import { isComplete, splitStatements } from "../lib/sql/split.ts";

Deno.test("splitStatements() splits at top-level semicolons only", () => {
  const script = `
    create table a (note text default 'x;y'); -- a comment; with a semicolon
    /* block; /* nested; */ still comment; */
    create function f() returns int as $body$ begin return 1; end; $body$ language plpgsql;
    insert into "we;ird" values ($$a;b$$);
    create index concurrently i on a (note)
  `;
  assertEquals(splitStatements(script), [
    "create table a (note text default 'x;y')",
    "-- a comment; with a semicolon\n    /* block; /* nested; */ still comment; */\n    " +
    "create function f() returns int as $body$ begin return 1; end; $body$ language plpgsql",
    'insert into "we;ird" values ($$a;b$$)',
    "create index concurrently i on a (note)",
  ]);
});

Deno.test("splitStatements() drops empty and comment-only statements", () => {
  assertEquals(splitStatements(";; -- nothing\n;/* x */;"), []);
  assertEquals(splitStatements("select 'it''s';"), ["select 'it''s'"]);
});

Deno.test("isComplete: a statement ends at a top-level semicolon only", () => {
  assertEquals(isComplete("select 1;\n"), true);
  assertEquals(isComplete("select ';\n"), false);
  assertEquals(isComplete("select 'a;'\n"), false);
  assertEquals(isComplete("create function f() returns int as $$ select 1;\n"), false);
  assertEquals(
    isComplete("create function f() returns int as $$ select 1; $$ language sql;\n"),
    true,
  );
  assertEquals(isComplete("select 1 -- done;\n"), false);
  assertEquals(isComplete('select "a;b";'), true);
});
