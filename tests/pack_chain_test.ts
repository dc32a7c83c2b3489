/**
 * The release chain with packs, as a pure function over bundles built
 * inline: app bundles first, packs in dependency order, version order,
 * replay and downgrade protection per pack, requirements judged on the
 * state after the whole run, cycles refused with their chain.
 *
 * @module
 */
import type { PendingBundle } from "../lib/bundles/pending.ts";
import { releaseChain, type Scope } from "../lib/packs/chain.ts";
import type { PackState } from "../lib/packs/pack_state.ts";
import type { State } from "../lib/state.ts";
import { assertEquals, assertMatch } from "./helpers/assert.ts";

function bundle(
  file: string,
  spec: {
    version: string;
    pack?: string;
    upgradesFrom?: string;
    requires?: Record<string, string>;
  },
): PendingBundle {
  return {
    file,
    path: `/pending/${file}`,
    manifest: {
      format: 1,
      app: "shop",
      version: spec.version,
      ...(spec.pack ? { pack: spec.pack } : {}),
      ...(spec.upgradesFrom ? { upgradesFrom: spec.upgradesFrom } : {}),
      security: false,
      notes: "",
      database: [],
      requires: spec.requires ?? {},
      files: {},
      remove: [],
    },
  };
}

function pack(version: string | null, extra: Partial<PackState> = {}): PackState {
  return {
    version,
    highWater: version ?? "0.0.0",
    source: "local",
    enabled: version !== null,
    requires: {},
    history: [],
    ...extra,
  };
}

function state(packs: Record<string, PackState> = {}): State {
  return { installed: "1.3.0", highWater: "1.3.0", history: [], requires: {}, packs };
}

/** `file: ok` or `file: CODE`, in chain order. */
function judged(
  bundles: PendingBundle[],
  at: { codeVersion?: string; packs?: Record<string, PackState> } = {},
  scope?: Scope,
): string[] {
  const steps = releaseChain(bundles, {
    codeVersion: at.codeVersion ?? "1.3.0",
    state: state(at.packs),
  }, scope);
  return steps.map((s) => `${s.bundle.file}: ${s.refusal?.code ?? "ok"}`);
}

Deno.test("releaseChain() puts app bundles first, then packs after the packs they require, whatever their names", () => {
  const bundles = [
    bundle("ratings-1.1.0.zip", {
      pack: "ratings",
      version: "1.1.0",
      requires: { "pack:reviews": "^0.2" },
    }),
    bundle("reviews-0.2.0.zip", { pack: "reviews", version: "0.2.0" }),
    bundle("shop-1.4.0.zip", { version: "1.4.0" }),
  ];
  const packs = { ratings: pack("1.0.0"), reviews: pack("0.1.0") };
  assertEquals(judged(bundles, { packs }), [
    "shop-1.4.0.zip: ok",
    "reviews-0.2.0.zip: ok",
    "ratings-1.1.0.zip: ok",
  ]);
});

Deno.test("releaseChain() protects each pack from downgrades and replays; a removed pack may come back at its high-water mark", () => {
  const bundles = [
    bundle("reviews-0.1.0.zip", { pack: "reviews", version: "0.1.0" }),
    bundle("reviews-0.2.0.zip", { pack: "reviews", version: "0.2.0" }),
    bundle("reviews-0.3.0.zip", { pack: "reviews", version: "0.3.0", upgradesFrom: "^0.2.0" }),
  ];
  assertEquals(judged(bundles, { packs: { reviews: pack("0.2.0") } }), [
    "reviews-0.1.0.zip: BUNDLE_VERSION_REFUSED",
    "reviews-0.2.0.zip: BUNDLE_VERSION_REFUSED",
    "reviews-0.3.0.zip: ok",
  ]);
  const removed = { reviews: pack(null, { highWater: "0.2.0" }) };
  assertEquals(judged(bundles, { packs: removed }, { kind: "pack", name: "reviews" }), [
    "reviews-0.1.0.zip: BUNDLE_VERSION_REFUSED",
    "reviews-0.2.0.zip: ok",
    "reviews-0.3.0.zip: ok",
  ]);
  // A first install needs a bundle that installs onto nothing.
  assertEquals(judged(bundles.slice(2), {}, { kind: "pack", name: "reviews" }), [
    "reviews-0.3.0.zip: BUNDLE_NOT_APPLICABLE",
  ]);
});

