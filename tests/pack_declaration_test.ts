/**
 * Pack declarations, names and the `packs` section of lockstep.json, as
 * pure functions: strict like lockstep.json (unknown keys and bad values
 * refused, naming the file and the key), names by shape, reserved names and
 * collisions by case or Unicode form.
 *
 * @module
 */
import { resolveConfig } from "../mod.ts";
import { parseDeclaration } from "../lib/packs/declaration.ts";
import { packNameReason } from "../lib/packs/names.ts";
import { assertEquals, assertMatch, throwsWith } from "./helpers/assert.ts";

const GOOD = {
  format: 1,
  name: "orders",
  version: "0.4.0",
  source: "shop",
  migrations: "migrations",
  database: "main",
  requires: { app: ">=1.4 <2", "pack:core-ui": "^2" },
};

Deno.test("parseDeclaration() reads a declaration, with migrations defaulting to migrations/", () => {
  assertEquals(parseDeclaration(JSON.stringify(GOOD), "packs/orders/lockstep-package.json"), GOOD);
  const { migrations: _, database: __, ...minimal } = GOOD;
  const read = parseDeclaration(JSON.stringify({ ...minimal, requires: undefined }), "x.json");
  assertEquals([read.migrations, read.database, read.requires], ["migrations", undefined, {}]);
});

Deno.test("parseDeclaration() refuses unknown keys and bad values, naming the file and the key", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { ...GOOD, verison: "1" },
      /unknown key "verison" at the top level \(did you mean "version"\?\)/,
    ],
    [{ ...GOOD, format: 2 }, /"format" is 2/],
    [{ ...GOOD, name: "Orders" }, /"name" "Orders" is not a pack name/],
    [{ ...GOOD, version: "0.4" }, /"version" "0\.4" is not a semantic version/],
    [{ ...GOOD, source: "" }, /"source" must be a non-empty string/],
    [{ ...GOOD, migrations: "../core" }, /"migrations" "\.\.\/core" is unsafe/],
    [{ ...GOOD, requires: { deno: ">=2" } }, /"requires" names "deno"/],
    [{ ...GOOD, requires: { "pack:Core": "^1" } }, /"requires" names "pack:Core"/],
    [{ ...GOOD, requires: { app: "one" } }, /"requires\.app" is not a version range/],
  ];
  for (const [value, message] of cases) {
    const error = throwsWith(
      () => parseDeclaration(JSON.stringify(value), "p/x.json"),
      "PACK_INVALID",
    );
    assertMatch(error.message, /^Cannot use pack declaration "p\/x\.json": /);
    assertMatch(error.message, message);
  }
  const twice = throwsWith(
    () => parseDeclaration('{"format":1,"name":"a","name":"b"}', "p/x.json"),
    "PACK_INVALID",
  );
  assertMatch(twice.message, /the key name twice/);
  throwsWith(() => parseDeclaration("{", "p/x.json"), "PACK_INVALID");
});

Deno.test("packNameReason() refuses bad shapes, reserved names and names one host would fold into another", () => {
  const context = { app: "shop", taken: ["core", "Orders"] };
  for (const name of ["reviews", "a", "core-ui", "x".repeat(64)]) {
    assertEquals(packNameReason(name, context), undefined, name);
  }
  const refused: [string, RegExp][] = [
    ["../core", /lower-case letters/],
    ["-x", /lower-case letters/],
    ["x".repeat(65), /lower-case letters/],
    ["CON", /lower-case letters/],
    ["ｏrders", /lower-case letters/],
    ["con", /reserved/],
    ["lpt1", /reserved/],
    ["lockstep", /reserved/],
    ["shop", /the app's own name/],
    ["core", /taken by a configured package/],
    ["orders", /"orders" and "Orders" are one name/],
  ];
  for (const [name, reason] of refused) {
    assertMatch(packNameReason(name, context) ?? "", reason, name);
  }
});

Deno.test("resolveConfig() reads packs: dir inside the root, allow, databases; refuses what cannot be", () => {
  const base = { app: "shop", databases: { main: { url: "sqlite:data/shop.db" } } };
  const text = (packs: unknown) => JSON.stringify({ ...base, packs });
  assertEquals(resolveConfig("/srv/shop/lockstep.json", JSON.stringify(base)).packs, {
    dir: "/srv/shop/packs",
    allow: null,
    databases: {},
  });
  const read = resolveConfig(
    "/srv/shop/lockstep.json",
    text({ dir: "plugins", allow: ["reviews"], databases: { reviews: "main" } }),
  ).packs;
  assertEquals(read, {
    dir: "/srv/shop/plugins",
    allow: ["reviews"],
    databases: { reviews: "main" },
  });
  const refused: [unknown, RegExp][] = [
    [{ dir: "../elsewhere" }, /"packs\.dir" must be a folder inside the app root/],
    [{ dir: "." }, /"packs\.dir" must be a folder inside the app root/],
    [{ dir: "updates/packs" }, /must not hold one another/],
    [{ allow: ["Reviews"] }, /"packs\.allow" lists "Reviews", which is not a pack name/],
    [{ databases: { reviews: "other" } }, /"packs\.databases\.reviews" names "other"/],
    [{ allwo: [] }, /unknown key "allwo" at "packs" \(did you mean "allow"\?\)/],
  ];
  for (const [packs, message] of refused) {
    const error = throwsWith(
      () => resolveConfig("/srv/shop/lockstep.json", text(packs)),
      "CONFIG_INVALID",
    );
    assertMatch(error.message, message);
  }
});
