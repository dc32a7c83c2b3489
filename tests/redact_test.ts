import { assertEquals } from "./helpers/assert.ts";
import { redact } from "../mod.ts";
import { redactSecrets } from "../lib/redact.ts";

Deno.test("redact() masks the password of every URL in a text", () => {
  assertEquals(
    redact("connect postgres://shop:s3cret@db:5432/x and postgresql://a:b@c/d failed"),
    "connect postgres://shop:***@db:5432/x and postgresql://a:***@c/d failed",
  );
});

Deno.test("redact() masks passwords holding @ and : whole", () => {
  assertEquals(redact("postgres://u:p@ss:w@rd@host/db"), "postgres://u:***@host/db");
});

Deno.test("redact() leaves URLs without a password alone", () => {
  for (
    const text of [
      "postgres://shop@db/x",
      "sqlite:/srv/a.db",
      "http://host:8080/path",
      "no url here",
    ]
  ) {
    assertEquals(redact(text), text);
  }
});

Deno.test("redact() copes with malformed URLs and key=value settings", () => {
  assertEquals(redact("postgres://:secret@host"), "postgres://:***@host");
  assertEquals(redact("postgres://user:secret@"), "postgres://user:***@");
  assertEquals(redact("host=db password=hunter2 user=x"), "host=db password=*** user=x");
  assertEquals(redact("postgres://u:a/b@host/db"), "postgres://u:***@host/db");
});

Deno.test("redactSecrets() masks known secrets anywhere", () => {
  assertEquals(redactSecrets("auth failed for hunter2", ["hunter2"]), "auth failed for ***");
});
