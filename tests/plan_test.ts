import { assertEquals, throwsWith } from "./helpers/assert.ts";
import { heads, order, plan } from "../lib/migrations/plan.ts";
import type { MigrationNode } from "../lib/migrations/types.ts";

function node(id: string, dependsOn: string[] = [], checksum = `v1:${id}`): MigrationNode {
  const [pkg, stem] = id.split("/") as [string, string];
  return { id, package: pkg, timestamp: stem.slice(0, 14), dependsOn, checksum };
}

Deno.test("order() keeps each package a line and breaks ties by timestamp, then id", () => {
  const nodes = [
    node("b/20260101000000_b1"),
    node("a/20260102000000_a2"),
    node("a/20260101000000_a1"),
    node("c/20260101000000_c1"),
    node("b/20260103000000_b2", ["a/20260102000000_a2"]),
  ];
  assertEquals(order(nodes), [
    "a/20260101000000_a1",
    "b/20260101000000_b1",
    "c/20260101000000_c1",
    "a/20260102000000_a2",
    "b/20260103000000_b2",
  ]);
});

Deno.test("order() runs a dependency of another package first, whatever its timestamp", () => {
  const nodes = [
    node("core/20260301000000_late"),
    node("orders/20260101000000_early", ["core/20260301000000_late"]),
  ];
  assertEquals(order(nodes), ["core/20260301000000_late", "orders/20260101000000_early"]);
});

Deno.test("order() is the same whatever order the nodes come in", () => {
  const nodes = [
    node("a/20260101000000_x"),
    node("b/20260101000000_x", ["a/20260101000000_x"]),
    node("c/20260101000000_x"),
    node("a/20260105000000_y", ["c/20260101000000_x"]),
  ];
  const expected = order(nodes);
  assertEquals(order([...nodes].reverse()), expected);
  assertEquals(order([nodes[2]!, nodes[0]!, nodes[3]!, nodes[1]!]), expected);
});

Deno.test("order() reports a cycle with the ids around it", () => {
  const nodes = [
    node("a/20260101000000_a", ["b/20260101000000_b"]),
    node("b/20260101000000_b", ["a/20260102000000_a2"]),
    node("a/20260102000000_a2"),
  ];
  const cycle = throwsWith(() => order(nodes), "MIGRATION_CYCLE").data.cycle as string[];
  assertEquals(cycle[0], cycle.at(-1));
  assertEquals(
    new Set(cycle),
    new Set(["a/20260101000000_a", "b/20260101000000_b", "a/20260102000000_a2"]),
  );
});

Deno.test("order() refuses a migration that depends on itself", () => {
  throwsWith(() => order([node("a/20260101000000_a", ["a/20260101000000_a"])]), "MIGRATION_CYCLE");
});

Deno.test("order() names an unknown dependency and who wants it", () => {
  const error = throwsWith(
    () => order([node("a/20260101000000_a", ["b/nope"])]),
    "MIGRATION_UNKNOWN_DEPENDENCY",
  );
  assertEquals(error.data, { id: "a/20260101000000_a", dependency: "b/nope" });
});

Deno.test("order() refuses duplicate ids", () => {
  throwsWith(
    () => order([node("a/20260101000000_a"), node("a/20260101000000_a")]),
    "MIGRATION_DUPLICATE",
  );
});

Deno.test("plan() lists pending migrations in order, after the applied ones", () => {
  const nodes = [
    node("a/20260101000000_a"),
    node("a/20260102000000_b"),
    node("b/20260101000000_c"),
  ];
  const result = plan(nodes, [{ id: "a/20260101000000_a", checksum: "v1:a/20260101000000_a" }]);
  assertEquals(result.applied, ["a/20260101000000_a"]);
  assertEquals(result.pending, ["b/20260101000000_c", "a/20260102000000_b"]);
  assertEquals(result.ahead, []);
  assertEquals(result.changed, []);
});

Deno.test("plan() reports ledger ids the code does not know as ahead", () => {
  const result = plan([node("a/20260101000000_a")], [
    { id: "a/20260101000000_a", checksum: "v1:a/20260101000000_a" },
    { id: "a/20270101000000_future", checksum: "v1:x", database: "main" },
  ]);
  assertEquals(result.ahead.map((r) => r.id), ["a/20270101000000_future"]);
});

Deno.test("plan() reports an applied migration whose checksum changed", () => {
  const result = plan([node("a/20260101000000_a", [], "v1:new")], [{
    id: "a/20260101000000_a",
    checksum: "v1:old",
  }]);
  assertEquals(result.changed, [{
    id: "a/20260101000000_a",
    recorded: "v1:old",
    current: "v1:new",
  }]);
});

Deno.test("plan() refuses an applied migration whose ancestor is not applied", () => {
  const nodes = [node("a/20260101000000_inserted"), node("a/20260102000000_b")];
  const applied = [{ id: "a/20260102000000_b", checksum: "v1:a/20260102000000_b" }];
  const error = throwsWith(() => plan(nodes, applied), "MIGRATION_ANCESTOR_UNAPPLIED");
  assertEquals(error.data, { id: "a/20260102000000_b", ancestor: "a/20260101000000_inserted" });
});

Deno.test("plan() with `to` keeps only that migration and its ancestors", () => {
  const nodes = [
    node("a/20260101000000_a"),
    node("a/20260102000000_b"),
    node("b/20260101000000_c", ["a/20260101000000_a"]),
  ];
  assertEquals(plan(nodes, [], { to: "b/20260101000000_c" }).pending, [
    "a/20260101000000_a",
    "b/20260101000000_c",
  ]);
  throwsWith(() => plan(nodes, [], { to: "a/nope" }), "MIGRATION_NOT_FOUND");
});

Deno.test("heads() are the migrations nothing depends on", () => {
  const nodes = [
    node("a/20260101000000_a"),
    node("a/20260102000000_b"),
    node("b/20260101000000_c", ["a/20260101000000_a"]),
    node("c/20260101000000_d", ["b/20260101000000_c"]),
  ];
  assertEquals(heads(nodes), ["a/20260102000000_b", "c/20260101000000_d"]);
});

Deno.test("order() handles thousands of migrations", () => {
  const nodes: MigrationNode[] = [];
  for (let p = 0; p < 50; p++) {
    for (let i = 0; i < 40; i++) {
      const ts = `2026${String(p).padStart(2, "0")}${String(i).padStart(8, "0")}`;
      const deps = p > 0 && i === 0 ? [nodes[nodes.length - 1]!.id] : [];
      nodes.push(node(`p${p}/${ts}_m`, deps));
    }
  }
  assertEquals(order(nodes).length, 2000);
  const closing = node("p0/20260000000000_a", [nodes.at(-1)!.id]);
  throwsWith(() => order([...nodes, closing]), "MIGRATION_CYCLE");
});
