// Archive tricks behind real installer bypasses (parser differentials, the
// "overlapping files" zip bomb) and names a Windows host cannot hold: each is
// refused before the first write with its own code, and `check` reports it.
// Each case builds its own fixture (see helpers/zip_tricks.ts).
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { writeBundle } from "./helpers/bundles.ts";
import { hostile } from "./helpers/hostile.ts";
import { DIFFERENTIALS, UNPORTABLE } from "./helpers/zip_tricks.ts";
import { duplicateKey } from "../lib/strict_json.ts";
import { install } from "../mod.ts";

// Parser differentials, and names a Windows host cannot hold or would alias
for (const trick of [...DIFFERENTIALS, ...UNPORTABLE]) {
  hostile(trick.label, { code: trick.code, build: trick.build });
}

Deno.test("duplicateKey() names the first repeated key with its path, and nothing else", () => {
  assertEquals(duplicateKey('{"a":1,"b":{"c":[{"x":1},{"x":2,"x":3}]}}'), "b.c[].x");
  assertEquals(duplicateKey('{"files":{"a.ts":{"size":1,"size":2}}}'), 'files["a.ts"].size');
  assertEquals(duplicateKey('{"k\\u0065y":1,"key":2}'), "key", "escapes are decoded");
  assertEquals(duplicateKey('{"a":"\\"a\\":","b":{"a":1},"c":[{"q":1},{"q":1}]}'), undefined);
});

Deno.test("the layout check accepts what zip.js writes, data descriptors or not", async () => {
  // A bundle that mixes both forms reads cleanly: nothing above is a false alarm.
  await using app = await makeApp("sqlite", { packages: {}, files: {} });
  await Deno.mkdir(`${app.dir}/updates/pending`, { recursive: true });
  await writeBundle(`${app.dir}/updates/pending/testapp-1.1.0.zip`, {
    version: "1.1.0",
    files: { "app/main.ts": "x\n", "app/other.ts": "y\n", "app/caf\u00e9.ts": "unicode\n" },
    entryOptions: { "app/main.ts": { dataDescriptor: false, level: 0 } },
  });
  const result = await install(await app.config(), { backup: false });
  assertEquals(result.refused, []);
  assertMatch(await Deno.readTextFile(`${app.dir}/app/caf\u00e9.ts`), /unicode/);
});