Deno.test("releaseChain() leaves packs that are not installed, or disabled, to the operator; pack install takes one pack up to a version", () => {
  const bundles = [
    bundle("new-1.0.0.zip", { pack: "fresh", version: "1.0.0" }),
    bundle("off-1.1.0.zip", { pack: "off", version: "1.1.0" }),
    bundle("reviews-0.2.0.zip", { pack: "reviews", version: "0.2.0" }),
    bundle("reviews-0.3.0.zip", { pack: "reviews", version: "0.3.0" }),
  ];
  const packs = { off: pack("1.0.0", { enabled: false }), reviews: pack("0.1.0") };
  assertEquals(judged(bundles, { packs }), [
    "reviews-0.2.0.zip: ok",
    "reviews-0.3.0.zip: ok",
    "new-1.0.0.zip: PACK_NOT_INSTALLED",
    "off-1.1.0.zip: BUNDLE_NOT_APPLICABLE",
  ]);
  assertEquals(judged(bundles, { packs }, { kind: "pack", name: "fresh" }), ["new-1.0.0.zip: ok"]);
  assertEquals(judged(bundles, { packs }, { kind: "pack", name: "reviews", version: "0.2.0" }), [
    "reviews-0.2.0.zip: ok",
  ]);
});

Deno.test("releaseChain() judges requirements on the state after the whole run, refusing the newest bundle that breaks one", () => {
  const reviews = [
    bundle("reviews-0.2.0.zip", { pack: "reviews", version: "0.2.0", requires: { app: ">=1.4" } }),
    bundle("reviews-0.3.0.zip", { pack: "reviews", version: "0.3.0", requires: { app: ">=1.5" } }),
  ];
  const packs = { reviews: pack("0.1.0") };
  assertEquals(judged(reviews, { packs }), [
    "reviews-0.2.0.zip: PACK_REQUIREMENT_UNMET",
    "reviews-0.3.0.zip: PACK_REQUIREMENT_UNMET",
  ]);
  const withApp = [bundle("shop-1.4.0.zip", { version: "1.4.0" }), ...reviews];
  assertEquals(judged(withApp, { packs }), [
    "shop-1.4.0.zip: ok",
    "reviews-0.2.0.zip: ok",
    "reviews-0.3.0.zip: PACK_REQUIREMENT_UNMET",
  ]);
  // An app release that would break an installed pack waits, unless the pack moves along.
  const old = { reviews: pack("0.1.0", { requires: { app: "<2" } }) };
  const major = [bundle("shop-2.0.0.zip", { version: "2.0.0" })];
  assertEquals(judged(major, { packs: old }), ["shop-2.0.0.zip: PACK_REQUIREMENT_UNMET"]);
  const along = [
    ...major,
    bundle("reviews-1.0.0.zip", { pack: "reviews", version: "1.0.0", requires: { app: "^2" } }),
  ];
  assertEquals(judged(along, { packs: old }), ["shop-2.0.0.zip: ok", "reviews-1.0.0.zip: ok"]);
});

Deno.test("releaseChain() refuses packs that require each other in a loop, with the chain, and those that need them", () => {
  const bundles = [
    bundle("alpha-1.1.0.zip", { pack: "alpha", version: "1.1.0", requires: { "pack:beta": "^1" } }),
    bundle("beta-1.1.0.zip", { pack: "beta", version: "1.1.0", requires: { "pack:alpha": "^1" } }),
    bundle("gamma-1.1.0.zip", {
      pack: "gamma",
      version: "1.1.0",
      requires: { "pack:alpha": "^1" },
    }),
  ];
  const packs = { alpha: pack("1.0.0"), beta: pack("1.0.0"), gamma: pack("1.0.0") };
  const steps = releaseChain(bundles, { codeVersion: "1.3.0", state: state(packs) });
  assertEquals(steps.map((s) => s.refusal?.code), ["PACK_CYCLE", "PACK_CYCLE", "PACK_CYCLE"]);
  assertMatch(steps[0]!.refusal!.reason, /alpha → beta → alpha/);
  assertMatch(
    steps[2]!.refusal!.reason,
    /requires a pack on a requirement cycle \(alpha → beta → alpha\)/,
  );
});
