/**
 * The public API's documentation states its contract: every function and
 * class that `mod.ts` exports names the Deno permissions it needs, the
 * error codes it throws, and shows an example (STYLE.md, item 4).
 *
 * @module
 */
import { assertEquals } from "./helpers/assert.ts";

interface DocNode {
  name: string;
  declarations: {
    kind: string;
    jsDoc?: { doc?: string; tags?: { kind: string; doc?: string }[] };
  }[];
}

Deno.test("every function and class mod.ts exports states its permissions, throws and an example", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", new URL("../mod.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const symbols = (Object.values(json.nodes)[0] as { symbols: DocNode[] }).symbols;
  const missing: string[] = [];
  for (const symbol of symbols) {
    for (const declaration of symbol.declarations) {
      if (declaration.kind !== "function" && declaration.kind !== "class") continue;
      const doc = declaration.jsDoc?.doc ?? "";
      const tags = (declaration.jsDoc?.tags ?? []).map((t) => t.kind);
      if (!/^Permissions: /m.test(doc)) missing.push(`${symbol.name}: a "Permissions:" line`);
      if (declaration.kind === "function" && !tags.includes("throws")) {
        missing.push(`${symbol.name}: @throws`);
      }
      if (!tags.includes("example")) missing.push(`${symbol.name}: @example`);
    }
  }
  assertEquals(missing, []);
});
